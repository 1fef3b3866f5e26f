"""Lambda: runs the scanners whose schedule is due, every minute (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import scheduled_function

handler = scheduled_function("dispatch_scanners")
