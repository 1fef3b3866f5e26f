"""Lambda: runs a queued backfill job, on BackfillRequested (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("run_backfills")
