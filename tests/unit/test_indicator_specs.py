"""The indicator catalog and spec parsing: keys, columns, defaults, TA-Lib's parameter ranges."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import talib

from trading_system.analytics.specs import (
    INDICATORS,
    SOURCES,
    IndicatorSpec,
    SpecError,
    make_spec,
    parse_spec,
    parse_specs,
    suggest,
)


@pytest.mark.parametrize(
    ("text", "key", "columns"),
    [
        ("sma:50", "sma:50", ["sma_50"]),
        ("SMA:20:Volume", "sma:20:volume", ["sma_20_volume"]),
        (" ema : 10 : high ", "ema:10:high", ["ema_10_high"]),
        ("sma:20:close", "sma:20", ["sma_20"]),  # close is the default source, never spelled out
        ("macd", "macd:12:26:9", ["macd_12_26_9__macd", "macd_12_26_9__signal", "macd_12_26_9__hist"]),
        (
            "bbands:20:2.5",
            "bbands:20:2.5",
            ["bbands_20_2p5__upper", "bbands_20_2p5__middle", "bbands_20_2p5__lower"],
        ),
        ("bbands:20:2", "bbands:20:2", ["bbands_20_2__upper", "bbands_20_2__middle", "bbands_20_2__lower"]),
        ("stoch", "stoch:5:3:3", ["stoch_5_3_3__k", "stoch_5_3_3__d"]),
        ("obv", "obv", ["obv"]),
        ("vwap", "vwap", ["vwap"]),
        ("rsi:14.0", "rsi:14", ["rsi_14"]),
    ],
)
def test_keys_and_columns(text: str, key: str, columns: list[str]) -> None:
    spec = parse_spec(text)
    assert spec.key == key
    assert spec.columns() == columns
    assert parse_spec(spec.key) == spec  # the key round-trips


def test_defaults_fill_missing_trailing_parameters() -> None:
    assert parse_spec("macd:8") == make_spec("macd", [8, 26, 9])
    assert parse_spec("bbands") == make_spec("bbands", [20, 2.0])
    assert make_spec("STOCH") == IndicatorSpec("stoch", (5.0, 3.0, 3.0))
    assert parse_spec("sma:volume") == IndicatorSpec("sma", (30.0,), "volume")


def test_column_of_an_unknown_output() -> None:
    with pytest.raises(SpecError, match="macd has no output 'line'; it has macd, signal, hist"):
        parse_spec("macd").column("line")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sma:0", "sma period must be a whole number from 1 to 10000, got 0"),
        ("sma:10001", "sma period must be a whole number from 1 to 10000, got 10001"),
        ("sma:2.5", "sma period must be a whole number from 1 to 10000, got 2.5"),
        ("sma:1e400", "sma period must be a whole number from 1 to 10000, got inf"),
        ("sma:-3", "got -3"),
        ("rsi:1", "rsi period must be a whole number from 2 to 10000, got 1"),
        ("adx:1", "adx period must be a whole number from 2 to 10000, got 1"),
        ("bbands:1", "bbands period must be a whole number from 2 to 10000, got 1"),
        ("macd:1:26:9", "macd fast must be a whole number from 2 to 10000, got 1"),
        ("macd:12:26:0", "macd signal must be a whole number from 1 to 10000, got 0"),
        ("macd:26:12", "macd fast period must be shorter than the slow period, got fast 26 and slow 12"),
        ("macd:12:12", "fast period must be shorter"),
        ("stoch:0", "stoch fastk must be a whole number from 1 to 10000, got 0"),
        ("atr:0", "atr period must be a whole number from 1 to 10000, got 0"),
        ("bbands:20:0", "bbands k must be greater than 0 and at most 100, got 0"),
        ("bbands:20:101", "bbands k must be greater than 0 and at most 100, got 101"),
        ("bbands:20:1e999", "got inf"),
        ("obv:3", "obv takes no parameters (on-balance volume), got 1"),
        ("vwap:1:2", "vwap takes no parameters"),
        ("rsi:14:3", "rsi takes at most 1 parameter(s) (period), got 2"),
        ("smaa:20", "unknown indicator 'smaa'; did you mean 'sma'?"),
        ("foo", "unknown indicator 'foo'"),
        (
            "sma:20:volum",
            "unknown source 'volum'; use one of open, high, low, close, volume; did you mean 'volume'?",
        ),
        ("atr:14:volume", "atr is computed from whole bars and takes no source"),
        ("sma::20", "'sma::20': empty parameter"),
        ("sma:2O", "'sma:2O': parameter '2O' is not a number"),
        ("", "empty indicator spec"),
        (":20", "empty indicator spec"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert message in str(caught.value)


def test_the_smallest_periods_are_accepted() -> None:
    for text in (
        "sma:1",
        "ema:1",
        "wma:1",
        "rsi:2",
        "atr:1",
        "adx:2",
        "bbands:2:0.5",
        "macd:2:3:1",
        "stoch:1:1:1",
    ):
        assert parse_spec(text).key == text


def test_make_spec_rejects_non_numbers() -> None:
    with pytest.raises(SpecError, match="must be numbers"):
        make_spec("sma", ["twenty"])  # type: ignore[list-item]
    with pytest.raises(SpecError, match="nan"):
        make_spec("sma", [float("nan")])


def test_parse_specs_keeps_order_and_drops_duplicates() -> None:
    specs = parse_specs("sma:50, ema:20,sma:50.0,rsi,")
    assert [s.key for s in specs] == ["sma:50", "ema:20", "rsi:14"]
    with pytest.raises(SpecError, match="no indicator given"):
        parse_specs(" , ")


def test_catalog_is_consistent() -> None:
    assert SOURCES == ("open", "high", "low", "close", "volume")
    for name, info in INDICATORS.items():
        assert info.name == name
        n = len(info.params)
        assert len(info.defaults) == len(info.integer_params) == len(info.minimums) == n
        spec = make_spec(name)  # the defaults are valid
        assert len(spec.columns()) == len(info.outputs) == len(set(spec.columns()))
        for value, minimum, integer in zip(info.defaults, info.minimums, info.integer_params, strict=True):
            assert not integer or value >= minimum


def test_suggest() -> None:
    assert suggest("rsii", INDICATORS) == "; did you mean 'rsi'?"
    assert suggest("zzzz", INDICATORS) == ""


# The minimums are TA-Lib's: the smallest value its functions accept, one less is TA_BAD_PARAM.
X = np.linspace(1.0, 2.0, 60)
TALIB_CALLS: dict[tuple[str, str], Callable[[int], object]] = {
    ("sma", "period"): lambda v: talib.SMA(X, v),
    ("ema", "period"): lambda v: talib.EMA(X, v),
    ("wma", "period"): lambda v: talib.WMA(X, v),
    ("rsi", "period"): lambda v: talib.RSI(X, v),
    ("bbands", "period"): lambda v: talib.BBANDS(X, v),
    ("atr", "period"): lambda v: talib.ATR(X + 1, X - 1, X, v),
    ("adx", "period"): lambda v: talib.ADX(X + 1, X - 1, X, v),
    ("macd", "fast"): lambda v: talib.MACD(X, fastperiod=v, slowperiod=26),
    ("macd", "slow"): lambda v: talib.MACD(X, fastperiod=2, slowperiod=v),
    ("macd", "signal"): lambda v: talib.MACD(X, signalperiod=v),
    ("stoch", "fastk"): lambda v: talib.STOCH(X + 1, X - 1, X, fastk_period=v),
    ("stoch", "slowk"): lambda v: talib.STOCH(X + 1, X - 1, X, slowk_period=v),
    ("stoch", "slowd"): lambda v: talib.STOCH(X + 1, X - 1, X, slowd_period=v),
}


@pytest.mark.parametrize(("name", "param"), list(TALIB_CALLS))
def test_minimums_are_talibs(name: str, param: str) -> None:
    info = INDICATORS[name]
    minimum = int(info.minimums[info.params.index(param)])
    TALIB_CALLS[name, param](minimum)  # accepted
    with pytest.raises(Exception, match="Bad Parameter"):
        TALIB_CALLS[name, param](minimum - 1)


def test_every_whole_number_parameter_is_covered_by_the_talib_check() -> None:
    covered = {(n, p) for n, p in TALIB_CALLS}
    expected = {
        (name, param)
        for name, info in INDICATORS.items()
        for param, integer in zip(info.params, info.integer_params, strict=True)
        if integer
    }
    assert covered == expected
