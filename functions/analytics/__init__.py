"""Analytics functions."""
