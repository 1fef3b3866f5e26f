"""Lambda: nightly signal log compaction (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import scheduled_function

handler = scheduled_function("compact_signal_log_nightly")
