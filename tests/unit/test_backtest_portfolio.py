"""Portfolio backtests: several symbols sharing one cash account. With one symbol the portfolio
engine is the single-symbol engine (so backtesting.py's oracle covers it too); with more, the
cash is shared, each symbol keeps its own bars, and timelines that differ are merged."""

from __future__ import annotations

import numpy as np
import pytest
from backtesting.test import GOOG

from tests.unit.test_backtest_oracle import bars_of
from trading_system.strategies.backtest import backtest, backtest_portfolio
from trading_system.strategies.builtin import DonchianBreakout, SmaCross
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES

PROFILE = PROFILES["backtesting_py"].with_costs(0.002, None)


def sma_cross() -> SmaCross:
    return SmaCross(SmaCross.Params(n1=10, n2=20))


def flat(bars: Bars, price: float = 50.0) -> Bars:
    """A symbol whose price never moves: no cross, no trade, ever."""
    constant = np.full(len(bars), price)
    return Bars(bars.ts_ns.copy(), constant, constant, constant, constant, np.full(len(bars), 1e6))


@pytest.mark.parametrize("finalize", [True, False])
def test_one_symbol_is_the_single_symbol_engine(finalize: bool) -> None:
    goog = bars_of(GOOG)
    single = backtest(sma_cross(), goog, 10_000, PROFILE, finalize)
    portfolio = backtest_portfolio({"GOOG": sma_cross()}, {"GOOG": goog}, 10_000, PROFILE, finalize)
    assert [t for _, t in portfolio.run.trades] == single.run.trades
    assert np.array_equal(portfolio.run.equity, single.run.equity)
    assert portfolio.stats.keys() == single.stats.keys()
    for key, value in single.stats.items():
        if isinstance(value, float):
            assert portfolio.stats[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert portfolio.stats[key] == value, key


def test_a_symbol_that_never_trades_changes_nothing() -> None:
    goog = bars_of(GOOG)
    single = backtest(sma_cross(), goog, 10_000, PROFILE)
    portfolio = backtest_portfolio(
        {"GOOG": sma_cross(), "FLAT": sma_cross()}, {"GOOG": goog, "FLAT": flat(goog)}, 10_000, PROFILE
    )
    assert [t for _, t in portfolio.run.trades] == single.run.trades
    assert {symbol for symbol, _ in portfolio.run.trades} == {"GOOG"}
    assert np.array_equal(portfolio.run.equity, single.run.equity)


def test_the_cash_is_shared_first_come_first_served() -> None:
    """Two symbols with the same prices cross on the same bars: the first one's order takes all
    the margin, the second's gets what whole units leave over (nothing, or a few units)."""
    goog = bars_of(GOOG)
    twin = Bars(goog.ts_ns, goog.open, goog.high, goog.low, goog.close, goog.volume)
    single = backtest(sma_cross(), goog, 10_000, PROFILE)
    portfolio = backtest_portfolio(
        {"A": sma_cross(), "B": sma_cross()}, {"A": goog, "B": twin}, 10_000, PROFILE
    )
    a = [t for symbol, t in portfolio.run.symbol_trades if symbol == "A"]
    b = [t for symbol, t in portfolio.run.symbol_trades if symbol == "B"]
    assert a[0] == single.run.trades[0]  # the first trade: A alone, exactly as on its own
    assert all(t.entry_bar > a[0].entry_bar for t in b)  # B's first order was canceled
    traded = {name: sum(abs(t.size) * t.entry_price for t in trades) for name, trades in (("a", a), ("b", b))}
    assert traded["b"] < traded["a"] / 4  # B only ever gets what whole units leave over
    assert len(a) == len(single.run.trades)
    assert (portfolio.run.equity > 0).all()


def test_half_the_equity_each_buys_both() -> None:
    goog = bars_of(GOOG)
    params = DonchianBreakout.Params(entry=20, exit=10, fraction=0.5)
    strategies = {"A": DonchianBreakout(params), "B": DonchianBreakout(params)}
    portfolio = backtest_portfolio(strategies, {"A": goog, "B": goog}, 100_000, PROFILE)
    symbols = [symbol for symbol, _ in portfolio.run.trades]
    assert symbols.count("A") > 5 and symbols.count("B") > 5
    # B buys with half of what A left: its positions are smaller
    sizes = {s: max(abs(t.size) for sym, t in portfolio.run.trades if sym == s) for s in ("A", "B")}
    assert sizes["B"] < sizes["A"]


def test_different_calendars_are_merged_on_one_timeline() -> None:
    goog = bars_of(GOOG)
    later = Bars(
        *(column[500:] for column in (goog.ts_ns, goog.open, goog.high, goog.low, goog.close, goog.volume))
    )
    portfolio = backtest_portfolio(
        {"GOOG": sma_cross(), "LATER": sma_cross()}, {"GOOG": goog, "LATER": later}, 10_000, PROFILE
    )
    assert len(portfolio.run.equity) == len(goog) == len(portfolio.run.timeline_ns)
    late = [t for symbol, t in portfolio.run.symbol_trades if symbol == "LATER"]
    assert all(t.entry_ns >= int(goog.ts_ns[500]) for t in late)
    assert not np.isnan(portfolio.run.equity).any()
    assert portfolio.stats["trades"] == len(portfolio.run.trades)
