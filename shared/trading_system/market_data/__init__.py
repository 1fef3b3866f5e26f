"""Market Data: symbols, timeframes and OHLCV bars in the Parquet lake."""
