"""Lambda: pauses an account's deployments on AccountHalted (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("pause_halted_account")
