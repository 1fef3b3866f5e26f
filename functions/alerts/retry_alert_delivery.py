"""Lambda: the `retry_alert_delivery` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("retry_alert_delivery")
