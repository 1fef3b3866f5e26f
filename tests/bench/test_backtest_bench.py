"""Backtest speed against backtesting.py 0.6.6, in one process, interleaved.

SmaCross(10, 20) on backtesting.py's GOOG daily data (2,148 bars), cash 10,000, commission
0.002, finalize_trades=True: backtesting.py's `Backtest(...).run()` against our `backtest()`
(indicators, engine and statistics, all of it), each run 30 times after 3 warm-ups, alternating,
medians reported. The trades must be identical (asserted: a benchmark of a wrong answer is
worthless). Our plain bar-by-bar path (every_bar=True, no idle-bar skipping) is reported too.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backtesting import Backtest
from backtesting.test import GOOG

from tests.bench import report
from tests.bench.report import Target
from tests.unit.test_backtest_oracle import BtSmaCross, bars_of
from trading_system.strategies.backtest import backtest
from trading_system.strategies.builtin import SmaCross
from trading_system.strategies.fills import PROFILES

SECTION = "backtest: SmaCross(10, 20) on GOOG daily (2,148 bars), cash 10,000, commission 0.002"
SPEEDUP = Target(">", 10, source="issue 14: at least 10x backtesting.py, identical trades")
RUNS = 30
WARMUPS = 3


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """As timeit does: garbage collected before, the collector off while timing, for both sides
    alike (otherwise one side pays for the other's garbage at random)."""
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        result = action()
        return time.perf_counter() - began, result
    finally:
        gc.enable()


def test_backtest_speed_against_backtesting_py() -> None:
    bars = bars_of(GOOG)
    profile = PROFILES["backtesting_py"].with_costs(0.002, None)
    strategy = SmaCross(SmaCross.Params(n1=10, n2=20))

    def theirs() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Backtest(GOOG, BtSmaCross, cash=10_000, commission=0.002, finalize_trades=True).run()

    def ours() -> Any:
        return backtest(strategy, bars, 10_000, profile, True)

    def plain() -> Any:
        return backtest(strategy, bars, 10_000, profile, True, every_bar=True)

    times: dict[str, list[float]] = {"theirs": [], "ours": [], "plain": []}
    for n in range(WARMUPS + RUNS):
        for name, action in (("theirs", theirs), ("ours", ours), ("plain", plain)):
            seconds, result = _timed(action)
            if n >= WARMUPS:
                times[name].append(seconds)
            last = result
            if name == "theirs":
                expected = [
                    (float(t.Size), int(t.EntryBar), int(t.ExitBar), float(t.ExitPrice))
                    for t in last["_trades"].itertuples()
                ]
            else:
                got = [(t.size, t.entry_bar, t.exit_bar, t.exit_price) for t in last.run.trades]
                assert got == expected, f"{name}: trades differ from backtesting.py's"

    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    report.section(SECTION)
    report.figure(SECTION, "baseline: backtesting.py Backtest.run(): median", medians["theirs"], "ms")
    report.figure(
        SECTION,
        "ours: backtest() (indicators, engine, statistics): median",
        medians["ours"],
        "ms",
        None,
        medians["theirs"],
        note=f"{RUNS} runs after {WARMUPS} warm-ups, interleaved; 94 trades, identical",
    )
    report.figure(
        SECTION, "ours, bar by bar (every_bar=True): median", medians["plain"], "ms", None, medians["theirs"]
    )
    report.figure(
        SECTION,
        "speed-up over backtesting.py (its median / ours)",
        medians["theirs"] / medians["ours"],
        "x",
        SPEEDUP,
    )


PORTFOLIO = "backtest: portfolio of 500 symbols x 10 years of daily bars (2,520), shared cash"
PORTFOLIO_SECONDS = Target("<", 5, source="DESIGN.md §11 / issue 14")
PORTFOLIO_MB = Target("<", 1024, source="DESIGN.md §11 / issue 14")


def test_portfolio_backtest_of_500_symbols() -> None:
    """SmaCross(10, 50) on 500 synthetic symbols (seeded random walks) over 2,520 daily bars,
    1,000,000 cash, commission 0.001, in a child process so its peak memory is its own."""
    child = report.run_child(
        [sys.executable, "-c", _PORTFOLIO_CHILD], report.child_env(), Path(__file__).resolve().parents[2]
    )
    result = child.result()
    report.section(PORTFOLIO)
    report.figure(
        PORTFOLIO,
        "wall time (bars to statistics)",
        result["seconds"],
        "s",
        PORTFOLIO_SECONDS,
        note=f"{result['trades']:,} trades; {result['bar_steps']:,} symbol-bars",
    )
    report.figure(
        PORTFOLIO,
        "peak memory of the process",
        result["peak_mb"],
        "MB",
        PORTFOLIO_MB,
        baseline=result["baseline_mb"],
        note="baseline: the process with the bars built, before the run",
    )


_PORTFOLIO_CHILD = """
import time
import numpy as np
from tests.bench import report
from trading_system.strategies.backtest import backtest_portfolio
from trading_system.strategies.builtin import SmaCross
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES

rng = np.random.default_rng(7)
symbols, length = 500, 2520
days = np.datetime64("2015-01-02") + np.arange(length).astype("timedelta64[D]")
ts = days.astype("datetime64[ns]").astype(np.int64)
bars = {}
for k in range(symbols):
    close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, length)))
    open_ = close * (1 + rng.normal(0, 0.003, length))
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    bars[f"S{k:03d}"] = Bars(ts, open_, high, low, close, np.full(length, 1e6))
strategies = {s: SmaCross(SmaCross.Params(n1=10, n2=50)) for s in bars}
baseline = report.rss_mb()
began = time.perf_counter()
out = backtest_portfolio(strategies, bars, 1_000_000, PROFILES["backtesting_py"].with_costs(0.001, None))
seconds = time.perf_counter() - began
report.emit({"seconds": seconds, "trades": len(out.run.trades), "bar_steps": symbols * length,
             "peak_mb": report.peak_rss_mb(), "baseline_mb": baseline})
"""
