"""Lambda: ingests CSV/Parquet files dropped in the raw bucket (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import dropped_file_function

handler = dropped_file_function("ingest_dropped_file")
