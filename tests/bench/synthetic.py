"""Synthetic market data for the benchmarks: seeded random walks, the same for every run."""

from __future__ import annotations

import numpy as np

from trading_system.strategies.engine import Bars


def random_walk_universe(symbols: int = 500, length: int = 2520, seed: int = 7) -> dict[str, Bars]:
    """`symbols` daily series of `length` bars from 2015-01-02 (calendar days), S000, S001, ..."""
    rng = np.random.default_rng(seed)
    days = np.datetime64("2015-01-02") + np.arange(length).astype("timedelta64[D]")
    ts = days.astype("datetime64[ns]").astype(np.int64)
    bars = {}
    for k in range(symbols):
        close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, length)))
        open_ = close * (1 + rng.normal(0, 0.003, length))
        high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
        bars[f"S{k:03d}"] = Bars(ts, open_, high, low, close, np.full(length, 1e6))
    return bars
