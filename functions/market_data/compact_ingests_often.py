"""Lambda: the lake's compaction of every 10 minutes (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import scheduled_function

handler = scheduled_function("compact_ingests_often")
