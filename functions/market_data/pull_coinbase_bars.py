"""Lambda: fetches the newest bars of the symbols subscribed to Coinbase (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import scheduled_function

handler = scheduled_function("pull_coinbase_bars")
