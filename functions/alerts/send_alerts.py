"""Lambda: sends alerted events to the alerts that want them (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("send_alerts")
