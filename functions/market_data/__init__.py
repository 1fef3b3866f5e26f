"""Market Data functions."""
