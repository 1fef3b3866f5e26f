"""Lambda: the `get_sweep_ranking` route (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import http_function

handler = http_function("get_sweep_ranking")
