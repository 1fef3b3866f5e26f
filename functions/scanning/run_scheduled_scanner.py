"""Lambda: runs a scanner when its own schedule fires (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import timetabled_function

handler = timetabled_function("run_scheduled_scanner")
