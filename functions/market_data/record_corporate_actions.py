"""Lambda: the `record_corporate_actions` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("record_corporate_actions")
