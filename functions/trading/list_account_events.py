"""Lambda: the `list_account_events` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("list_account_events")
