"""Lambda: keeps symbol coverage in step with the lake, on BarsIngested (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("record_coverage")
