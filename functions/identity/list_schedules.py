"""Lambda: the `list_schedules` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("list_schedules")
