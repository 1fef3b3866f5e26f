"""Lambda: runs a queued sweep on SweepRequested (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("run_sweeps")
