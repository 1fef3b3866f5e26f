"""The oracle: backtesting.py 0.6.6 on its own data must give the same trades (bars, prices,
sizes), the same equity curve and the same statistics as our engine with the `backtesting_py`
profile, in both of its finalize_trades modes."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtStrategy
from backtesting.lib import crossover
from backtesting.test import EURUSD, GOOG, SMA

from trading_system.strategies.backtest import BacktestPath, backtest
from trading_system.strategies.builtin import BUILTIN, SmaCross
from trading_system.strategies.domain import Context, Indicator, Strategy, StrategyParams
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES
from trading_system.strategies.statistics import STAT_LABELS


def bars_of(frame: pd.DataFrame) -> Bars:
    return Bars(
        frame.index.values.astype("datetime64[ns]").astype(np.int64),
        frame.Open.to_numpy(float),
        frame.High.to_numpy(float),
        frame.Low.to_numpy(float),
        frame.Close.to_numpy(float),
        frame.Volume.to_numpy(float),
    )


class BtSmaCross(BtStrategy):
    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


class BtBracketed(BtSmaCross):
    """Long entries with a stop-loss and a take-profit, a quarter of the equity each."""

    def next(self) -> None:
        price = self.data.Close[-1]
        if crossover(self.sma1, self.sma2):
            self.buy(size=0.25, sl=price * 0.95, tp=price * 1.08)


class Bracketed(Strategy):
    name = "bracketed_test"

    class Params(StrategyParams):
        n1: int = 10
        n2: int = 20

    def indicators(self) -> Mapping[str, Indicator]:
        return {"fast": f"sma:{self.params.n1}", "slow": f"sma:{self.params.n2}"}

    def next(self, ctx: Context) -> None:
        if ctx.crossed_above("fast", "slow"):
            ctx.buy(fraction=0.25, stop_loss=ctx.price * 0.95, take_profit=ctx.price * 1.08)


class BtLimitEntry(BtSmaCross):
    """A limit order just under the close on each up-cross; a stop order to leave on a down-cross."""

    def next(self) -> None:
        price = self.data.Close[-1]
        if self.orders:
            return
        if crossover(self.sma1, self.sma2) and not self.position:
            self.buy(size=10, limit=price * 0.998)
        elif crossover(self.sma2, self.sma1) and self.position.size > 0:
            self.sell(size=self.position.size, stop=price * 0.998)


class LimitEntry(Bracketed):
    name = "limit_entry_test"

    def next(self, ctx: Context) -> None:
        if ctx.pending_orders:
            return
        if ctx.crossed_above("fast", "slow") and not ctx.position:
            ctx.buy(10, limit=ctx.price * 0.998)
        elif ctx.crossed_below("fast", "slow") and ctx.position > 0:
            ctx.sell(ctx.position, stop=ctx.price * 0.998)


def theirs(
    data: pd.DataFrame, kind: type[BtStrategy], cash: float, commission: float, finalize: bool, **params: Any
) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(data, kind, cash=cash, commission=commission, finalize_trades=finalize).run(**params)


def ours(
    data: pd.DataFrame,
    strategy: Strategy,
    cash: float,
    commission: float,
    finalize: bool,
    path: BacktestPath = "fastest",
) -> Any:
    profile = PROFILES["backtesting_py"].with_costs(commission, None)
    return backtest(strategy, bars_of(data), cash, profile, finalize, path)


PATHS = ["fastest", "engine"]  # SmaCross's vectorised form, and the event-driven engine


def assert_same(expected: pd.Series, outcome: Any) -> None:
    trades = expected["_trades"]
    want = [
        (float(t.Size), int(t.EntryBar), int(t.ExitBar), float(t.EntryPrice), float(t.ExitPrice))
        for t in trades.itertuples()
    ]
    got = [(t.size, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price) for t in outcome.run.trades]
    assert got == want
    for t, row in zip(outcome.run.trades, trades.itertuples(), strict=True):
        assert t.pnl == pytest.approx(row.PnL, rel=1e-12, abs=1e-9)
        assert t.return_pct == pytest.approx(row.ReturnPct, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(outcome.run.equity, expected["_equity_curve"]["Equity"].to_numpy(), rtol=1e-12)
    for key, label in STAT_LABELS.items():
        if label not in expected.index:
            continue  # backtesting.py leaves 'Commissions [$]' out when there are none
        value, want_value = outcome.stats[key], expected[label]
        if isinstance(want_value, pd.Timedelta):
            want_value = want_value.total_seconds()
        elif isinstance(want_value, pd.Timestamp):
            assert pd.Timestamp(str(value).removesuffix("Z")) == want_value.tz_localize(None), key
            continue
        if want_value is None or (isinstance(want_value, float) and math.isnan(want_value)):
            assert value is None, key
        else:
            assert value == pytest.approx(float(want_value), rel=1e-6, abs=1e-9), key


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("finalize", [True, False], ids=["finalize", "keep-open"])
def test_sma_cross_on_goog_matches_backtesting_py(finalize: bool, path: BacktestPath) -> None:
    expected = theirs(GOOG, BtSmaCross, 10_000, 0.002, finalize)
    outcome = ours(GOOG, SmaCross(SmaCross.Params(n1=10, n2=20)), 10_000, 0.002, finalize, path)
    assert_same(expected, outcome)
    assert len(outcome.run.trades) == int(expected["# Trades"])
    assert bool(outcome.run.open_trades) is not finalize


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("n1", "n2", "commission", "cash"),
    [(5, 30, 0.0, 10_000), (20, 50, 0.01, 10_000), (15, 40, 0.001, 1_000_000), (3, 8, 0.0005, 25_000)],
)
def test_other_windows_commissions_and_cash_match(
    n1: int, n2: int, commission: float, cash: float, path: BacktestPath
) -> None:
    expected = theirs(GOOG, BtSmaCross, cash, commission, True, n1=n1, n2=n2)
    strategy = SmaCross(SmaCross.Params(n1=n1, n2=n2))
    assert_same(expected, ours(GOOG, strategy, cash, commission, True, path))


@pytest.mark.parametrize("path", PATHS)
def test_hourly_data_matches(path: BacktestPath) -> None:
    expected = theirs(EURUSD, BtSmaCross, 10_000, 0.0002, True, n1=12, n2=48)
    strategy = SmaCross(SmaCross.Params(n1=12, n2=48))
    assert_same(expected, ours(EURUSD, strategy, 10_000, 0.0002, True, path))


@pytest.mark.parametrize(
    ("bt_kind", "kind"),
    [(BtBracketed, Bracketed), (BtLimitEntry, LimitEntry)],
    ids=["brackets", "limit-stop"],
)
def test_brackets_limits_and_stops_match(bt_kind: type[BtStrategy], kind: type[Strategy]) -> None:
    expected = theirs(GOOG, bt_kind, 10_000, 0.002, True)
    outcome = ours(GOOG, kind(kind.Params()), 10_000, 0.002, True)
    assert len(outcome.run.trades) > 5
    assert_same(expected, outcome)


@pytest.mark.parametrize("kind", BUILTIN, ids=lambda k: k.name)
def test_skipping_idle_bars_changes_nothing(kind: type[Strategy]) -> None:
    """The engine's fast path (the strategy names the bars it may act on) against the plain one."""
    strategy = kind(kind.Params())
    fast = ours(GOOG, strategy, 10_000, 0.002, True, "engine")
    plain = ours(GOOG, strategy, 10_000, 0.002, True, "every_bar")
    assert fast.run.trades == plain.run.trades
    assert np.array_equal(fast.run.equity, plain.run.equity)
    assert fast.stats == plain.stats
    assert len(fast.run.trades) > 3


def test_a_strategy_never_sees_a_later_bar() -> None:
    seen: list[tuple[int, int]] = []

    class Peeking(Strategy):
        name = "peeking_test"

        def next(self, ctx: Context) -> None:
            seen.append((ctx.i, len(ctx.history("close"))))
            with pytest.raises(ValueError, match="cannot read the future"):
                ctx.value("close", ago=-1)
            assert not ctx.history("close").flags.writeable

    ours(GOOG.iloc[:50], Peeking(StrategyParams()), 10_000, 0.0, True)
    assert seen and all(length == i + 1 for i, length in seen)
