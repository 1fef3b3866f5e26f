"""Lambda: the `revoke_account_reader` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("revoke_account_reader")
