"""The latest-bar snapshot of a whole universe: one row per symbol with its latest bar, the
previous bar's values, every indicator in use and the candlestick patterns. Scanners read it in
one query instead of thousands of partitions.

Pure: it works on aligned arrays (one row per symbol, the symbol's last bars right-aligned and
NaN-padded on the left) and knows nothing of where they come from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from trading_system.analytics import patterns
from trading_system.analytics.indicators import OHLCV, compute, warmup
from trading_system.analytics.specs import IndicatorSpec, parse_spec

FloatMatrix = npt.NDArray[np.float64]

DEFAULT_SPECS: tuple[IndicatorSpec, ...] = tuple(
    parse_spec(text)
    for text in (
        "sma:20",
        "sma:50",
        "sma:200",
        "ema:20",
        "rsi:14",
        "macd:12:26:9",
        "bbands:20:2",
        "atr:14",
        "sma:20:volume",
    )
)
PATTERNS = ("doji", "hammer", "bullish_engulfing", "bearish_engulfing")
MIN_HISTORY = 260  # a year of daily bars, whatever the specs
_CONVERGED = 1e-12  # recursive indicators: history after which the seed's weight is below this


@dataclass(frozen=True)
class Crossover:
    """A signal raised when `fast` crosses `slow` at the latest bar."""

    name: str
    fast: tuple[IndicatorSpec, str]
    slow: tuple[IndicatorSpec, str]


_MACD = parse_spec("macd:12:26:9")
CROSSOVERS: tuple[Crossover, ...] = (
    Crossover("sma_50_200", (parse_spec("sma:50"), "value"), (parse_spec("sma:200"), "value")),
    Crossover("macd_signal", (_MACD, "macd"), (_MACD, "signal")),
)


@dataclass(frozen=True)
class UniverseBars:
    """The last bars of many symbols, right-aligned: column -1 is each symbol's latest bar."""

    symbols: tuple[str, ...]
    ts_us: npt.NDArray[np.int64]  # 0 where padded
    open: FloatMatrix
    high: FloatMatrix
    low: FloatMatrix
    close: FloatMatrix
    volume: FloatMatrix

    @property
    def ohlcv(self) -> OHLCV:
        return OHLCV(open=self.open, high=self.high, low=self.low, close=self.close, volume=self.volume)


@dataclass(frozen=True)
class Signal:
    symbol: str
    ts_us: int
    name: str  # e.g. "sma_50_200:cross_above", "pattern:hammer"
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """Columns of equal length, one entry per symbol (a table, without a table library)."""

    columns: dict[str, npt.NDArray[np.generic]]

    def __len__(self) -> int:
        return len(self.columns["symbol"])


def history_needed(specs: Iterable[IndicatorSpec]) -> int:
    """Bars per symbol after which the latest values equal a full-history computation.

    Windowed indicators need their lookback; recursive ones (EMA, Wilder smoothing) also need
    the seed's weight to have decayed below 1e-12, which is what makes them equal.
    """
    needed = MIN_HISTORY
    for spec in specs:
        bars = warmup(spec) + 2
        periods = [p for p, integer in zip(spec.params, spec.info.integer_params, strict=True) if integer]
        if spec.name in ("ema", "macd"):
            alpha = 2 / (max(periods) + 1)
            bars += math.ceil(math.log(_CONVERGED) / math.log(1 - alpha))
        elif spec.name in ("rsi", "atr", "adx"):
            bars += math.ceil(math.log(_CONVERGED) / math.log(1 - 1 / spec.params[0]))
        needed = max(needed, bars)
    return needed


SIGNAL_BARS = 2  # what a crossover compares: the latest bar and the one before


def build(bars: UniverseBars, specs: Iterable[IndicatorSpec]) -> tuple[Snapshot, dict[str, FloatMatrix]]:
    """The snapshot, and every indicator output's last `SIGNAL_BARS` bars (for signal detection).

    Each output is computed over the whole window and only its last bars are kept: holding the
    full (symbols x window) matrix of each (13 for the default specs, 10 MB each over 5,000
    symbols and a year) made the refresh the peak of an end-of-day run's memory."""
    ohlcv = bars.ohlcv
    series: dict[str, FloatMatrix] = {}
    for spec in sorted(set(specs), key=lambda s: s.key):
        for output, values in compute(spec, ohlcv).items():
            series[spec.column(output)] = values[:, -SIGNAL_BARS:].copy()
    columns: dict[str, npt.NDArray[np.generic]] = {
        "symbol": np.array(bars.symbols, dtype=object),
        "ts_us": bars.ts_us[:, -1],
    }
    for name, values in {
        "open": bars.open,
        "high": bars.high,
        "low": bars.low,
        "close": bars.close,
        "volume": bars.volume,
        **series,
    }.items():
        columns[name] = values[:, -1]
        columns[f"prev__{name}"] = (
            values[:, -2] if values.shape[1] > 1 else np.full(len(bars.symbols), np.nan)
        )
    for name in PATTERNS:
        columns[f"pattern_{name}"] = getattr(patterns, name)(ohlcv)[:, -1]
    return Snapshot(columns), series


def detect_signals(
    bars: UniverseBars, series: dict[str, FloatMatrix], snapshot: Snapshot, touched: set[str] | None = None
) -> list[Signal]:
    """Crossovers and patterns at each touched symbol's latest bar."""
    signals: list[Signal] = []
    rows = [i for i, s in enumerate(bars.symbols) if touched is None or s in touched]
    for crossover in CROSSOVERS:
        fast = series.get(crossover.fast[0].column(crossover.fast[1]))
        slow = series.get(crossover.slow[0].column(crossover.slow[1]))
        if fast is None or slow is None:
            continue
        above = patterns.crosses_above(fast, slow)[:, -1]
        below = patterns.crosses_below(fast, slow)[:, -1]
        for i in rows:
            for hit, direction in ((above[i], "cross_above"), (below[i], "cross_below")):
                if hit:
                    values = {"fast": float(fast[i, -1]), "slow": float(slow[i, -1])}
                    signals.append(
                        Signal(
                            bars.symbols[i], int(bars.ts_us[i, -1]), f"{crossover.name}:{direction}", values
                        )
                    )
    for name in PATTERNS:
        flags = snapshot.columns[f"pattern_{name}"]
        for i in rows:
            if flags[i]:
                values = {"open": float(bars.open[i, -1]), "close": float(bars.close[i, -1])}
                signals.append(Signal(bars.symbols[i], int(bars.ts_us[i, -1]), f"pattern:{name}", values))
    return signals
