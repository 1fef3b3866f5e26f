"""Lambda: a sweep's plan, blocks and finish, invoked by its state machine (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import fan_out_function

handler = fan_out_function("run_sweeps")
