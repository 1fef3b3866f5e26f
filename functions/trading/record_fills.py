"""Lambda: writes fills to the lake on OrderFilled (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("record_fills")
