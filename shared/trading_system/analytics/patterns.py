"""Candlestick patterns with TA-Lib's definitions, and crossovers; numpy only, whole arrays.

Shapes and padding work as in `indicators`: bars of one symbol (n_bars,) or of a universe
(n_symbols, n_bars) with shorter histories NaN-padded on the left; each result has the shape of
the bars. A pattern is False wherever it is undetermined: inside its lookback (counted from the
symbol's first complete bar), on a bar with a NaN, and from a hole in the history on.

The candlestick patterns reproduce TA-Lib's CDLDOJI, CDLHAMMER and CDLENGULFING exactly
(tests/unit/test_patterns.py compares them), including TA-Lib's adaptive thresholds: a candle
part is compared with the average of the same part over the preceding candles, with TA-Lib's
default candle settings (ta_global.c, TA_CandleDefaultSettings):

    BodyDoji         real body compared with 0.1 x the mean high-low range of the 10 candles before
    BodyShort        real body compared with 1.0 x the mean real body of the 10 candles before
    ShadowLong       a shadow compared with 1.0 x the candle's own real body
    ShadowVeryShort  a shadow compared with 0.1 x the mean high-low range of the 10 candles before
    Near             0.2 x the mean high-low range of the 5 candles before the reference candle

A candle is white (bullish) when close >= open, black otherwise (TA_CANDLECOLOR).

The averages are kept as TA-Lib keeps them, not as a fresh mean: a running total seeded with the
sequential sum of the first candles and then moved by `total += part[new] - part[old]` once per
bar. `np.cumsum` performs exactly those additions in that order, so the totals are bit for bit
TA-Lib's and prices rounded to cents, where a body often equals the average up to the last bit,
are classified exactly as TA-Lib classifies them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trading_system.analytics.indicators import OHLCV, BoolArray, FloatArray, IndexArray, _Rows

__all__ = [
    "LOOKBACK",
    "PATTERNS",
    "bearish_engulfing",
    "bullish_engulfing",
    "crosses_above",
    "crosses_below",
    "doji",
    "engulfing",
    "hammer",
]

IntArray = npt.NDArray[np.int32]

PATTERNS = ("doji", "hammer", "bullish_engulfing", "bearish_engulfing")

# TA-Lib's lookbacks (TA_CDL*_Lookback): the first bar, after a symbol's first complete bar,
# where the pattern can be true. CDLENGULFING reports 2 although it only reads one prior candle.
LOOKBACK = {"doji": 10, "hammer": 11, "engulfing": 2, "bullish_engulfing": 2, "bearish_engulfing": 2}

_OHLC = ("open", "high", "low", "close")


def doji(bars: OHLCV) -> BoolArray:
    """TA-Lib's CDLDOJI: real body <= 0.1 x the average high-low range of the 10 previous candles.

    TA-Lib outputs 100 for such a candle; this returns True. Lookback 10.
    """
    rows = bars.rows(*_OHLC)
    o, h, lo, c = rows.filled
    first = rows.start + LOOKBACK["doji"]
    range_total = _running_total(h - lo, first, 10, 1)  # candles t-10 .. t-1
    flags = np.abs(c - o) <= 0.1 * (range_total / 10)
    return _finish(rows, flags, first)


def hammer(bars: OHLCV) -> BoolArray:
    """TA-Lib's CDLHAMMER (True where it outputs 100), lookback 11. All four must hold:

    * small real body: body < the average real body of the 10 previous candles (BodyShort);
    * long lower shadow: lower shadow > the candle's own real body (ShadowLong);
    * no or a very short upper shadow: upper shadow < 0.1 x the average high-low range of the
      10 previous candles (ShadowVeryShort);
    * the body is near the prior candle's low: min(open, close) <= prior low + 0.2 x the average
      high-low range of the 5 candles before the prior one (Near, measured at the prior candle).

    Like TA-Lib it does not look at the trend: a hammer means more after a decline.
    """
    rows = bars.rows(*_OHLC)
    o, h, lo, c = rows.filled
    first = rows.start + LOOKBACK["hammer"]
    body = np.abs(c - o)
    top = np.maximum(o, c)
    bottom = np.minimum(o, c)
    hl = h - lo
    body_total = _running_total(body, first, 10, 1)  # candles t-10 .. t-1
    range_total = _running_total(hl, first, 10, 1)
    near_total = _running_total(hl, first, 5, 2)  # candles t-6 .. t-2: Near measured at t-1
    flags = (
        (body < 1.0 * (body_total / 10))
        & (bottom - lo > 1.0 * body)
        & (h - top < 0.1 * (range_total / 10))
        & (bottom <= _before(lo, 1) + 0.2 * (near_total / 5))
    )
    return _finish(rows, flags, first)


def engulfing(bars: OHLCV) -> IntArray:
    """TA-Lib's CDLENGULFING, value for value: +100 / -100 for a bullish / bearish engulfing,
    +80 / -80 when one end of the bodies is equal, 0 otherwise; lookback 2.

    Bullish: a white candle after a black one whose body engulfs the prior body, i.e.
    close >= prior open and open < prior close, or close > prior open and open <= prior close.
    Bearish mirrors it: a black candle after a white one with open >= prior close and close <
    prior open, or open > prior close and close <= prior open. The value is 80 rather than 100
    when open == prior close or close == prior open. Bodies of equal extent do not engulf.
    """
    rows = bars.rows(*_OHLC)
    o, _, _, c = rows.filled
    po, pc = _before(o, 1), _before(c, 1)
    white = c >= o
    prior_white = pc >= po
    bullish = white & ~prior_white & (((c >= po) & (o < pc)) | ((c > po) & (o <= pc)))
    bearish = ~white & prior_white & (((o >= pc) & (c < po)) | ((o > pc) & (c <= po)))
    strength = np.where((o != pc) & (c != po), 100, 80).astype(np.int32)
    value = np.where(bullish, strength, np.where(bearish, -strength, 0)).astype(np.int32)
    value[~rows.defined(rows.start + LOOKBACK["engulfing"])] = 0
    out: IntArray = rows.layout(value)
    return out


def bullish_engulfing(bars: OHLCV) -> BoolArray:
    """CDLENGULFING > 0 (including TA-Lib's weaker 80): see `engulfing`."""
    out: BoolArray = engulfing(bars) > 0
    return out


def bearish_engulfing(bars: OHLCV) -> BoolArray:
    """CDLENGULFING < 0 (including TA-Lib's weaker -80): see `engulfing`."""
    out: BoolArray = engulfing(bars) < 0
    return out


def crosses_above(a: npt.ArrayLike, b: npt.ArrayLike) -> BoolArray:
    """True at bar t when a[t-1] <= b[t-1] and a[t] > b[t]; along the last axis (the bars).

    `a` and `b` broadcast (so `b` may be a level such as 30 or one array per symbol); bar 0 and
    any comparison involving NaN (a warm-up, a missing bar) are False.
    """
    return _crosses(a, b, above=True)


def crosses_below(a: npt.ArrayLike, b: npt.ArrayLike) -> BoolArray:
    """True at bar t when a[t-1] >= b[t-1] and a[t] < b[t]; the mirror of `crosses_above`."""
    return _crosses(a, b, above=False)


def _crosses(a: npt.ArrayLike, b: npt.ArrayLike, above: bool) -> BoolArray:
    x, y = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    if x.ndim == 0:
        raise ValueError("crossovers need series: at least one argument must be an array of bars")
    out = np.zeros(x.shape, dtype=np.bool_)
    if above:  # NaN compares False both ways, so a NaN on either bar gives False
        np.logical_and(x[..., :-1] <= y[..., :-1], x[..., 1:] > y[..., 1:], out=out[..., 1:])
    else:
        np.logical_and(x[..., :-1] >= y[..., :-1], x[..., 1:] < y[..., 1:], out=out[..., 1:])
    return out


def _before(x: FloatArray, lag: int) -> FloatArray:
    """x[t - lag] at bar t (bars x symbols); the first `lag` bars repeat bar 0 (inside lookback)."""
    out = np.empty_like(x)
    lag = min(lag, x.shape[0])  # a history shorter than the lookback is all lookback
    out[lag:] = x[: x.shape[0] - lag]
    out[:lag] = x[:1]
    return out


def _running_total(part: FloatArray, first: IndexArray, count: int, lag: int) -> FloatArray:
    """TA-Lib's running total of `part` over candles t-lag-count+1 .. t-lag, at every bar t >= first.

    ta_CDL*.c sum the first window in order, starting from 0, then after each bar add
    (part[t+1-lag] - part[t+1-lag-count]). Here that is one cumulative sum of: 0 before `first`,
    the first window's sequential sum at `first`, then those differences.
    """
    n = part.shape[0]
    drive = _before(part, lag) - _before(part, lag + count)
    cols = np.flatnonzero(first < n)
    at = first[cols]
    window = np.clip(at - lag - count + 1 + np.arange(count)[:, None], 0, n - 1)
    seed = np.cumsum(part[window, cols], axis=0)[-1]  # in bar order, as the C loop adds them
    drive[np.arange(n)[:, None] <= first] = 0.0
    drive[at, cols] = seed
    total: FloatArray = np.cumsum(drive, axis=0)
    return total


def _finish(rows: _Rows, flags: BoolArray, first: IndexArray) -> BoolArray:
    flags &= rows.defined(first)
    out: BoolArray = rows.layout(flags)
    return out
