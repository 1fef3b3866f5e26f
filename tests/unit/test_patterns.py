"""Candlestick patterns (TA-Lib's CDLDOJI, CDLHAMMER, CDLENGULFING, exactly) and crossovers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import talib

from trading_system.analytics import patterns
from trading_system.analytics.indicators import OHLCV

NAN = np.nan


def candles(rows: list[tuple[float, float, float, float]]) -> OHLCV:
    """Bars from (open, high, low, close) tuples."""
    o, h, lo, c = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    return OHLCV(open=o, high=h, low=lo, close=c, volume=np.ones(len(rows)))


def talib_cdl(name: str, b: OHLCV) -> npt.NDArray[np.int32]:
    result: npt.NDArray[np.int32] = getattr(talib, name)(b.open, b.high, b.low, b.close)
    return result


def market(n: int, seed: int) -> OHLCV:
    """Cent-rounded random candles with many small bodies, equal opens/closes and long shadows, so
    the adaptive thresholds are often hit to the last bit (ties decide the outcome)."""
    rng = np.random.default_rng(seed)
    c = 100 + np.cumsum(rng.normal(size=n))
    o = c + rng.normal(size=n) * rng.choice([0.01, 0.5, 2.0], size=n)
    o, c = np.round(o, 2), np.round(c, 2)
    same = rng.random(n) < 0.2
    o[same] = c[same]  # dojis
    gap = np.flatnonzero(rng.random(n) < 0.2)[1:]
    o[gap] = c[gap - 1]  # opens at the prior close: engulfing's "80" cases
    h = np.round(np.maximum(o, c) + rng.exponential(0.5, n) * (rng.random(n) < 0.7), 2)
    lo = np.round(np.minimum(o, c) - rng.exponential(1.0, n), 2)
    return OHLCV(open=o, high=h, low=lo, close=c, volume=np.ones(n))


# --------------------------------------------------------------------------------------------
# Hand-made candles
# --------------------------------------------------------------------------------------------


def test_doji_compares_the_body_with_a_tenth_of_the_average_range() -> None:
    base = [(10.0, 11.25, 8.75, 10.5)] * 10  # ranges of 2.5: a doji body is at most 0.25
    rows = [*base, (10.0, 11.0, 9.0, 10.25), (10.0, 11.0, 9.0, 10.5), (10.0, 10.0, 10.0, 10.0)]
    got = patterns.doji(candles(rows))
    # bar 10: body 0.25 == 0.1 x 2.5 (TA-Lib compares with <=); bar 11: body 0.5; bar 12: a flat
    # bar, body 0; bars 0..9 are inside the 10-bar lookback
    assert got.tolist() == [False] * 10 + [True, False, True]
    np.testing.assert_array_equal(got, talib_cdl("CDLDOJI", candles(rows)) != 0)


def test_doji_needs_ten_previous_candles() -> None:
    flat = [(5.0, 5.0, 5.0, 5.0)] * 12
    assert patterns.doji(candles(flat)).tolist() == [False] * 10 + [True, True]


def hammer_setup(last: tuple[float, float, float, float]) -> OHLCV:
    # Eleven black candles falling by 1: bodies 2, ranges 4; the 11th (bar 10) has low 87.
    falling = [(100.0 - i, 101.0 - i, 97.0 - i, 98.0 - i) for i in range(11)]
    return candles([*falling, last])


@pytest.mark.parametrize(
    ("last", "is_hammer", "why"),
    [
        ((87.5, 88.1, 85.5, 88.0), True, "body 0.5 < 2, lower 2 > 0.5, upper 0.1 < 0.4, 87.5 <= 87 + 0.8"),
        ((87.5, 88.5, 85.5, 88.0), False, "upper shadow 0.5 is not < 0.1 x average range 4"),
        ((87.5, 88.1, 87.2, 88.0), False, "lower shadow 0.3 is not > the body 0.5"),
        ((87.0, 89.1, 85.0, 89.0), False, "body 2 is not smaller than the average body 2"),
        ((89.5, 90.1, 87.0, 90.0), False, "body bottom 89.5 is not near the prior low 87 (+0.8)"),
        ((88.0, 88.1, 85.5, 87.5), True, "black bodies count too: bottom 87.5"),
    ],
)
def test_hammer_by_hand(last: tuple[float, float, float, float], is_hammer: bool, why: str) -> None:
    b = hammer_setup(last)
    got = patterns.hammer(b)
    assert bool(got[-1]) is is_hammer, why
    assert not got[:-1].any()
    np.testing.assert_array_equal(got, talib_cdl("CDLHAMMER", b) != 0)


@pytest.mark.parametrize(
    ("prior", "current", "value"),
    [
        ((10.0, 9.0), (8.5, 10.5), 100),  # a white body engulfs a black one
        ((9.0, 10.0), (10.5, 8.5), -100),  # a black body engulfs a white one
        ((10.0, 9.0), (9.0, 11.0), 80),  # opens at the prior close: TA-Lib's weaker 80
        ((10.0, 9.0), (8.0, 10.0), 80),  # closes at the prior open
        ((9.0, 10.0), (10.0, 8.0), -80),
        ((10.0, 9.0), (9.0, 10.0), 0),  # the same body: nothing engulfed
        ((10.0, 10.0), (10.5, 9.5), -100),  # a doji counts as white (close >= open)
        ((10.0, 9.0), (8.0, 8.0), 0),  # ... so a doji cannot engulf as a black candle
        ((10.0, 9.0), (9.5, 10.5), 0),  # opens inside the prior body
        ((9.0, 10.0), (9.5, 11.0), 0),  # the same colour
    ],
)
def test_engulfing_by_hand(prior: tuple[float, float], current: tuple[float, float], value: int) -> None:
    rows = [(5.0, 6.0, 4.0, 5.0)]  # TA-Lib's lookback is 2 although only one prior candle is read
    for o, c in (prior, current):
        rows.append((o, max(o, c) + 1, min(o, c) - 1, c))
    b = candles(rows)
    got = patterns.engulfing(b)
    assert got.tolist() == [0, 0, value]
    np.testing.assert_array_equal(got, talib_cdl("CDLENGULFING", b))
    assert patterns.bullish_engulfing(b).tolist() == [False, False, value > 0]
    assert patterns.bearish_engulfing(b).tolist() == [False, False, value < 0]


def test_engulfing_lookback_is_two_bars() -> None:
    b = candles(
        [(10.0, 11.0, 8.0, 9.0), (8.5, 11.5, 7.5, 10.5), (10.0, 11.0, 8.0, 9.0), (8.5, 11.5, 7.5, 10.5)]
    )
    assert patterns.engulfing(b).tolist() == [0, 0, 0, 100]  # bar 1 engulfs too, inside the lookback
    np.testing.assert_array_equal(patterns.engulfing(b), talib_cdl("CDLENGULFING", b))


# --------------------------------------------------------------------------------------------
# Against TA-Lib, universes, padding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_patterns_equal_talib_on_cent_rounded_markets(seed: int) -> None:
    b = market(1500, seed)
    for mine, name in (
        (patterns.doji(b), "CDLDOJI"),
        (patterns.hammer(b), "CDLHAMMER"),
        (patterns.bullish_engulfing(b), "CDLENGULFING"),
    ):
        ref = talib_cdl(name, b)
        expected = ref > 0 if name == "CDLENGULFING" else ref != 0
        assert expected.sum() > 5, name  # the comparison has positives to get wrong
        np.testing.assert_array_equal(mine, expected, err_msg=name)
    np.testing.assert_array_equal(patterns.engulfing(b), talib_cdl("CDLENGULFING", b))
    np.testing.assert_array_equal(patterns.bearish_engulfing(b), talib_cdl("CDLENGULFING", b) < 0)


def test_running_totals_stay_exact_over_a_long_history() -> None:
    b = market(60_000, 42)  # TA-Lib's running totals drift by rounding; ours drift identically
    np.testing.assert_array_equal(patterns.hammer(b), talib_cdl("CDLHAMMER", b) != 0)
    np.testing.assert_array_equal(patterns.doji(b), talib_cdl("CDLDOJI", b) != 0)


@pytest.mark.parametrize("name", ["doji", "hammer", "bullish_engulfing", "bearish_engulfing"])
def test_universe_rows_equal_each_symbol_alone(name: str) -> None:
    n, starts = 300, [0, 3, 11, 150, 289, 299, 300]
    singles = [market(n - s, 100 + i) for i, s in enumerate(starts)]
    fields = {}
    for f in ("open", "high", "low", "close", "volume"):
        fields[f] = np.stack(
            [np.concatenate((np.full(s, NAN), b.series(f))) for s, b in zip(starts, singles, strict=True)]
        )
    universe = OHLCV(**fields)
    together = getattr(patterns, name)(universe)
    assert together.shape == (len(starts), n) and together.dtype == np.bool_
    assert name in patterns.PATTERNS
    for i, (start, single) in enumerate(zip(starts, singles, strict=True)):
        assert not together[i, :start].any()
        np.testing.assert_array_equal(together[i, start:], getattr(patterns, name)(single))
        talib_name = {"doji": "CDLDOJI", "hammer": "CDLHAMMER"}.get(name, "CDLENGULFING")
        ref = getattr(talib, talib_name)(*(universe.series(f)[i] for f in ("open", "high", "low", "close")))
        expected = ref < 0 if name == "bearish_engulfing" else ref > 0 if "engulfing" in name else ref != 0
        np.testing.assert_array_equal(together[i], expected)  # TA-Lib skips the leading NaNs too


def test_a_nan_bar_stops_patterns_for_the_rest_of_the_row() -> None:
    b = candles([(5.0, 5.0, 5.0, 5.0)] * 20)
    o = b.open.copy()
    o[15] = NAN
    holed = OHLCV(open=o, high=b.high, low=b.low, close=b.close, volume=b.volume)
    assert patterns.doji(holed).tolist() == [False] * 10 + [True] * 5 + [False] * 5


# --------------------------------------------------------------------------------------------
# Crossovers
# --------------------------------------------------------------------------------------------


def test_crossovers_by_hand() -> None:
    a = np.array([1.0, 2, 3, 2, 1, 2, 2])
    b = np.full(7, 2.0)
    # above at 2 (2 <= 2, then 3 > 2); below at 4 (2 >= 2, then 1 < 2); touching is not crossing
    assert patterns.crosses_above(a, b).tolist() == [False, False, True, False, False, False, False]
    assert patterns.crosses_below(a, b).tolist() == [False, False, False, False, True, False, False]


def test_a_touch_from_above_then_up_again_counts_as_crossing_above() -> None:
    # By the definition a[t-1] <= b[t-1] and a[t] > b[t].
    assert patterns.crosses_above([3.0, 2.0, 3.0], 2.0).tolist() == [False, False, True]


def test_crossovers_are_nan_safe() -> None:
    fast = np.array([NAN, NAN, 1.0, 3.0, NAN, 3.0, 1.0])
    slow = np.array([2.0, 2.0, 2.0, 2.0, 2.0, NAN, 2.0])
    assert not patterns.crosses_above(fast, slow)[[0, 1, 2, 4, 5, 6]].any()
    assert patterns.crosses_above(fast, slow)[3]
    assert not patterns.crosses_below(fast, slow).any()  # 3 -> NaN -> 3 -> 1: no defined pair


def test_crossovers_of_a_universe_against_a_level_or_a_series() -> None:
    rsi = np.array([[25.0, 35.0, 28.0], [40.0, 29.0, 31.0]])
    assert patterns.crosses_above(rsi, 30.0).tolist() == [[False, True, False], [False, False, True]]
    assert patterns.crosses_below(rsi, 30.0).tolist() == [[False, False, True], [False, True, False]]
    levels = np.array([[30.0], [35.0]])  # one level per symbol broadcasts along the bars
    assert patterns.crosses_above(rsi, levels).tolist() == [[False, True, False], [False, False, False]]
    with pytest.raises(ValueError, match="series"):
        patterns.crosses_above(1.0, 2.0)


def test_crossovers_of_indicator_outputs() -> None:
    from trading_system.analytics.indicators import compute
    from trading_system.analytics.specs import parse_spec

    b = market(400, 5)
    macd = compute(parse_spec("macd:12:26:9"), b)
    above = patterns.crosses_above(macd["macd"], macd["signal"])
    below = patterns.crosses_below(macd["macd"], macd["signal"])
    hist = macd["hist"]
    sign_change = (np.sign(hist[:-1]) <= 0) & (hist[1:] > 0)
    np.testing.assert_array_equal(above[1:], sign_change)
    assert above.any() and below.any() and not (above & below).any()


@pytest.mark.parametrize("n", [0, 1, 2, 6, 9])
def test_histories_shorter_than_the_lookback_match_nothing(n: int) -> None:
    close = np.linspace(10, 11, n)
    bars = OHLCV(open=close, high=close + 0.5, low=close - 0.5, close=close, volume=np.ones(n))
    for name in ("doji", "hammer", "bullish_engulfing", "bearish_engulfing"):
        flags = getattr(patterns, name)(bars)
        assert flags.shape == (n,)
        assert not flags.any()
