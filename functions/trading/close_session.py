"""Lambda: the scheduled close (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import scheduled_function

handler = scheduled_function("close_session")
