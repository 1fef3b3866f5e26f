"""Lambda: the `get_trading_status` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("get_trading_status")
