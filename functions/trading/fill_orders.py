"""Lambda: fills open orders on BarsIngested (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("fill_orders")
