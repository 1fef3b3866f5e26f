"""The indicator library: hand-computed cases, warm-up lengths, universe = per-symbol, and TA-Lib.

TA-Lib (the `ta-lib` wheel, a dev dependency only) is the reference: every indicator it has is
compared with it on random walks, flat series, gappy series and long histories, to 1e-9 of the
values' scale, with the NaN warm-up at exactly TA-Lib's lookback.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_system.analytics import indicators as ind
from trading_system.analytics.indicators import OHLCV, compute, warmup
from trading_system.analytics.specs import INDICATORS, IndicatorSpec, parse_spec

FloatArray = npt.NDArray[np.float64]
NAN = np.nan
RTOL = 1e-9


def bars_of(close: npt.ArrayLike, spread: float = 1.0, seed: int = 0) -> OHLCV:
    """Plausible bars around a close series: high >= max(open, close), low <= min(open, close)."""
    c = np.asarray(close, dtype=np.float64)
    rng = np.random.default_rng(seed)
    o = np.concatenate((c[..., :1], c[..., :-1]), axis=-1) + rng.normal(0, 0.2 * spread, c.shape)
    h = np.maximum(o, c) + rng.uniform(0, spread, c.shape)
    lo = np.minimum(o, c) - rng.uniform(0, spread, c.shape)
    v = np.round(rng.uniform(1e3, 1e6, c.shape))
    return OHLCV(open=o, high=h, low=lo, close=c, volume=v)


def random_walk(n: int, seed: int, level: float = 100.0) -> FloatArray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


def gappy(n: int, seed: int) -> OHLCV:
    """Opening gaps of up to 30%, bars with no range (high == low), unchanged closes, volume 0."""
    rng = np.random.default_rng(seed)
    c = random_walk(n, seed)
    gaps = rng.random(n) < 0.1
    c *= np.cumprod(np.where(gaps, rng.uniform(0.7, 1.3, n), 1.0))
    c = np.round(c, 2)
    for i in np.flatnonzero(rng.random(n) < 0.1)[1:]:
        c[i] = c[i - 1]  # unchanged closes
    b = bars_of(c, seed=seed)
    flat = rng.random(n) < 0.1
    o, h, lo = b.open.copy(), b.high.copy(), b.low.copy()
    o[flat] = h[flat] = lo[flat] = c[flat]
    v = b.volume.copy()
    v[rng.random(n) < 0.05] = 0.0
    return OHLCV(open=o, high=h, low=lo, close=c, volume=v)


def flat(n: int) -> OHLCV:
    c = np.full(n, 42.5)
    return OHLCV(open=c, high=c, low=c, close=c, volume=np.full(n, 1000.0))


# --------------------------------------------------------------------------------------------
# TA-Lib as the reference
# --------------------------------------------------------------------------------------------


def talib_outputs(spec: IndicatorSpec, b: OHLCV) -> dict[str, FloatArray]:
    """TA-Lib's outputs for `spec` on 1-D bars (TA-Lib has no VWAP: a direct loop stands in)."""
    p = [int(v) for v in spec.params]
    x = b.series(spec.source)
    match spec.name:
        case "sma":
            return {"value": talib.SMA(x, p[0])}
        case "ema":
            return {"value": talib.EMA(x, p[0])}
        case "wma":
            return {"value": talib.WMA(x, p[0])}
        case "rsi":
            return {"value": talib.RSI(x, p[0])}
        case "macd":
            m, s, h = talib.MACD(x, p[0], p[1], p[2])
            return {"macd": m, "signal": s, "hist": h}
        case "bbands":
            k = spec.params[1]
            u, m, lo = talib.BBANDS(x, p[0], k, k, 0)  # matype 0: SMA
            return {"upper": u, "middle": m, "lower": lo}
        case "atr":
            return {"value": talib.ATR(b.high, b.low, b.close, p[0])}
        case "stoch":
            k, d = talib.STOCH(b.high, b.low, b.close, p[0], p[1], 0, p[2], 0)
            return {"k": k, "d": d}
        case "obv":
            return {"value": talib.OBV(b.close, b.volume)}
        case "adx":
            return {"value": talib.ADX(b.high, b.low, b.close, p[0])}
        case "vwap":
            return {"value": vwap_loop(b)}
    raise AssertionError(spec)


def vwap_loop(b: OHLCV) -> FloatArray:
    """The documented VWAP definition, bar by bar, skipping leading NaNs as TA-Lib would."""
    out = np.full(b.close.shape, np.nan)
    pv = vol = 0.0
    started = False
    for i in range(len(out)):
        if not started and np.isnan([b.high[i], b.low[i], b.close[i], b.volume[i]]).any():
            continue
        started = True
        pv += (b.high[i] + b.low[i] + b.close[i]) / 3.0 * b.volume[i]
        vol += b.volume[i]
        out[i] = pv / vol if vol > 0 else np.nan
    return out


def assert_matches(mine: FloatArray, ref: FloatArray, scale: float, what: str) -> None:
    """Same NaNs; values within 1e-9 relative, or 1e-9 of the series' scale near zero."""
    mine = np.asarray(mine)
    assert mine.shape == ref.shape, what
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=RTOL * scale, equal_nan=True, err_msg=what)


SPECS = [
    "sma:1", "sma:2", "sma:20", "sma:200", "sma:20:volume", "ema:1", "ema:2", "ema:20", "ema:150:high",
    "wma:1", "wma:2", "wma:30", "wma:250", "rsi:2", "rsi:14", "rsi:50", "macd:12:26:9", "macd:2:3:1",
    "macd:5:35:5", "bbands:2:1", "bbands:20:2", "bbands:50:2.5:low", "atr:1", "atr:2", "atr:14",
    "stoch:5:3:3", "stoch:1:1:1", "stoch:14:1:1", "stoch:21:4:2", "obv", "vwap", "adx:2", "adx:14",
    "adx:40",
]  # fmt: skip


def scale_of(spec: IndicatorSpec, b: OHLCV, values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    level = float(np.nanmax(np.abs(b.series(spec.source)))) if spec.info.takes_source else 100.0
    return max(level, float(np.abs(finite).max()) if finite.size else 0.0, 1.0)


def check_against_talib(spec: IndicatorSpec, b: OHLCV) -> None:
    mine = compute(spec, b)
    ref = talib_outputs(spec, b)
    assert list(mine) == list(spec.info.outputs)
    for name in spec.info.outputs:
        assert_matches(mine[name], ref[name], scale_of(spec, b, ref[name]), f"{spec.key}.{name}")


@pytest.mark.parametrize("text", SPECS)
@pytest.mark.parametrize("seed", [1, 2])
def test_matches_talib_on_random_walks(text: str, seed: int) -> None:
    spec = parse_spec(text)
    b = bars_of(random_walk(600, seed), seed=seed)
    check_against_talib(spec, b)
    first = int(np.argmax(~np.isnan(compute(spec, b)[spec.info.outputs[0]])))
    assert first == warmup(spec)  # the first value sits exactly at TA-Lib's lookback


@pytest.mark.parametrize("text", SPECS)
def test_matches_talib_on_gappy_series(text: str) -> None:
    check_against_talib(parse_spec(text), gappy(400, seed=7))


@pytest.mark.parametrize("text", SPECS)
def test_matches_talib_on_flat_series(text: str) -> None:
    # Ranges and variances of 0: TA-Lib's conventions give RSI 0, %K 0, ADX 0, a 0 deviation.
    check_against_talib(parse_spec(text), flat(300))


@pytest.mark.parametrize(
    "text", ["sma:20", "ema:2", "ema:20", "wma:30", "rsi:2", "rsi:14", "macd:12:26:9", "bbands:20:2",
             "atr:14", "stoch:30:3:3", "adx:14", "obv", "vwap"],
)  # fmt: skip
def test_matches_talib_on_a_long_history(text: str) -> None:
    # 6,000 bars: windowed sums restart in segments and the recurrences run in many blocks.
    spec = parse_spec(text)
    b = bars_of(random_walk(6000, 3, level=5000.0), spread=20.0, seed=3)
    check_against_talib(spec, b)


@pytest.mark.parametrize("text", ["sma:20", "ema:20", "rsi:14", "macd:12:26:9", "bbands:20:2"])
def test_tiny_prices_and_huge_volumes(text: str) -> None:
    spec = parse_spec(text)
    b = bars_of(random_walk(400, 4, level=0.001), spread=1e-5, seed=4)
    check_against_talib(spec, b)
    check_against_talib(parse_spec("obv"), OHLCV(b.open, b.high, b.low, b.close, b.volume * 1e6))


def test_warmup_is_talibs_lookback_for_every_indicator() -> None:
    b = bars_of(random_walk(300, 5))
    for text in SPECS:
        spec = parse_spec(text)
        ref = next(iter(talib_outputs(spec, b).values()))
        assert warmup(spec) == int(np.argmax(~np.isnan(ref))), text
    assert {parse_spec(t).name for t in SPECS} == set(INDICATORS)


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------


def test_sma_of_one_to_ten() -> None:
    out = ind.sma(np.arange(1.0, 11.0), 3)
    np.testing.assert_array_equal(out, [NAN, NAN, 2, 3, 4, 5, 6, 7, 8, 9])


def test_ema_is_seeded_with_the_sma() -> None:
    # k = 2 / (3 + 1) = 0.5; seed at bar 2 = mean(2, 4, 6) = 4; then 4 + 0.5 * (8 - 4) = 6 and
    # 6 + 0.5 * (20 - 6) = 13.
    out = ind.ema([2.0, 4, 6, 8, 20], 3)
    np.testing.assert_allclose(out, [NAN, NAN, 4, 6, 13], rtol=1e-15)


def test_wma_weights_the_latest_bar_most() -> None:
    # (1*1 + 2*2 + 3*3) / 6 and (1*2 + 2*3 + 3*10) / 6
    np.testing.assert_allclose(ind.wma([1.0, 2, 3, 10], 3), [NAN, NAN, 14 / 6, 38 / 6], rtol=1e-15)


def test_rsi_uses_wilder_averages_seeded_with_plain_means() -> None:
    # changes +1 -1 +2 -1; at bar 2 gain = loss = 0.5 -> 50; bar 3 gain (0.5 + 2) / 2 = 1.25,
    # loss 0.25 -> 100 * 1.25 / 1.5; bar 4 gain 0.625, loss (0.25 + 1) / 2 = 0.625 -> 50
    np.testing.assert_allclose(ind.rsi([1.0, 2, 1, 3, 2], 2), [NAN, NAN, 50, 250 / 3, 50], rtol=1e-14)


def test_rsi_of_a_flat_or_rising_series() -> None:
    assert ind.rsi(np.full(20, 7.0), 14)[-1] == 0.0  # TA-Lib: gain + loss == 0 gives 0
    assert ind.rsi(np.arange(20.0), 14)[-1] == 100.0


def test_macd_starts_the_fast_ema_with_the_slow_one_as_talib_does() -> None:
    # fast 2 (k 2/3), slow 3 (k 1/2), signal 2 (k 2/3) on 1 2 4 8 16 32.
    # Bar 2: slow seed mean(1, 2, 4) = 7/3, fast seed mean(2, 4) = 3 (bars 1..2, not 0..1).
    # Bar 3: slow 31/6, fast 19/3, line 7/6; signal seed mean(2/3, 7/6) = 11/12; hist 1/4.
    # Bar 4: slow 127/12, fast 115/9, line 79/36, signal 11/12 + 2/3 (79/36 - 11/12) = 191/108.
    line, signal, hist = ind.macd([1.0, 2, 4, 8, 16, 32], 2, 3, 2)
    np.testing.assert_array_equal(np.isnan(line), [True, True, True, False, False, False])
    np.testing.assert_allclose(line[3:5], [7 / 6, 79 / 36], rtol=1e-14)
    np.testing.assert_allclose(signal[3:5], [11 / 12, 191 / 108], rtol=1e-14)
    np.testing.assert_allclose(hist[3:5], [1 / 4, 79 / 36 - 191 / 108], rtol=1e-13)
    talib_line, _, _ = talib.MACD(np.array([1.0, 2, 4, 8, 16, 32]), 2, 3, 2)
    np.testing.assert_allclose(line, talib_line, rtol=1e-14)


def test_bbands_use_the_population_deviation() -> None:
    upper, middle, lower = ind.bbands([1.0, 2, 3, 5], 3, 2.0)
    np.testing.assert_allclose(middle, [NAN, NAN, 2, 10 / 3], rtol=1e-15)
    deviation = np.array([NAN, NAN, np.sqrt(2 / 3), np.sqrt(14) / 3])  # divided by n, not n - 1
    np.testing.assert_allclose(upper, middle + 2 * deviation, rtol=1e-14)
    np.testing.assert_allclose(lower, middle - 2 * deviation, rtol=1e-14)


def test_atr_seeds_with_the_mean_true_range() -> None:
    h, lo, c = [10.0, 11, 12, 11], [9.0, 9, 10, 8], [9.5, 10, 11, 9]
    # true ranges from bar 1: 2 (11 - 9), 2, 3 (|8 - 11|); ATR(2): (2 + 2) / 2, then (2 + 3) / 2
    np.testing.assert_array_equal(ind.atr(h, lo, c, 2), [NAN, NAN, 2.0, 2.5])
    np.testing.assert_array_equal(ind.atr(h, lo, c, 1), [NAN, 2.0, 2.0, 3.0])  # the true range


def test_stoch_smooths_fast_k_twice() -> None:
    h = [10.0, 11, 12, 13, 12, 11]
    lo = [8.0, 9, 10, 11, 10, 9]
    c = [9.0, 10, 11, 12, 10, 9]
    # fast %K(3) from bar 2: 75, 75, 0, 0; slow %K = SMA2: 75, 37.5, 0; slow %D = SMA2: 56.25, 18.75
    k, d = ind.stoch(h, lo, c, 3, 2, 2)
    np.testing.assert_array_equal(k, [NAN, NAN, NAN, NAN, 37.5, 0.0])
    np.testing.assert_array_equal(d, [NAN, NAN, NAN, NAN, 56.25, 18.75])


def test_obv_adds_and_subtracts_volume_by_the_sign_of_the_change() -> None:
    out = ind.obv([10.0, 11, 11, 9, 12], [100.0, 200, 300, 400, 500])
    np.testing.assert_array_equal(out, [100, 300, 300, -100, 400])  # TA-Lib starts at the volume


def test_vwap_is_the_cumulative_typical_price_average() -> None:
    h, lo, c = [12.0, 22, 5, 1], [9.0, 18, 4, 1], [9.0, 20, 3, 1]  # typical prices 10, 20, 4, 1
    out = ind.vwap(h, lo, c, [1.0, 3, 0, 4])
    np.testing.assert_allclose(out, [10, 70 / 4, 70 / 4, 74 / 8], rtol=1e-15)
    np.testing.assert_array_equal(ind.vwap(h, lo, c, [0.0, 0, 2, 0]), [NAN, NAN, 4, 4])


def test_adx_by_hand() -> None:
    h = [10.0, 12, 13, 12, 14]
    lo = [9.0, 10, 11, 9, 12]
    c = [9.5, 11, 12, 10, 13]
    # Bar 1: +DM 2, TR 2.5 (the sums start here). Bar 2: TR 3.25, +DM 2, -DM 0 -> DX 100.
    # Bar 3: TR 4.625, +DM 1, -DM 2 -> DX 100/3; ADX = (100 + 100/3) / 2 = 200/3.
    # Bar 4: TR 6.3125, +DM 2.5, -DM 1 -> DX 300/7; ADX = (200/3 + 300/7) / 2 = 1150/21.
    out = ind.adx(h, lo, c, 2)
    np.testing.assert_allclose(out, [NAN, NAN, NAN, 200 / 3, 1150 / 21], rtol=1e-13)
    np.testing.assert_allclose(out, talib.ADX(np.array(h), np.array(lo), np.array(c), 2), rtol=1e-13)


def test_adx_holds_when_dx_is_undefined() -> None:
    # A rise, then bars that widen equally up and down: no directional movement, so with period 2
    # the DM sums halve every bar until they underflow to exactly 0 (about 1,075 bars); from then
    # on +DI + -DI == 0, DX is undefined and TA-Lib keeps the last ADX (100) instead of averaging
    # in a 0, which would halve it every bar down to nothing.
    n1, n2 = 20, 1300
    c = np.concatenate((np.linspace(100, 110, n1), np.full(n2, 110.0)))
    h = np.concatenate((c[:n1] + 0.5, 110.5 + 0.01 * np.arange(1, n2 + 1)))
    lo = np.concatenate((c[:n1] - 0.5, 109.5 - 0.01 * np.arange(1, n2 + 1)))
    ref = talib.ADX(h, lo, c, 2)
    assert ref[-1] == 100.0
    out = ind.adx(h, lo, c, 2)
    assert out[-1] == 100.0
    assert_matches(out, ref, 100.0, "adx hold")
    wide = ind.adx(np.tile(h, (200, 1)), np.tile(lo, (200, 1)), np.tile(c, (200, 1)), 2)  # stepped path
    assert_matches(wide[17], ref, 100.0, "adx hold, universe path")


def edge_cases() -> dict[str, OHLCV]:
    """Series built to hit TA-Lib's zero guards and cancellation traps."""
    t = np.arange(200.0)
    cases = {}
    c = np.concatenate((np.linspace(100, 120, 50), np.full(60, 120.0), np.linspace(120, 90, 90)))
    h, lo = c + 1.0, c - 1.0
    h[50:110], lo[50:110] = 121 + (t[50:110] - 50), 119 - (t[50:110] - 50)  # up move == down move
    cases["outside bars, no directional movement"] = OHLCV(c, h, lo, c, np.full(200, 10.0))
    c = np.concatenate((np.full(80, 50.0), np.linspace(50, 70, 120)))
    band = np.where(t < 80, 0.0, 0.5)
    cases["flat, then a trend"] = OHLCV(c, c + band, c - band, c, np.full(200, 10.0))
    c = np.concatenate((np.linspace(100, 130, 60), np.full(140, 130.0)))
    band = np.where(t < 60, 1.0, 0.0)
    cases["a trend, then flat"] = OHLCV(c, c + band, c - band, c, np.full(200, 10.0))
    c = np.concatenate((np.full(30, 100.0), np.full(170, 137.3)))  # flat at a non-binary price
    cases["a jump, then flat at 137.3"] = OHLCV(c, c, c, c, np.full(200, 10.0))
    rng = np.random.default_rng(0)
    c = 1e-7 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))  # quoted far below 1.0 (#253)
    cases["micro prices"] = OHLCV(c, c * 1.01, c * 0.99, c, np.full(200, 1e12))
    c = 3.7 * (1 + np.where(t % 2 == 0, 1.5e-14, 2.5e-14))  # STOCH ranges at the 1e-14 boundary
    cases["ranges near 1e-14 of the price"] = OHLCV(c, c, np.full(200, 3.7), np.full(200, 3.7), np.ones(200))
    return cases


@pytest.mark.parametrize("case", list(edge_cases()))
def test_matches_talib_on_edge_cases(case: str) -> None:
    b = edge_cases()[case]
    for text in ("sma:5", "ema:5", "wma:5", "rsi:14", "macd:3:7:2", "bbands:5:2", "bbands:20:2", "atr:14",
                 "stoch:5:3:3", "stoch:2:1:1", "adx:14", "adx:2", "obv", "vwap"):  # fmt: skip
        check_against_talib(parse_spec(text), b)


def test_stoch_treats_a_range_within_rounding_as_flat() -> None:
    # TA_IS_ZERO_SCALED: |highest - lowest| <= 1e-14 * (|highest| + |lowest|) gives %K = 0.
    for r, expected_zero in ((1e-13, False), (2e-14, False), (1.5e-14, True), (1e-14, True)):
        hh, ll, cc = np.full(10, 3.7 * (1 + r)), np.full(10, 3.7), np.full(10, 3.7 * (1 + r / 2))
        k = ind.stoch(hh, ll, cc, 5, 1, 1)[0][-1]
        assert bool(k == 0.0) is expected_zero
        assert k == talib.STOCH(hh, ll, cc, 5, 1, 0, 1, 0)[0][-1]


def test_bbands_deviation_is_exact_for_tiny_variances() -> None:
    # No absolute epsilon: a deviation of 5e-9 around 1.0 is reported, as TA-Lib does.
    x = np.array([1.0, 1.0 + 1e-8, 1.0, 1.0 + 1e-8])
    upper, middle, _ = ind.bbands(x, 2, 1.0)
    np.testing.assert_allclose(upper[1:] - middle[1:], 5e-9, rtol=1e-6)
    assert ind.bbands(np.full(30, 137.3), 20, 2.0)[0][-1] == ind.bbands(np.full(30, 137.3), 20, 2.0)[1][-1]


# --------------------------------------------------------------------------------------------
# Universe (2-D) = per symbol (1-D), left padding, holes
# --------------------------------------------------------------------------------------------


def padded_universe(rows: int, n: int, seed: int) -> tuple[OHLCV, list[int]]:
    """`rows` symbols over `n` aligned bars; symbol i has its first `starts[i]` bars missing."""
    rng = np.random.default_rng(seed)
    c = np.stack([random_walk(n, seed * 1000 + i) for i in range(rows)])
    b = bars_of(c, seed=seed)
    starts = [0, 0, 1, n - 1, n, *rng.integers(0, n, rows - 5).tolist()][:rows]
    fields = {}
    for name in ("open", "high", "low", "close", "volume"):
        a = b.series(name).copy()
        for i, s in enumerate(starts):
            a[i, :s] = np.nan
        fields[name] = a
    return OHLCV(**fields), starts


def row(b: OHLCV, i: int, start: int) -> OHLCV:
    return OHLCV(*(b.series(f)[i, start:] for f in ("open", "high", "low", "close", "volume")))


@pytest.mark.parametrize("rows", [12, 150])  # below and above the step-per-bar threshold
def test_universe_rows_equal_each_symbol_alone(rows: int) -> None:
    universe, starts = padded_universe(rows, 160, seed=rows)
    for text in SPECS:
        spec = parse_spec(text)
        together = compute(spec, universe)
        for i in [*range(8), rows - 1]:  # every kind of start, and one far from the others
            start = starts[i]
            alone = compute(spec, row(universe, i, start))
            for name in spec.info.outputs:
                got = together[name][i]
                assert got.shape == (160,)
                assert np.isnan(got[:start]).all(), (text, i)
                np.testing.assert_allclose(
                    got[start:], alone[name], rtol=1e-12, atol=1e-10, equal_nan=True, err_msg=f"{text} {i}"
                )
                np.testing.assert_array_equal(np.isnan(got[start:]), np.isnan(alone[name]))


def test_padded_rows_match_talib_which_skips_leading_nans() -> None:
    universe, starts = padded_universe(140, 120, seed=9)
    for text in ("ema:10", "rsi:14", "macd:5:12:4", "adx:5", "bbands:10:2", "stoch:5:3:3", "atr:3", "obv"):
        spec = parse_spec(text)
        together = compute(spec, universe)
        for i in (0, 2, 7, 50, 139):
            one = OHLCV(*(universe.series(f)[i] for f in ("open", "high", "low", "close", "volume")))
            for name, ref in talib_outputs(spec, one).items():
                assert_matches(together[name][i], ref, 1000.0, f"{text} row {i} start {starts[i]}")


def test_a_hole_makes_the_rest_of_the_row_nan() -> None:
    x = random_walk(50, 1)
    x[30] = np.nan
    for out in (ind.sma(x, 5), ind.ema(x, 5), ind.rsi(x, 5), ind.obv(x, np.ones(50))):
        assert not np.isnan(out[10:30]).any()
        assert np.isnan(out[30:]).all()
    holed = np.stack([x, random_walk(50, 2)])
    out = ind.ema(holed, 5)
    assert np.isnan(out[0, 30:]).all() and not np.isnan(out[1, 4:]).any()


def test_short_and_empty_histories() -> None:
    assert np.isnan(ind.sma(np.arange(3.0), 5)).all()
    for text in SPECS:
        spec = parse_spec(text)
        for n in (0, 1, warmup(spec), warmup(spec) + 1):
            b = bars_of(random_walk(n, 1)) if n else OHLCV(*([np.zeros(0)] * 5))
            for values in compute(spec, b).values():
                assert values.shape == (n,)
                assert np.isnan(values[: warmup(spec)]).all()
                assert n <= warmup(spec) or not np.isnan(values[warmup(spec)]), text
    empty = OHLCV(*([np.zeros((0, 10))] * 5))
    assert compute(parse_spec("macd"), empty)["signal"].shape == (0, 10)


# --------------------------------------------------------------------------------------------
# API contract
# --------------------------------------------------------------------------------------------


def test_inputs_are_never_modified_and_outputs_are_fresh() -> None:
    b = bars_of(random_walk(100, 3))
    before = {f: b.series(f).copy() for f in ("open", "high", "low", "close", "volume")}
    for text in SPECS:
        for values in compute(parse_spec(text), b).values():
            values[:] = -1.0  # writing into an output must not reach the bars or later results
    for f, v in before.items():
        np.testing.assert_array_equal(b.series(f), v)
    np.testing.assert_allclose(compute(parse_spec("sma:1"), b)["value"], b.close)


def test_ohlcv_validates_shapes_and_coerces_to_float() -> None:
    b = OHLCV(open=[1, 2], high=[1, 2], low=[1, 2], close=[1, 2], volume=[1, 2])
    assert b.close.dtype == np.float64 and b.shape == (2,)
    with pytest.raises(ValueError, match="shape"):
        OHLCV(open=[1, 2], high=[1, 2], low=[1, 2], close=[1, 2, 3], volume=[1, 2])
    with pytest.raises(ValueError, match="1-D"):
        OHLCV(*([np.zeros((2, 2, 2))] * 5))
    with pytest.raises(ValueError, match="unknown source"):
        b.series("vwap")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ind.sma([1.0], 0), "sma period must be a whole number from 1 to 10000, got 0"),
        (lambda: ind.rsi([1.0], 1), "rsi period must be a whole number from 2"),
        (lambda: ind.ema([1.0], 2.5), "whole number"),  # type: ignore[arg-type]
        (lambda: ind.macd([1.0], 26, 12, 9), "fast period must be shorter"),
        (lambda: ind.bbands([1.0], 20, 0.0), "k must be a positive number"),
        (lambda: ind.atr([1.0], [1.0, 2.0], [1.0], 14), "share one shape"),
    ],
)
def test_direct_calls_validate_their_arguments(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_outputs_keep_the_callers_layout() -> None:
    universe = bars_of(np.stack([random_walk(40, i) for i in range(3)]))
    out = compute(parse_spec("macd:3:6:2"), universe)
    for values in out.values():
        assert values.shape == (3, 40)
    np.testing.assert_allclose(
        out["signal"][1], compute(parse_spec("macd:3:6:2"), row(universe, 1, 0))["signal"]
    )
    again = ind.ema(out["macd"], 3)  # an indicator of an indicator output (a transposed array)
    np.testing.assert_allclose(again[2], ind.ema(out["macd"][2], 3), rtol=1e-14, equal_nan=True)


# --------------------------------------------------------------------------------------------
# The recurrence solvers against a plain loop
# --------------------------------------------------------------------------------------------


def loop_recurrence(u: FloatArray, a: FloatArray) -> FloatArray:
    y = np.zeros_like(u)
    prev = np.zeros(u.shape[1])
    for t in range(u.shape[0]):
        prev = a[t] * prev + u[t]
        y[t] = prev
    return y


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 2500),
    width=st.sampled_from([1, 3]),
    a_min=st.sampled_from([0.01, 0.5, 1 / 3, 0.9, 0.999]),
    varying=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_blocked_and_stepped_recurrences_equal_the_loop(
    n: int, width: int, a_min: float, varying: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, width))
    if varying:
        a: float | FloatArray = np.where(rng.random((n, width)) < 0.2, 1.0, a_min)
    else:
        a = a_min
    expected = loop_recurrence(u, np.broadcast_to(np.asarray(a), (n, width)))
    scale = np.abs(expected).max() + 1.0
    for solve in (ind._recurrence_blocked(u.copy(), a, a_min), ind._recurrence_steps(u.copy(), a, 0)):
        np.testing.assert_allclose(solve, expected, rtol=1e-10, atol=1e-12 * scale)


def test_ema_exact_with_fractions() -> None:
    # A long EMA in exact rational arithmetic: the closed form loses nothing over 2,000 bars.
    x = np.round(random_walk(2000, 11), 2)
    k = Fraction(2, 11)
    y = sum((Fraction(v) for v in x[:10]), Fraction(0)) / 10
    for v in x[10:]:
        y += k * (Fraction(v) - y)
    assert abs(ind.ema(x, 10)[-1] - float(y)) <= 1e-12 * float(y)
