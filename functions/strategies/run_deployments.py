"""Lambda: live deployments decide on BarsSettled (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("run_deployments")
