"""Lambda: the `revoke_api_key` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("revoke_api_key")
