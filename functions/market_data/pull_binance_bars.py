"""Lambda: fetches the newest bars of the symbols subscribed to Binance (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import scheduled_function

handler = scheduled_function("pull_binance_bars")
