"""Lambda: the alerts' retry schedule, while deliveries wait (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import timetabled_function

handler = timetabled_function("retry_alert_deliveries")
