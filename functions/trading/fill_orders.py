"""Lambda: fills open orders on BarsIngested (see functions/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("fill_orders")
