"""Lambda: refreshes the indicator snapshot on BarsIngested (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import event_function

handler = event_function("refresh_snapshots")
