"""Technical indicators with TA-Lib's definitions, in numpy only, for one symbol or a universe.

One library serves the HTTP indicator query (one symbol, its whole history), the snapshot refresh
(every symbol of a universe at once) and strategies, so a number means the same everywhere.
TA-Lib itself is too big for the Lambda layer and loops per symbol; this module reproduces its
output (checked in tests/unit/test_indicators.py against the C library bundled in the ta-lib
0.8.2 wheel, a test-only dependency) with whole-array numpy:

* Inputs are float64 arrays of shape ``(n_bars,)`` or ``(n_symbols, n_bars)``. In a universe the
  rows share bar timestamps and a shorter history is NaN-padded on the left: each row's warm-up
  starts at its own first bar where every input the indicator reads is a number, so a row gives
  exactly what that symbol alone would give (TA-Lib's Python wrapper skips leading NaNs the same
  way). Outputs have the shape of the inputs (a 2-D output may be a transposed, Fortran-ordered
  array: the computation runs bars x symbols so that every slice along time is contiguous).
* Bars inside the warm-up are NaN: the first value sits at index ``start + warmup(spec)``, where
  ``warmup`` is TA-Lib's lookback. Nothing is made up from a partial window.
* A NaN *after* a row's first bar (a hole in its history) makes that bar and every later value of
  the row NaN, as TA-Lib's running sums and recursive filters would: close holes (forward-fill or
  drop) before calling.
* Windowed sums (SMA, WMA, Bollinger Bands) are differences of cumulative sums of deviations from
  a reference value; on long histories the sums restart in overlapping segments of a few hundred
  bars, so a million-bar history loses no precision to one huge running total. For a variance the
  segments are one window long, so the reference bar lies inside every window it serves.
  Rolling extremes (Stochastic) take shifted views for short windows and the van Herk/Gil-Werman
  block algorithm (three passes whatever the window) for long ones.
* The recursive filters (EMA, Wilder smoothing) are first-order linear recurrences
  ``y[t] = a[t] * y[t-1] + u[t]``; the seed (TA-Lib's first SMA) is injected as ``u`` at the seed
  bar. For a narrow input (one symbol, a long history) they are solved in closed form per block
  of bars (``y = q * cumsum(u / q)`` with ``q = cumprod(a)``, blocks short enough that ``q``
  cannot underflow) and the block carries are chained by a parallel prefix scan: no loop over
  bars. For a wide universe one step per bar across all symbols is cheaper than the closed form's
  extra passes over memory (measured: about 4x), so there the loop runs over bars with one numpy
  operation across every symbol per step.

Definitions that TA-Lib does not have, or where this module's arithmetic differs, are spelled out
at the function (VWAP; the variance of Bollinger Bands; the zero tests, see TA_EPSILON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trading_system.analytics.specs import INDICATORS, MAX_PERIOD, IndicatorSpec, SpecError

__all__ = [
    "OHLCV",
    "TA_EPSILON",
    "adx",
    "atr",
    "bbands",
    "compute",
    "ema",
    "macd",
    "obv",
    "rsi",
    "sma",
    "stoch",
    "vwap",
    "warmup",
    "wma",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]

# TA-Lib's scale-aware zero test (ta_utility.h, TA_IS_ZERO_SCALED, issues #107/#253): a
# difference of two prices is zero when |a - b| <= 1e-14 * (|a| + |b|), i.e. within ~90 ulp of its
# operands. The classic absolute band (|v| < 1e-8, TA-Lib 0.4) zeroed every indicator of an
# instrument quoted far below 1.0; the TA-Lib this module is checked against has none left in
# RSI, ADX or the Bollinger deviation (they test for an exact zero), only this relative one in
# STOCH.
TA_EPSILON = 1e-14

_SEGMENT = 256  # bars per segment of the windowed sums on long histories (at least the window)
_MAX_BLOCK = 512  # bars per block of the closed-form recurrences
_LOG_RANGE = 460.0  # ln(1e200): how far q = cumprod(a) may fall inside one block
_LOOP_WIDTH = 128  # from this many symbols on, recurrences step over bars across all symbols
_SHIFTED_EXTREME = 16  # rolling max/min: up to this window, shifted views beat van Herk/Gil-Werman

_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class OHLCV:
    """Bars of one symbol, shape (n_bars,), or of a universe, shape (n_symbols, n_bars).

    Every field is coerced to a float64 array; all five must have the same shape. In a universe,
    row i is symbol i and column j is the same bar timestamp for every row; shorter histories are
    NaN-padded on the left. The object caches the prepared (bars x symbols, NaN-free) inputs, so
    computing many indicators over one universe transposes and scans each field once: do not
    mutate the arrays after building it.
    """

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    _prepared: dict[tuple[tuple[str, ...], tuple[bool, ...]], _Rows] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        shape: tuple[int, ...] | None = None
        for name in _FIELDS:
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.ndim not in (1, 2):
                raise ValueError(f"OHLCV.{name} must be 1-D (bars) or 2-D (symbols x bars)")
            if shape is None:
                shape = values.shape
            elif values.shape != shape:
                raise ValueError(f"OHLCV.{name} has shape {values.shape}, expected {shape}")
            object.__setattr__(self, name, values)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.close.shape

    def series(self, source: str) -> FloatArray:
        """One field by name (an indicator's `source`)."""
        if source not in _FIELDS:
            raise ValueError(f"unknown source {source!r}; use one of {', '.join(_FIELDS)}")
        values: FloatArray = getattr(self, source)
        return values

    def rows(self, *names: str, zero_fill: Sequence[bool] | None = None) -> _Rows:
        """The named fields prepared for computing (cached per field list)."""
        zeros = tuple(zero_fill) if zero_fill is not None else tuple(False for _ in names)
        key = (names, zeros)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = _Rows.of(*(self.series(n) for n in names), zero_fill=zeros)
            self._prepared[key] = prepared
        return prepared


# --------------------------------------------------------------------------------------------
# Public API: the spec-driven entry points
# --------------------------------------------------------------------------------------------


def warmup(spec: IndicatorSpec) -> int:
    """TA-Lib's lookback: the index of the first value on a history without NaNs."""
    p = [int(v) for v in spec.params]
    match spec.name:
        case "sma" | "ema" | "wma" | "bbands":
            return p[0] - 1  # TA_SMA/EMA/WMA/BBANDS_Lookback: period - 1
        case "rsi" | "atr":
            return p[0]  # TA_RSI/ATR_Lookback: period (+ the unstable period, 0 by default)
        case "macd":
            return p[1] - 1 + p[2] - 1  # TA_MACD_Lookback: slow EMA lookback + signal EMA lookback
        case "stoch":
            return p[0] - 1 + p[1] - 1 + p[2] - 1  # fast %K + slow %K SMA + slow %D SMA lookbacks
        case "obv" | "vwap":
            return 0
        case "adx":
            return 2 * p[0] - 1  # TA_ADX_Lookback: 2 * period - 1
    raise SpecError(f"unknown indicator {spec.name!r}")


def compute(spec: IndicatorSpec, bars: OHLCV) -> dict[str, FloatArray]:
    """Every output of `spec` over `bars`, named as in `spec.info.outputs`, shaped like the bars.

    `spec` comes from `make_spec`/`parse_spec`, which already validated it.
    """
    p = [int(v) for v in spec.params]
    hlc = ("high", "low", "close")
    match spec.name:
        case "sma":
            return {"value": _sma(bars.rows(spec.source), p[0])}
        case "ema":
            return {"value": _ema(bars.rows(spec.source), p[0])}
        case "wma":
            return {"value": _wma(bars.rows(spec.source), p[0])}
        case "rsi":
            return {"value": _rsi(bars.rows(spec.source), p[0])}
        case "macd":
            line, signal, hist = _macd(bars.rows(spec.source), p[0], p[1], p[2])
            return {"macd": line, "signal": signal, "hist": hist}
        case "bbands":
            upper, middle, lower = _bbands(bars.rows(spec.source), p[0], spec.params[1])
            return {"upper": upper, "middle": middle, "lower": lower}
        case "atr":
            return {"value": _atr(bars.rows(*hlc), p[0])}
        case "stoch":
            k, d = _stoch(bars.rows(*hlc), p[0], p[1], p[2])
            return {"k": k, "d": d}
        case "obv":
            return {"value": _obv(bars.rows("close", "volume", zero_fill=(False, True)))}
        case "vwap":
            zeros = (False, False, False, True)
            return {"value": _vwap(bars.rows(*hlc, "volume", zero_fill=zeros))}
        case "adx":
            return {"value": _adx(bars.rows(*hlc), p[0])}
    raise SpecError(f"unknown indicator {spec.name!r}")


# --------------------------------------------------------------------------------------------
# Public API: one function per indicator, on arrays of shape (n,) or (n_symbols, n)
# --------------------------------------------------------------------------------------------


def sma(values: npt.ArrayLike, period: int = 30) -> FloatArray:
    """Simple moving average (TA_SMA): mean of the last `period` values; lookback period - 1."""
    _check("sma", "period", period)
    return _sma(_Rows.of(values), period)


def ema(values: npt.ArrayLike, period: int = 30) -> FloatArray:
    """Exponential moving average (TA_EMA, default compatibility), lookback period - 1.

    k = 2 / (period + 1). TA-Lib seeds the EMA with the SMA of the first `period` values, placed
    at bar period - 1, then y[t] = y[t-1] + k * (x[t] - y[t-1]).
    """
    _check("ema", "period", period)
    return _ema(_Rows.of(values), period)


def wma(values: npt.ArrayLike, period: int = 30) -> FloatArray:
    """Linearly weighted moving average (TA_WMA), lookback period - 1.

    Weights 1..period, the latest bar weighing most, divided by period * (period + 1) / 2.
    """
    _check("wma", "period", period)
    return _wma(_Rows.of(values), period)


def rsi(values: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Relative strength index (TA_RSI, default compatibility), lookback `period`.

    Wilder's averages as TA-Lib seeds them: the first average gain/loss is the plain mean of the
    first `period` changes (bars 1..period), then avg = (avg * (period - 1) + change) / period.
    RSI = 100 * gain / (gain + loss), and 0 when both averages are 0 (a flat series), as TA-Lib.
    """
    _check("rsi", "period", period)
    return _rsi(_Rows.of(values), period)


def macd(
    values: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram exactly as TA_MACD computes them.

    TA-Lib starts both EMAs at the slow one's seed bar (slow - 1): the slow EMA is seeded with the
    SMA of bars 0..slow-1 and the fast EMA with the SMA of bars slow-fast..slow-1 (not of bars
    0..fast-1, as a separate EMA would be). The signal is the EMA of the MACD line seeded with the
    SMA of its first `signal` values. All three outputs start at bar slow + signal - 2
    (TA_MACD_Lookback), as in TA-Lib: the MACD line exists earlier but is not shown before the
    signal does.
    """
    _check("macd", "fast", fast)
    _check("macd", "slow", slow)
    _check("macd", "signal", signal)
    if fast >= slow:
        raise ValueError("macd fast period must be shorter than the slow period")
    return _macd(_Rows.of(values), fast, slow, signal)


def bbands(
    values: npt.ArrayLike, period: int = 20, k: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger Bands as TA_BBANDS with its default MA type (SMA): upper, middle, lower.

    middle = SMA(period); upper/lower = middle +/- k * the population standard deviation of the
    same window (TA-Lib's nbdevup = nbdevdn = k); lookback period - 1. The variance is
    mean(d^2) - mean(d)^2 of the deviations d from a reference bar that lies inside the window,
    so |d| never exceeds the window's own range: no cancellation against the price level, and a
    flat window gives exactly 0. (TA-Lib 0.4 took mean(x^2) - SMA^2 of raw prices and zeroed any
    variance below 1e-8; the TA-Lib this is checked against is exact down to tiny variances, and
    so is this.)
    """
    _check("bbands", "period", period)
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"bbands k must be a positive number, got {k}")
    return _bbands(_Rows.of(values), period, k)


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Average true range (TA_ATR), lookback `period`.

    True range (TA_TRANGE) from bar 1: max(high - low, |high - prev close|, |low - prev close|).
    The first ATR, at bar `period`, is the plain mean of true ranges 1..period; then Wilder:
    atr = (atr * (period - 1) + tr) / period. Period 1 is the true range itself, as in TA-Lib.
    """
    _check("atr", "period", period)
    return _atr(_Rows.of(high, low, close), period)


def stoch(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    fastk: int = 5,
    slowk: int = 3,
    slowd: int = 3,
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic (TA_STOCH with SMA smoothing of %K and %D): slow %K, slow %D.

    fast %K = (close - lowest low) / (highest high - lowest low) * 100 over `fastk` bars, and 0
    when the range is 0 within rounding, |highest - lowest| <= 1e-14 * (|highest| + |lowest|)
    (TA-Lib's TA_IS_ZERO_SCALED guard); slow %K = SMA(fast %K, slowk); slow %D =
    SMA(slow %K, slowd). Both outputs start at bar fastk + slowk + slowd - 3, as in TA-Lib.
    """
    _check("stoch", "fastk", fastk)
    _check("stoch", "slowk", slowk)
    _check("stoch", "slowd", slowd)
    return _stoch(_Rows.of(high, low, close), fastk, slowk, slowd)


def obv(close: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
    """On-balance volume (TA_OBV), lookback 0.

    TA-Lib starts at the first bar's volume (not at 0), then adds the volume of a bar that closes
    higher than the previous bar and subtracts it for a lower close; an unchanged close adds 0.
    """
    return _obv(_Rows.of(close, volume, zero_fill=(False, True)))


def vwap(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
    """Cumulative volume-weighted average price of the typical price; lookback 0. Not in TA-Lib.

    vwap[t] = sum(tp[i] * volume[i]) / sum(volume[i]) over i from the row's first bar to t, with
    tp = (high + low + close) / 3 (TA-Lib's TYPPRICE). It is anchored at the first bar given, so
    pass one session's bars for an intraday (session) VWAP. While the cumulative volume is still
    0 it is NaN.
    """
    return _vwap(_Rows.of(high, low, close, volume, zero_fill=(False, False, False, True)))


def adx(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Average directional index (TA_ADX, default compatibility), lookback 2 * period - 1.

    As ta_ADX.c does it: from bar 1, +DM = up move if up > 0 and up > down, -DM = down move if
    down > 0 and down > up (else 0), TR = true range. Their Wilder sums start as the plain sum of
    bars 1..period-1, then sum = sum - sum / period + value from bar `period` on, where
    +DI = 100 * +DM / TR, -DI likewise, and DX = 100 * |+DI - -DI| / (+DI + -DI). DX is undefined
    when the TR sum or +DI + -DI is 0 (flat bars; bars whose up and down moves are equal). The
    first ADX (bar 2 * period - 1) is
    the sum of the first `period` DX values, undefined ones counting 0, divided by period; then
    adx = (adx * (period - 1) + dx) / period, and an undefined DX leaves the ADX unchanged.
    """
    _check("adx", "period", period)
    return _adx(_Rows.of(high, low, close), period)


# --------------------------------------------------------------------------------------------
# The indicators, on prepared inputs (bars x symbols)
# --------------------------------------------------------------------------------------------


def _sma(rows: _Rows, period: int) -> FloatArray:
    (x,) = rows.filled
    mean, _ = _window_mean(x, period)
    return rows.finish(mean, rows.start + period - 1)


def _ema(rows: _Rows, period: int) -> FloatArray:
    (x,) = rows.filled
    seed_at = rows.start + period - 1
    return rows.finish(_ema_from(x, seed_at, _mean_ending_at(x, seed_at, period), period), seed_at)


def _wma(rows: _Rows, period: int) -> FloatArray:
    (x,) = rows.filled
    if x.shape[0] < period:
        return rows.finish(np.zeros_like(x), rows.start + period - 1)  # no full window: all NaN
    seg = _Segments.of(x, period)
    # sum_{j=0}^{p-1} (j + 1) * d[e-p+j] = p * cs[e] - (cc[e] - cc[e-p]), where cs and cc are the
    # cumulative sums of d and of cs, each with a leading 0, and e is the window's end bar + 1.
    cs = _cumsum0(seg.dev, axis=1)
    cc = _cumsum0(cs, axis=1)
    m = seg.dev.shape[1]
    weighted = period * cs[:, period:] - (cc[:, period : m + 1] - cc[:, : m + 1 - period])
    out = seg.place(weighted / (period * (period + 1) / 2), add_ref=True)
    return rows.finish(out, rows.start + period - 1)


def _rsi(rows: _Rows, period: int) -> FloatArray:
    (x,) = rows.filled
    change = _diff(x)
    gain = np.maximum(change, 0.0)
    loss = gain - change  # exactly max(-change, 0)
    seed_at = rows.start + period
    a = (period - 1) / period
    avg_gain = _seeded(gain / period, seed_at, _mean_ending_at(gain, seed_at, period), a)
    avg_loss = _seeded(loss / period, seed_at, _mean_ending_at(loss, seed_at, period), a)
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(avg_gain, total, out=avg_gain)
    out *= 100.0
    out[total == 0.0] = 0.0  # nothing moved: TA-Lib answers 0
    return rows.finish(out, seed_at)


def _macd(rows: _Rows, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    (x,) = rows.filled
    seed_at = rows.start + slow - 1
    slow_ema = _ema_from(x, seed_at, _mean_ending_at(x, seed_at, slow), slow)
    fast_ema = _ema_from(x, seed_at, _mean_ending_at(x, seed_at, fast), fast)
    line = fast_ema - slow_ema
    signal_at = seed_at + signal - 1
    signal_line = _ema_from(line, signal_at, _mean_ending_at(line, signal_at, signal), signal)
    hist = line - signal_line
    return (
        rows.finish(line, signal_at),
        rows.finish(signal_line, signal_at),
        rows.finish(hist, signal_at),
    )


def _bbands(rows: _Rows, period: int, k: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    (x,) = rows.filled
    mean, var = _window_mean(x, period, variance=True)
    assert var is not None
    deviation = k * np.sqrt(np.maximum(var, 0.0))  # rounding may leave -0.0-ish residue
    first = rows.start + period - 1
    return (
        rows.finish(mean + deviation, first),
        rows.finish(mean, first),
        rows.finish(mean - deviation, first),
    )


def _atr(rows: _Rows, period: int) -> FloatArray:
    h, lo, c = rows.filled
    tr = _true_range(h, lo, c)
    seed_at = rows.start + period
    out = _seeded(tr / period, seed_at, _mean_ending_at(tr, seed_at, period), (period - 1) / period)
    return rows.finish(out, seed_at)


def _stoch(rows: _Rows, fastk: int, slowk: int, slowd: int) -> tuple[FloatArray, FloatArray]:
    h, lo, c = rows.filled
    highest = _rolling_extreme(h, fastk, largest=True)
    lowest = _rolling_extreme(lo, fastk, largest=False)
    span = highest - lowest
    flat = np.abs(span) <= TA_EPSILON * (np.abs(highest) + np.abs(lowest))
    with np.errstate(divide="ignore", invalid="ignore"):
        fast_k = np.where(flat, 0.0, (c - lowest) / span * 100.0)  # ta_STOCH.c's order of operations
    slow_k, _ = _window_mean(fast_k, slowk)
    slow_d, _ = _window_mean(slow_k, slowd)
    first = rows.start + fastk + slowk + slowd - 3
    return rows.finish(slow_k, first), rows.finish(slow_d, first)


def _obv(rows: _Rows) -> FloatArray:
    c, v = rows.filled
    signed = np.sign(_diff(c)) * v
    _put(signed, rows.start, v)  # the first bar contributes its whole volume
    return rows.finish(np.cumsum(signed, axis=0), rows.start)


def _vwap(rows: _Rows) -> FloatArray:
    h, lo, c, v = rows.filled
    typical = (h + lo + c) / 3.0
    traded = np.cumsum(v, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(traded > 0.0, np.cumsum(typical * v, axis=0) / traded, np.nan)
    return rows.finish(out, rows.start)


def _adx(rows: _Rows, period: int) -> FloatArray:
    h, lo, c = rows.filled
    up = _diff(h)
    down = -_diff(lo)
    minus_dm = np.where((down > 0) & (up < down), down, 0.0)
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    tr = _true_range(h, lo, c)
    sums_at = rows.start + period - 1  # the sums of bars 1..period-1 sit at bar period - 1
    a = (period - 1) / period

    def wilder_sum(x: FloatArray) -> FloatArray:
        return _seeded(x, sums_at, _sum_ending_at(x, sums_at, period - 1), a)

    tr_sum, plus_sum, minus_sum = wilder_sum(tr), wilder_sum(plus_dm), wilder_sum(minus_dm)
    with np.errstate(divide="ignore", invalid="ignore"):
        minus_di = 100.0 * (minus_sum / tr_sum)
        plus_di = 100.0 * (plus_sum / tr_sum)
        di_total = minus_di + plus_di
        defined = (tr_sum != 0.0) & (di_total != 0.0)
        dx = np.where(defined, 100.0 * (np.abs(minus_di - plus_di) / di_total), 0.0)
    # DX exists from bar `period`; the first ADX is the mean of `period` of them.
    adx_at = rows.start + 2 * period - 1
    first = _mean_ending_at(dx, adx_at, period)
    coefficient = np.where(defined, a, 1.0)  # an undefined DX holds the previous ADX
    return rows.finish(_seeded(dx / period, adx_at, first, coefficient, a_min=a), adx_at)


# --------------------------------------------------------------------------------------------
# Prepared inputs: 1-D/2-D handling, left padding, holes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """The inputs of one indicator as bars x symbols arrays with no NaN, and where each row starts.

    `filled` replaces every NaN by the row's first valid value (or 0 for volumes, so that padding
    adds nothing to cumulative sums); `finish` puts the NaNs back: before each row's first output
    and from its first hole on, and returns the caller's layout.
    """

    filled: tuple[FloatArray, ...]  # (n_bars, n_symbols), C-contiguous
    start: IndexArray  # per symbol: first bar where every input is a number (n_bars if none)
    broken: BoolArray | None  # per bar and symbol: at or after a hole in the symbol's history
    one_d: bool

    @classmethod
    def of(cls, *series: npt.ArrayLike, zero_fill: Sequence[bool] | None = None) -> _Rows:
        arrays = [np.asarray(s, dtype=np.float64) for s in series]
        shape = arrays[0].shape
        if arrays[0].ndim not in (1, 2) or any(a.shape != shape for a in arrays):
            raise ValueError("indicator inputs must share one shape, (n_bars,) or (n_symbols, n_bars)")
        one_d = arrays[0].ndim == 1
        mats = [a.reshape(-1, 1) if one_d else np.ascontiguousarray(a.T) for a in arrays]
        n, width = mats[0].shape
        missing = np.isnan(mats[0])
        for m in mats[1:]:
            missing |= np.isnan(m)
        if n == 0 or not missing.any():
            return cls(tuple(mats), np.zeros(width, dtype=np.intp), None, one_d)
        present = ~missing
        start = np.where(present.any(axis=0), present.argmax(axis=0), n).astype(np.intp)
        first = np.minimum(start, n - 1)
        filled = []
        for m, zero in zip(mats, zero_fill or [False] * len(mats), strict=True):
            fill = np.zeros(width) if zero else m[first, np.arange(width)]
            fill = np.where(np.isnan(fill), 0.0, fill)
            filled.append(np.where(missing, fill, m))
        hole = missing & (np.arange(n)[:, None] >= start)
        broken = np.logical_or.accumulate(hole, axis=0) if hole.any() else None
        return cls(tuple(filled), start, broken, one_d)

    def finish(self, out: FloatArray, first: IndexArray) -> FloatArray:
        """`out` with NaN before each symbol's `first` output bar and from any hole on, in the
        caller's layout: (n_bars,) or (n_symbols, n_bars)."""
        if any(np.may_share_memory(out, f) for f in self.filled):
            out = out.copy()  # never hand out (or write into) a view of the caller's input
        n = out.shape[0]
        if first.size and (first == first[0]).all():
            out[: min(int(first[0]), n)] = np.nan
        elif first.size:
            out[np.arange(n)[:, None] < first] = np.nan
        if self.broken is not None:
            out[self.broken] = np.nan
        return self.layout(out)

    def defined(self, first: IndexArray) -> BoolArray:
        """(bars, symbols): True from each symbol's `first` output bar on, until any hole."""
        ok: BoolArray = np.arange(self.filled[0].shape[0])[:, None] >= first
        if self.broken is not None:
            ok &= ~self.broken
        return ok

    def layout(self, out: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A (bars, symbols) result in the caller's layout: (n_bars,) or (n_symbols, n_bars)."""
        return out[:, 0] if self.one_d else out.T


def _check(name: str, param: str, value: int) -> None:
    """Validate a period of a direct call by the catalog's rules (a spec is already valid)."""
    info = INDICATORS[name]
    low = int(info.minimums[info.params.index(param)])
    if isinstance(value, bool) or int(value) != value or not low <= value <= MAX_PERIOD:
        raise ValueError(f"{name} {param} must be a whole number from {low} to {MAX_PERIOD}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Building blocks on (n_bars, n_symbols) arrays (also used by patterns.py)
# --------------------------------------------------------------------------------------------


def _diff(x: FloatArray) -> FloatArray:
    """x[t] - x[t-1], and 0 at bar 0."""
    out = np.empty_like(x)
    out[:1] = 0.0
    np.subtract(x[1:], x[:-1], out=out[1:])
    return out


def _true_range(h: FloatArray, lo: FloatArray, c: FloatArray) -> FloatArray:
    """TA_TRANGE: max(high - low, |high - prev close|, |low - prev close|), meaningful from bar 1."""
    prev = np.empty_like(c)
    prev[1:] = c[:-1]
    prev[:1] = c[:1]
    return np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))


def _put(x: FloatArray, at: IndexArray, values: FloatArray) -> None:
    """x[at[s], s] = values[s] (per symbol) or values[at[s], s] (an array like x), where at[s] < n."""
    cols = np.flatnonzero(at < x.shape[0])
    rows = at[cols]
    x[rows, cols] = values[rows, cols] if values.ndim == 2 else values[cols]


def _sum_ending_at(x: FloatArray, end: IndexArray, count: int) -> FloatArray:
    """Per symbol, x[end-count+1 .. end] summed in bar order, like TA-Lib's seed loops (junk
    where end is past the last bar: those symbols have no output)."""
    n, width = x.shape
    if count <= 0 or n == 0 or width == 0:
        return np.zeros(width)
    if (end == end[0]).all() and count - 1 <= end[0] < n:
        total: FloatArray = x[end[0] - count + 1 : end[0] + 1].sum(axis=0)
        return total
    idx = np.clip(end - count + 1 + np.arange(count)[:, None], 0, n - 1)
    gathered: FloatArray = np.take_along_axis(x, idx, axis=0).sum(axis=0)
    return gathered


def _mean_ending_at(x: FloatArray, end: IndexArray, count: int) -> FloatArray:
    """Per symbol, the mean of x[end-count+1 .. end]: TA-Lib's SMA seeds."""
    return _sum_ending_at(x, end, count) / count


def _cumsum0(x: FloatArray, axis: int) -> FloatArray:
    """Cumulative sum along `axis` with a leading 0: out[j] = sum(x[:j])."""
    shape = list(x.shape)
    shape[axis] += 1
    out = np.zeros(shape)
    body = [slice(None)] * x.ndim
    body[axis] = slice(1, None)
    np.cumsum(x, axis=axis, out=out[tuple(body)])
    return out


@dataclass(frozen=True)
class _Segments:
    """Deviations of a series from a nearby reference value, cut so every window lies in one piece.

    A short history is one segment whose reference is each symbol's first value. A long one is cut
    into blocks of b >= window bars, each read as a segment of 2b bars (the block before it and
    itself) with the reference taken at its own first bar: every window ending in a block lies in
    its segment, and running sums restart per segment, so their size, and rounding error, stays
    bounded whatever the length of the history (TA-Lib's running totals are short: it keeps a
    sum of the window, not of the history).
    """

    dev: FloatArray  # (segments, bars, symbols)
    ref: FloatArray  # (segments, 1, symbols)
    n: int
    window: int
    block: int  # 0 for a single segment

    @classmethod
    def of(cls, x: FloatArray, window: int, local: bool = False) -> _Segments:
        """`local`: blocks of exactly `window` bars, so a segment's reference bar (the first bar
        of its block) lies inside every window the segment serves (for variances)."""
        n, width = x.shape
        block = window if local else max(window, _SEGMENT)
        if n == 0 or (n <= 2 * block and not local):
            ref = x[:1][None] if n else np.zeros((1, 1, width))
            return cls((x - x[:1])[None], ref, n, window, 0)
        blocks = -(-n // block)
        padded = np.empty(((blocks + 1) * block, width))
        padded[:block] = x[:1]
        padded[block : block + n] = x
        padded[block + n :] = x[-1:]
        shaped = padded.reshape(blocks + 1, block, width)
        ref = shaped[1:, :1].copy()  # each block's first bar
        dev = np.empty((blocks, 2 * block, width))
        np.subtract(shaped[:-1], ref, out=dev[:, :block])  # the block before
        np.subtract(shaped[1:], ref, out=dev[:, block:])  # the block itself
        return cls(dev, ref, n, window, block)

    def window_sums(self, values: FloatArray) -> FloatArray:
        """Sums of `values` (shaped like `dev`) over each window ending at bars window-1.. of a segment."""
        w = self.window
        cs = np.cumsum(values, axis=1)
        out = np.empty((cs.shape[0], max(cs.shape[1] - w + 1, 0), cs.shape[2]))
        if out.shape[1]:
            out[:, 0] = cs[:, w - 1]
            np.subtract(cs[:, w:], cs[:, : cs.shape[1] - w], out=out[:, 1:])
        return out

    def place(self, per_window: FloatArray, add_ref: bool) -> FloatArray:
        """Per-window values (windows ending at bars window-1.. of each segment) as (bars, symbols),
        with the reference added back if asked; junk (0 or the reference) before bar window - 1."""
        width = self.dev.shape[2]
        if self.block == 0:
            out = np.zeros((self.n, width))
            if self.n >= self.window:
                out[self.window - 1 :] = per_window[0]
            if add_ref:
                out += self.ref[0]
            return out
        ends = per_window[:, self.block + 1 - self.window :]  # windows ending in the second half
        if add_ref:
            ends = ends + self.ref
        return ends.reshape(-1, width)[: self.n]


def _window_mean(x: FloatArray, window: int, variance: bool = False) -> tuple[FloatArray, FloatArray | None]:
    """Mean (and population variance) of x[t-window+1 .. t] for every bar t >= window - 1.

    The variance is mean(d^2) - mean(d)^2 of the deviations d from a reference bar inside the
    window (local segments): |d| is bounded by the window's range, so the subtraction loses no
    more than a few ulps of the variance itself.
    """
    seg = _Segments.of(x, window, local=variance)
    shift = seg.window_sums(seg.dev) / window
    mean = seg.place(shift, add_ref=True)
    if not variance:
        return mean, None
    var = seg.window_sums(seg.dev * seg.dev) / window - shift * shift
    return mean, seg.place(var, add_ref=False)


def _rolling_extreme(x: FloatArray, window: int, largest: bool) -> FloatArray:
    """Rolling max (or min) of x[t-window+1 .. t] for every bar t >= window - 1 (junk before).

    A short window takes the extreme of `window` shifted views (window - 1 whole-array passes);
    a long one uses van Herk/Gil-Werman: within blocks of `window` bars take prefix and suffix
    extremes, and a window starting inside block k and ending inside block k + 1 is
    op(suffix at its start, prefix at its end): three passes whatever the window.
    """
    n, width = x.shape
    ufunc = np.maximum if largest else np.minimum
    out = x.copy()
    if window == 1 or n < window:
        return out
    if window <= _SHIFTED_EXTREME:
        body = out[window - 1 :]
        for lag in range(1, window):
            ufunc(body, x[window - 1 - lag : n - lag], out=body)
        return out
    blocks = -(-n // window)
    padded = np.empty((blocks * window, width))
    padded[:n] = x
    padded[n:] = x[-1:]
    shaped = padded.reshape(blocks, window, width)
    prefix = ufunc.accumulate(shaped, axis=1).reshape(-1, width)
    suffix = ufunc.accumulate(shaped[:, ::-1], axis=1)[:, ::-1].reshape(-1, width)
    ufunc(suffix[: n - window + 1], prefix[window - 1 : n], out=out[window - 1 :])
    return out


# --------------------------------------------------------------------------------------------
# Recursive filters: y[t] = a[t] * y[t-1] + u[t]
# --------------------------------------------------------------------------------------------


def _ema_from(x: FloatArray, seed_at: IndexArray, seed: FloatArray, period: int) -> FloatArray:
    """TA-Lib's EMA recursion from a seed value at bar `seed_at`: k = 2 / (period + 1)."""
    k = 2.0 / (period + 1)
    return _seeded(k * x, seed_at, seed, 1.0 - k)


def _seeded(
    u: FloatArray,
    seed_at: IndexArray,
    seed: FloatArray,
    a: float | FloatArray,
    a_min: float | None = None,
) -> FloatArray:
    """y[seed_at] = seed, then y[t] = a * y[t-1] + u[t] (0 before the seed: the caller masks it).

    Consumes `u`: callers pass a fresh array (`k * x`, `gain / period`...), which becomes y.
    """
    n = u.shape[0]
    if seed_at.size and (seed_at == seed_at[0]).all():
        drive = u
        drive[: min(int(seed_at[0]) + 1, n)] = 0.0
    else:
        drive = np.where(np.arange(n)[:, None] > seed_at, u, 0.0)
    _put(drive, seed_at, seed)
    first = int(seed_at.min()) if seed_at.size else n
    return _recurrence(drive, a, a if a_min is None else a_min, first)


def _recurrence(
    u: FloatArray, a: float | FloatArray, a_min: float | FloatArray, first: int = 0
) -> FloatArray:
    """Solve y[t] = a[t] * y[t-1] + u[t] along the bars (axis 0), y[-1] = 0, overwriting `u`.

    `a` is a scalar (EMA, Wilder) or one value per bar and symbol (ADX holds on an undefined DX),
    every a[t] in [a_min, 1]; u is 0 before bar `first`. Wide inputs step over bars with one
    numpy operation across all symbols; narrow ones use the blocked closed form.
    """
    n, width = u.shape
    low = float(np.min(a_min))
    if n == 0 or low <= 0.0:
        return u  # a == 0: no memory (an EMA of period 1)
    if width >= _LOOP_WIDTH:
        return _recurrence_steps(u, a, first)
    return _recurrence_blocked(u, a, low)


def _recurrence_steps(u: FloatArray, a: float | FloatArray, first: int) -> FloatArray:
    """One step per bar, each across every symbol at once (the recursion TA-Lib runs per symbol)."""
    tmp = np.empty(u.shape[1])
    if isinstance(a, np.ndarray):
        for t in range(max(first, 0) + 1, u.shape[0]):
            np.multiply(u[t - 1], a[t], out=tmp)
            np.add(u[t], tmp, out=u[t])
    else:
        for t in range(max(first, 0) + 1, u.shape[0]):
            np.multiply(u[t - 1], a, out=tmp)
            np.add(u[t], tmp, out=u[t])
    return u


def _recurrence_blocked(u: FloatArray, a: float | FloatArray, a_min: float) -> FloatArray:
    """The closed form per block: y[j] = q[j] * cumsum(u / q)[j], q[j] = a[0] * ... * a[j].

    These are the sums the recursion forms, term for term, so rounding is no worse than TA-Lib's
    loop. Blocks are short enough that q stays above 1e-200 (no underflow in u / q); each block's
    end value carries into the next through the prefix scan `_carry`.
    """
    n, width = u.shape
    block = int(min(n, _MAX_BLOCK, max(1.0, _LOG_RANGE / -math.log(a_min)) if a_min < 1.0 else _MAX_BLOCK))
    blocks = -(-n // block)
    pad = blocks * block - n
    ub = (np.pad(u, ((0, pad), (0, 0))) if pad else u).reshape(blocks, block, width)
    q: FloatArray
    y: FloatArray
    if isinstance(a, np.ndarray):
        ab = np.pad(a, ((0, pad), (0, 0)), constant_values=1.0) if pad else a
        q = np.cumprod(ab.reshape(blocks, block, width), axis=1, dtype=np.float64)
        y = np.cumsum(ub / q, axis=1)
        ends = q[:, -1].copy()
    else:
        steps = np.arange(1.0, block + 1.0)[:, None]
        q = a**steps
        y = np.cumsum(ub * a ** (-steps), axis=1)
        ends = np.full((blocks, width), q[-1, 0])
    y *= q
    if blocks > 1:
        carry = _carry(ends, y[:, -1].copy())
        y[1:] += (q[1:] if q.ndim == 3 else q) * carry[:-1, None, :]
    return y.reshape(blocks * block, width)[:n]


def _carry(a: FloatArray, b: FloatArray) -> FloatArray:
    """e[k] = a[k] * e[k-1] + b[k], e[-1] = 0, along axis 0 by a Hillis-Steele prefix scan:
    log2(blocks) whole-array steps composing (a, b) pairs; products only, so it is stable."""
    d = 1
    while d < a.shape[0]:
        b[d:] = b[d:] + a[d:] * b[:-d]
        a[d:] = a[d:] * a[:-d]
        d *= 2
    return b
