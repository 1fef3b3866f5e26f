"""Backtest statistics against backtesting.py 0.6.6, the oracle.

`backtesting._stats.compute_stats` is called directly with the equivalent pandas inputs (a list of
stand-ins carrying the Trade attributes it reads, and, for an indicator warm-up, a stand-in
strategy whose one indicator is NaN for exactly that many bars), and every key of ours is held to
its label's value to 1e-9 relative: daily data with and without weekends, hourly, minute, weekly,
monthly and yearly data, random equity curves and trades, and the edge cases (no trades, one
trade, all winning, all losing, flat equity, never in drawdown, a drawdown only on the last bar,
ruin, NaN equity, a risk-free rate, a warm-up). Then one end-to-end run: the SmaCross example on
the GOOG data that ships with backtesting.py.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting._stats import compute_stats as bt_compute_stats
from backtesting._util import _Indicator, _indicator_warmup_nbars
from backtesting.test import GOOG

from tests.unit.test_backtest_oracle import BtSmaCross
from trading_system.strategies.statistics import STAT_LABELS, ClosedTrade, compute_stats

RTOL = 1e-9
DURATION_KEYS = {key for key in STAT_LABELS if key.endswith("_s")}
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --- the oracle ---------------------------------------------------------------------------------


class _WarmupStrategy:
    """What compute_stats reads of a Strategy: its indicators (for the warm-up and the trades'
    indicator columns). One indicator, NaN for the first `warmup` bars."""

    def __init__(self, warmup: int, n: int) -> None:
        values = np.arange(n, dtype=float)
        values[:warmup] = np.nan
        self.warm = _Indicator(values, name="warm", scatter=False)
        self._indicators = [self.warm]


def oracle(
    ts: IntArray,
    close: FloatArray,
    equity: FloatArray,
    trades: Sequence[ClosedTrade],
    warmup: int,
    risk_free_rate: float = 0.0,
    unit: str = "ns",
) -> pd.Series:
    index = pd.DatetimeIndex(ts.astype("datetime64[ns]")).as_unit(unit)
    data = pd.DataFrame({"Close": close}, index=index)
    stand_ins = [
        SimpleNamespace(
            size=t.size,
            entry_bar=t.entry_bar,
            exit_bar=t.exit_bar,
            entry_price=t.entry_price,
            exit_price=t.exit_price,
            sl=None,
            tp=None,
            pl=t.pnl,
            _commissions=t.commissions,
            pl_pct=t.return_pct,
            entry_time=pd.Timestamp(t.entry_ns, unit="ns").as_unit(unit),
            exit_time=pd.Timestamp(t.exit_ns, unit="ns").as_unit(unit),
            tag=None,
        )
        for t in trades
    ]
    strategy = _WarmupStrategy(warmup, len(ts)) if warmup else None
    if strategy is not None:
        assert _indicator_warmup_nbars(strategy) == warmup
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bt_compute_stats(stand_ins, equity.copy(), data, strategy, risk_free_rate)  # type: ignore[arg-type]


def assert_matches(mine: dict[str, Any], theirs: pd.Series) -> None:
    assert list(mine) == list(STAT_LABELS)
    json.dumps(mine, allow_nan=False)  # JSON-ready
    problems = []
    for key, label in STAT_LABELS.items():
        got = mine[key]
        if label not in theirs.index:
            # backtesting.py shows the commissions only when they are truthy
            assert key == "commissions", key
            assert got == 0.0
            continue
        want = theirs[label]
        if isinstance(want, pd.Timestamp):
            assert isinstance(got, str) and got.endswith("Z"), (key, got)
            if want.value % 1_000_000_000 == 0:
                assert len(got) == len("2020-01-01T00:00:00Z"), got
            if pd.Timestamp(got.removesuffix("Z")) != want:
                problems.append((key, got, want))
        elif key in DURATION_KEYS:
            # NaT, NaN and the non-duration float of the degenerate drawdown case are None
            expected = want.total_seconds() if isinstance(want, pd.Timedelta) else None
            if expected is None:
                if got is not None:
                    problems.append((key, got, want))
            elif got is None or not math.isclose(got, expected, rel_tol=RTOL):
                problems.append((key, got, want))
        elif key == "trades":
            assert type(got) is int and got == want
        else:
            assert got is None or type(got) is float, (key, got)
            if want is None or not math.isfinite(float(want)):
                if got is not None:
                    problems.append((key, got, want))
            elif got is None or not math.isclose(got, float(want), rel_tol=RTOL):
                problems.append((key, got, want))
    assert not problems, problems


def check(
    ts: IntArray,
    close: FloatArray,
    equity: FloatArray,
    trades: Sequence[ClosedTrade],
    warmup: int = 0,
    risk_free_rate: float = 0.0,
    unit: str = "ns",
) -> dict[str, Any]:
    mine = compute_stats(ts, close, equity, trades, warmup, risk_free_rate)
    assert_matches(mine, oracle(ts, close, equity, trades, warmup, risk_free_rate, unit))
    return mine


# --- inputs -------------------------------------------------------------------------------------


def ns(index: pd.DatetimeIndex) -> IntArray:
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def business_days(n: int, start: str = "2019-01-01") -> IntArray:
    return ns(pd.bdate_range(start, periods=n))


def calendar_days(n: int, start: str = "2019-01-01") -> IntArray:
    return ns(pd.date_range(start, periods=n, freq="D"))


def hourly(n: int, start: str = "2024-03-01 00:00") -> IntArray:
    return ns(pd.date_range(start, periods=n, freq="h"))


def trading_hours(n: int) -> IntArray:
    """Hourly bars 09:30 to 15:30 on weekdays only, as a US equity feed."""
    days = pd.bdate_range("2024-01-02", periods=n // 7 + 2)
    stamps = [
        day + pd.Timedelta(hours=9, minutes=30) + pd.Timedelta(hours=h) for day in days for h in range(7)
    ]
    return ns(pd.DatetimeIndex(stamps[:n]))


def minutes(n: int) -> IntArray:
    return ns(pd.date_range("2024-05-06 13:30", periods=n, freq="min"))


def weekly(n: int) -> IntArray:
    return ns(pd.date_range("2010-01-01", periods=n, freq="W-FRI"))


def weekly_sundays(n: int) -> IntArray:
    return ns(pd.date_range("2010-01-03 18:00", periods=n, freq="7D"))


def monthly(n: int) -> IntArray:
    return ns(pd.date_range("2000-01-01", periods=n, freq="MS"))


def month_ends(n: int) -> IntArray:
    return ns(pd.date_range("2000-01-31", periods=n, freq="ME"))


def yearly(n: int) -> IntArray:
    return ns(pd.date_range("1850-01-01", periods=min(n, 250), freq="YS"))  # before the epoch too


def irregular(n: int, seed: int) -> IntArray:
    rng = np.random.default_rng(seed)
    gaps = rng.choice([60, 300, 3_600, 86_400, 3 * 86_400 + 17], size=n - 1) * 1_000_000_000
    return np.asarray(pd.Timestamp("2022-02-02 10:00").value + np.r_[0, np.cumsum(gaps)], dtype=np.int64)


CLOCKS = {
    "business_days": business_days,
    "calendar_days": calendar_days,
    "hourly": hourly,
    "trading_hours": trading_hours,
    "minutes": minutes,
    "weekly": weekly,
    "weekly_sundays": weekly_sundays,
    "monthly": monthly,
    "month_ends": month_ends,
    "yearly": yearly,
}


def walk(
    rng: np.random.Generator, n: int, start: float, vol: float = 0.01, drift: float = 0.0003
) -> FloatArray:
    return np.asarray(start * np.cumprod(1 + rng.normal(drift, vol, n)), dtype=np.float64)


def random_trades(
    rng: np.random.Generator,
    ts: IntArray,
    close: FloatArray,
    count: int,
    commission: float = 0.002,
    lo: int = 0,
    sign: int = 0,
) -> list[ClosedTrade]:
    """Random entries and exits (overlapping allowed), long and short, with commissions."""
    n = len(ts)
    trades = []
    for _ in range(count):
        entry = int(rng.integers(lo, n))
        exit_ = int(rng.integers(entry, min(n, entry + 40)))
        size = float(rng.integers(1, 50)) * (sign or (1 if rng.random() < 0.6 else -1))
        entry_price, exit_price = float(close[entry]), float(close[exit_])
        fees = commission * abs(size) * (entry_price + exit_price)
        pnl = size * (exit_price - entry_price) - fees
        trades.append(
            ClosedTrade(
                size=size,
                entry_bar=entry,
                exit_bar=exit_,
                entry_price=entry_price,
                exit_price=exit_price,
                pnl=pnl,
                return_pct=pnl / (abs(size) * entry_price),
                commissions=fees,
                entry_ns=int(ts[entry]),
                exit_ns=int(ts[exit_]),
            )
        )
    trades.sort(key=lambda t: (t.exit_bar, t.entry_bar))
    return trades


def trade(
    ts: IntArray,
    entry: int,
    exit_: int,
    pnl: float,
    return_pct: float,
    commissions: float = 0.0,
    size: float = 1.0,
) -> ClosedTrade:
    return ClosedTrade(
        size=size,
        entry_bar=entry,
        exit_bar=exit_,
        entry_price=100.0,
        exit_price=100.0 + pnl / size,
        pnl=pnl,
        return_pct=return_pct,
        commissions=commissions,
        entry_ns=int(ts[entry]),
        exit_ns=int(ts[exit_]),
    )


# --- random cases over every clock --------------------------------------------------------------


@pytest.mark.parametrize("clock", sorted(CLOCKS))
@pytest.mark.parametrize("seed", range(6))
def test_random_runs_match_backtesting(clock: str, seed: int) -> None:
    rng = np.random.default_rng([sorted(CLOCKS).index(clock), seed])
    ts = CLOCKS[clock](int(rng.choice([3, 7, 40, 150, 400, 1_200])))
    n = len(ts)
    close = walk(rng, n, 100.0)
    equity = walk(rng, n, 10_000.0, vol=float(rng.choice([0.001, 0.01, 0.05])))
    warmup = int(rng.integers(0, min(n, 25)))
    equity[: warmup + 1] = 10_000.0  # flat before trading starts, as backtesting.py backfills
    count = int(rng.choice([0, 1, 2, 5, 30, 100]))
    commission = float(rng.choice([0.0, 0.002]))
    trades = random_trades(rng, ts, close, count, commission, lo=warmup)
    risk_free_rate = float(rng.choice([0.0, 0.0, 0.03, -0.01]))
    check(ts, close, equity, trades, warmup, risk_free_rate)


@pytest.mark.parametrize("seed", range(8))
def test_irregular_timestamps_match_backtesting(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    ts = irregular(n, seed)
    close = walk(rng, n, 50.0)
    equity = walk(rng, n, 1_000.0)
    check(ts, close, equity, random_trades(rng, ts, close, 20))


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_coarser_index_units_match_backtesting(unit: str) -> None:
    """pandas may hold the index in seconds or microseconds (GOOG is datetime64[us])."""
    rng = np.random.default_rng(7)
    for ts in (business_days(500), calendar_days(300), hourly(500), weekly(200)):
        n = len(ts)
        close = walk(rng, n, 100.0)
        equity = walk(rng, n, 10_000.0)
        check(ts, close, equity, random_trades(rng, ts, close, 25), 5, unit=unit)


@pytest.mark.parametrize(
    ("base", "extras"),
    [
        # weekly bars on Saturdays, extra ones on Sundays (same Monday-Sunday week) and Mondays (next)
        (
            pd.date_range("2015-01-03", periods=120, freq="7D"),
            ["2015-02-01", "2015-02-09", "2015-06-14 23:59:59"],
        ),
        # monthly bars, extras on the last and first days of months
        (
            pd.date_range("2001-01-15", periods=80, freq="MS"),
            ["2002-03-31 23:00", "2002-04-01", "2004-12-31"],
        ),
        # yearly bars, extras on December 31st and January 1st
        (
            pd.date_range("1960-07-01", periods=60, freq="YS"),
            ["1969-12-31 12:00", "1971-01-01", "1999-12-31"],
        ),
    ],
)
def test_period_bins_are_calendar_weeks_months_and_years(base: pd.DatetimeIndex, extras: list[str]) -> None:
    index = base.append(pd.DatetimeIndex(extras).as_unit(base.unit)).sort_values()
    ts = ns(index)
    rng = np.random.default_rng(len(ts))
    close = walk(rng, len(ts), 30.0, vol=0.05)
    check(ts, close, walk(rng, len(ts), 2_000.0, vol=0.05), random_trades(rng, ts, close, 12))


def test_weekends_rule_at_its_threshold() -> None:
    """have_weekends: over 2/7 * 0.6 of the bars on Saturday or Sunday means 365 days a year."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2021-01-04", periods=140, freq="D")
    for keep_weekend_share in (0.0, 0.4, 0.55, 0.62, 0.7, 1.0):
        weekend = days.day_of_week >= 5
        keep = ~weekend | (rng.random(len(days)) < keep_weekend_share)
        ts = ns(days[keep])
        n = len(ts)
        check(ts, walk(rng, n, 10.0), walk(rng, n, 500.0), [])


# --- edge cases ---------------------------------------------------------------------------------


def test_no_trades_flat_equity() -> None:
    ts = business_days(300)
    close = walk(np.random.default_rng(1), 300, 100.0)
    equity = np.full(300, 10_000.0)
    mine = check(ts, close, equity, [])
    assert mine["trades"] == 0
    assert mine["commissions"] == 0.0
    assert mine["volatility_ann_pct"] == 0.0
    assert mine["sharpe_ratio"] is None  # zero variance
    assert mine["sortino_ratio"] is None
    assert mine["calmar_ratio"] is None
    assert mine["max_drawdown_pct"] == 0.0
    assert mine["avg_drawdown_pct"] is None
    assert mine["max_drawdown_duration_s"] is None and mine["avg_drawdown_duration_s"] is None
    for key in ("win_rate_pct", "best_trade_pct", "avg_trade_pct", "profit_factor", "sqn", "kelly_criterion"):
        assert mine[key] is None
    assert mine["max_trade_duration_s"] is None and mine["avg_trade_duration_s"] is None
    assert mine["exposure_time_pct"] == 0.0


def test_one_trade() -> None:
    rng = np.random.default_rng(2)
    ts = business_days(120)
    close = walk(rng, 120, 100.0)
    equity = walk(rng, 120, 10_000.0)
    mine = check(ts, close, equity, [trade(ts, 10, 30, 120.0, 0.012, commissions=4.0)], warmup=9)
    assert mine["trades"] == 1
    assert mine["sqn"] is None  # the sample std of one PnL is NaN
    assert mine["profit_factor"] is None  # no losing trade
    assert mine["kelly_criterion"] is None
    assert mine["win_rate_pct"] == 100.0
    assert mine["commissions"] == 4.0
    assert mine["max_trade_duration_s"] == mine["avg_trade_duration_s"] == (ts[30] - ts[10]) / 1e9


def test_all_winning_and_all_losing() -> None:
    rng = np.random.default_rng(4)
    ts = calendar_days(400)
    close = walk(rng, 400, 100.0)
    equity = walk(rng, 400, 10_000.0)
    winners = [trade(ts, i, i + 5, 10.0 + i, 0.01 + i / 1e4, commissions=1.0) for i in range(0, 300, 10)]
    losers = [
        trade(ts, i, i + 3, -10.0 - i, -0.01 - i / 1e4, commissions=1.0, size=-2.0) for i in range(0, 300, 10)
    ]
    won = check(ts, close, equity, winners)
    assert won["win_rate_pct"] == 100.0 and won["profit_factor"] is None and won["kelly_criterion"] is None
    lost = check(ts, close, equity, losers)
    assert lost["win_rate_pct"] == 0.0 and lost["profit_factor"] == 0.0 and lost["kelly_criterion"] is None


def test_breakeven_trades_count_as_neither() -> None:
    ts = business_days(50)
    rng = np.random.default_rng(5)
    close, equity = walk(rng, 50, 100.0), walk(rng, 50, 10_000.0)
    trades = [trade(ts, 1, 4, 0.0, 0.0), trade(ts, 5, 9, 5.0, 0.01), trade(ts, 10, 12, -2.5, -0.004)]
    check(ts, close, equity, trades)


def test_never_in_drawdown() -> None:
    ts = hourly(200)
    equity = 10_000.0 + np.arange(200, dtype=float)
    close = walk(np.random.default_rng(6), 200, 20.0)
    mine = check(ts, close, equity, [trade(ts, 0, 199, 199.0, 0.0199)])
    assert mine["max_drawdown_pct"] == 0.0
    assert mine["max_drawdown_duration_s"] is None and mine["avg_drawdown_pct"] is None
    assert mine["calmar_ratio"] is None
    assert mine["exposure_time_pct"] == 100.0


def test_drawdown_only_on_the_last_bar() -> None:
    """backtesting.py leaks the drawdown fraction into the durations here; ours are None."""
    ts = business_days(30)
    equity = np.r_[10_000.0 + np.arange(29, dtype=float), 9_000.0]
    close = walk(np.random.default_rng(8), 30, 20.0)
    theirs = oracle(ts, close, equity, [], 0)
    assert not isinstance(theirs["Max. Drawdown Duration"], pd.Timedelta)
    mine = check(ts, close, equity, [])
    assert mine["max_drawdown_duration_s"] is None and mine["avg_drawdown_duration_s"] is None
    assert mine["avg_drawdown_pct"] == pytest.approx(-100 * (1 - 9_000 / 10_028))
    # with two bars, the same
    check(ts[:2], close[:2], np.array([100.0, 90.0]), [])


def test_last_bar_drawdown_after_earlier_ones_is_ignored_like_backtesting() -> None:
    ts = business_days(12)
    equity = np.array([100, 101, 99, 98, 102, 103, 100, 104, 105, 106, 107, 104], dtype=float)
    close = np.linspace(10, 12, 12)
    mine = check(ts, close, equity, [])
    assert mine["max_drawdown_duration_s"] == 3 * 86_400 + 2 * 86_400  # Tue..Mon, ceiled to days


def test_drawdowns_durations_are_ceiled_to_the_data_resolution() -> None:
    """Hourly data: durations ceil to hours; the mean of 1 h and 2 h (1.5 h) becomes 2 h."""
    ts = hourly(10)
    equity = np.array([10, 9, 10, 9.5, 9.8, 10, 10, 11, 12, 13], dtype=float)
    mine = check(ts, np.linspace(1, 2, 10), equity, [])
    assert mine["max_drawdown_duration_s"] == 3 * 3600
    assert mine["avg_drawdown_duration_s"] == 3 * 3600


def test_ruin_equity_hits_zero() -> None:
    rng = np.random.default_rng(9)
    ts = business_days(200)
    close = walk(rng, 200, 100.0)
    equity = walk(rng, 200, 10_000.0)
    equity[120:] = 0.0
    trades = [trade(ts, 100, 120, -10_000.0, -1.2, commissions=3.0), trade(ts, 10, 20, 50.0, 0.05)]
    mine = check(ts, close, equity, trades)
    assert mine["return_ann_pct"] == 0.0  # a day return <= -100% makes the geometric mean 0
    assert mine["avg_trade_pct"] == 0.0  # and a trade return <= -100% too
    assert mine["beta"] is None  # log(0) in the equity's log returns


def test_nan_equity_is_skipped_by_the_resample() -> None:
    rng = np.random.default_rng(10)
    ts = calendar_days(100)
    close = walk(rng, 100, 100.0)
    equity = walk(rng, 100, 10_000.0)
    equity[[20, 21, 50]] = np.nan
    check(ts, close, equity, random_trades(rng, ts, close, 10))


def test_nan_trade_values_are_skipped_like_pandas() -> None:
    rng = np.random.default_rng(11)
    ts = business_days(80)
    close, equity = walk(rng, 80, 100.0), walk(rng, 80, 10_000.0)
    trades = [
        trade(ts, 1, 4, 10.0, 0.01),
        trade(ts, 5, 9, math.nan, math.nan),
        trade(ts, 10, 12, -2.5, -0.004),
    ]
    trades += [trade(ts, 20, 30, 7.0, 0.007), trade(ts, 31, 40, -1.0, -0.001)]
    check(ts, close, equity, trades)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_histories(n: int) -> None:
    ts = business_days(n)
    close = np.linspace(100.0, 110.0, n)
    equity = np.linspace(10_000.0, 10_500.0, n)
    check(ts, close, equity, [])
    check(ts, close, equity, [trade(ts, 0, n - 1, 500.0, 0.05, commissions=1.0)])


def test_exposure_counts_bars_from_entry_to_exit_inclusive() -> None:
    ts = business_days(20)
    rng = np.random.default_rng(15)
    close, equity = walk(rng, 20, 100.0), walk(rng, 20, 10_000.0)
    overlapping = [trade(ts, 2, 5, 1.0, 0.01), trade(ts, 4, 8, 1.0, 0.01), trade(ts, 19, 19, 1.0, 0.01)]
    assert check(ts, close, equity, overlapping)["exposure_time_pct"] == 40.0
    # bars out of order take backtesting.py's slice semantics (an empty slice marks nothing)
    odd = [*overlapping, ClosedTrade(1.0, 12, 10, 1.0, 1.0, 1.0, 0.01, 0.0, int(ts[12]), int(ts[10]))]
    assert check(ts, close, equity, odd)["exposure_time_pct"] == 40.0


def test_buy_and_hold_starts_after_the_warm_up() -> None:
    ts = business_days(60)
    close = np.linspace(50.0, 80.0, 60)
    equity = np.full(60, 1_000.0)
    for warmup in (0, 1, 19, 59):
        mine = check(ts, close, equity, [], warmup)
        assert mine["buy_and_hold_return_pct"] == pytest.approx((80.0 - close[warmup]) / close[warmup] * 100)


def test_sub_second_timestamps_are_iso_with_fraction() -> None:
    start = pd.Timestamp("2024-01-02 09:30:00.250").value
    ts = np.asarray(start + np.arange(50) * 1_500_000_000, dtype=np.int64)
    rng = np.random.default_rng(12)
    mine = check(
        ts, walk(rng, 50, 10.0), walk(rng, 50, 100.0), random_trades(rng, ts, walk(rng, 50, 10.0), 5)
    )
    assert mine["start"] == "2024-01-02T09:30:00.250Z"
    assert mine["end"] == "2024-01-02T09:31:13.750Z"


def test_whole_second_timestamps_are_iso_to_the_second() -> None:
    ts = business_days(5, "2024-07-01")
    mine = compute_stats(ts, np.ones(5), np.ones(5), [], 0)
    assert mine["start"] == "2024-07-01T00:00:00Z" and mine["end"] == "2024-07-05T00:00:00Z"
    assert mine["duration_s"] == 4 * 86_400


def test_invalid_inputs() -> None:
    ts = business_days(5)
    with pytest.raises(ValueError):
        compute_stats(ts, np.ones(4), np.ones(5), [], 0)
    with pytest.raises(ValueError):
        compute_stats(ts, np.ones(5), np.ones(5), [], 5)
    with pytest.raises(ValueError):
        compute_stats(ts, np.ones(5), np.ones(5), [], 0, risk_free_rate=1.0)
    with pytest.raises(ValueError):
        compute_stats(ts[:0], np.ones(0), np.ones(0), [], 0)


def test_labels_are_backtesting_labels() -> None:
    ts = business_days(100)
    rng = np.random.default_rng(13)
    close = walk(rng, 100, 100.0)
    theirs = oracle(ts, close, walk(rng, 100, 1e4), random_trades(rng, ts, close, 10), 0)
    public = [label for label in theirs.index if not label.startswith("_")]
    assert public == list(STAT_LABELS.values())


def test_fast() -> None:
    rng = np.random.default_rng(14)
    ts = business_days(2_500)
    close = walk(rng, 2_500, 100.0)
    equity = walk(rng, 2_500, 10_000.0)
    trades = random_trades(rng, ts, close, 100)
    best = math.inf
    for _ in range(20):
        started = time.perf_counter()
        compute_stats(ts, close, equity, trades, 19)
        best = min(best, time.perf_counter() - started)
    assert best < 0.01, best


# --- end to end: backtesting.py's own example on its GOOG data ----------------------------------


def test_end_to_end_goog_sma_cross() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(GOOG, BtSmaCross, cash=10_000, commission=0.002, finalize_trades=True).run()
    warmup = _indicator_warmup_nbars(stats["_strategy"])
    assert warmup == 19
    frame = stats["_trades"]
    trades = [
        ClosedTrade(
            size=float(row.Size),
            entry_bar=int(row.EntryBar),
            exit_bar=int(row.ExitBar),
            entry_price=float(row.EntryPrice),
            exit_price=float(row.ExitPrice),
            pnl=float(row.PnL),
            return_pct=float(row.ReturnPct),
            commissions=float(row.Commission),
            entry_ns=pd.Timestamp(row.EntryTime).as_unit("ns").value,
            exit_ns=pd.Timestamp(row.ExitTime).as_unit("ns").value,
        )
        for row in frame.itertuples(index=False)
    ]
    assert any(t.size < 0 for t in trades) and any(t.size > 0 for t in trades)
    equity = stats["_equity_curve"]["Equity"].to_numpy(dtype=float)
    mine = compute_stats(ns(GOOG.index), GOOG["Close"].to_numpy(dtype=float), equity, trades, warmup)
    assert "Commissions [$]" in stats.index
    assert_matches(mine, stats)
    assert mine["trades"] == len(frame) > 50
