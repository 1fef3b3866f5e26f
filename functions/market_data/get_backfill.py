"""Lambda: the `get_backfill` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("get_backfill")
