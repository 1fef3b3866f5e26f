"""Trading functions."""
