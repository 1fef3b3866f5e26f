"""Strategies: strategy code, backtests, sweeps and live deployments."""
