"""Backtest speed against backtesting.py 0.6.6, in one process, interleaved.

SmaCross(10, 20) on backtesting.py's GOOG daily data (2,148 bars), cash 10,000, commission
0.002, finalize_trades=True: backtesting.py's `Backtest(...).run()` against our `backtest()`
(indicators, the run and statistics, all of it: for SmaCross its vectorised form, which is what
a user's backtest runs), each run 30 times after 3 warm-ups, alternating, medians reported. The
trades must be identical (asserted: a benchmark of a wrong answer is worthless). The
event-driven engine (path="engine") and its plain bar-by-bar path are reported too.
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

    def engine() -> Any:
        return backtest(strategy, bars, 10_000, profile, True, path="engine")

    def plain() -> Any:
        return backtest(strategy, bars, 10_000, profile, True, path="every_bar")

    times: dict[str, list[float]] = {"theirs": [], "ours": [], "engine": [], "plain": []}
    for n in range(WARMUPS + RUNS):
        for name, action in (("theirs", theirs), ("ours", ours), ("engine", engine), ("plain", plain)):
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
        "ours: backtest() (SmaCross's vectorised form, statistics): median",
        medians["ours"],
        "ms",
        None,
        medians["theirs"],
        note=f"{RUNS} runs after {WARMUPS} warm-ups, interleaved; 94 trades, identical",
    )
    report.figure(
        SECTION,
        'the event-driven engine (path="engine", indicators, engine, statistics): median',
        medians["engine"],
        "ms",
        None,
        medians["theirs"],
    )
    report.figure(
        SECTION,
        'the engine bar by bar (path="every_bar"): median',
        medians["plain"],
        "ms",
        None,
        medians["theirs"],
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
from tests.bench.synthetic import random_walk_universe
from trading_system.strategies.backtest import backtest_portfolio
from trading_system.strategies.builtin import SmaCross
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES

symbols, length = 500, 2520
bars = random_walk_universe(symbols, length, seed=7)
strategies = {s: SmaCross(SmaCross.Params(n1=10, n2=50)) for s in bars}
baseline = report.rss_mb()
began = time.perf_counter()
out = backtest_portfolio(strategies, bars, 1_000_000, PROFILES["backtesting_py"].with_costs(0.001, None))
seconds = time.perf_counter() - began
report.emit({"seconds": seconds, "trades": len(out.run.trades), "bar_steps": symbols * length,
             "peak_mb": report.peak_rss_mb(), "baseline_mb": baseline})
"""


SWEEP = "sweep: 100 sma_cross combinations x 500 symbols x 2,520 daily bars, 2 worker processes"
SWEEP_SECONDS = Target("<", 25, source="DESIGN.md §11 / issue: vectorbt 1.2.0 takes 28.6 s here")
SWEEP_MB = Target("<", 2048, source="DESIGN.md §11 / issue: vectorbt 1.2.0 takes 8.4 GB here")


def test_sweep_of_100_combinations_over_500_symbols() -> None:
    """run_sweep(SmaCross, n1 in 5..50 x n2 in 60..240, 10 values each) over 500 seeded random
    walks of 2,520 daily bars (50,000 backtests, 126M bar-steps), cash 10,000 each, commission
    0.001, in a child process with a pool of 2 spawned workers. Baseline: the event-driven engine
    (backtest.backtest) on a sample of the same work, extrapolated to all of it on 2 cores."""
    child = report.run_child(
        [sys.executable, "-c", _SWEEP_CHILD], report.child_env(), Path(__file__).resolve().parents[2]
    )
    result = child.result()
    assert result["backtests"] == 50_000 and result["vectorised"] == 50_000
    report.section(SWEEP)
    report.figure(
        SWEEP,
        "wall time: run_sweep, bars in memory to ranked statistics",
        result["seconds"],
        "s",
        SWEEP_SECONDS,
        result["engine_seconds"],
        note=(
            f"{result['trades']:,} trades; {result['bar_steps'] / 1e6:.0f}M bar-steps, "
            f"{result['seconds'] / result['bar_steps'] * 1e9:.0f} ns per bar-step; pool start "
            f"{result['pool_start_s']:.2f} s; baseline: the engine at {result['engine_ms']:.2f} ms a "
            f"backtest ({result['engine_sample']} sampled, equal statistics asserted), x 50,000 / 2 cores"
        ),
    )
    report.figure(
        SWEEP,
        "baseline: event-driven engine, extrapolated (2 cores)",
        result["engine_seconds"],
        "s",
    )
    report.figure(
        SWEEP,
        "peak memory: parent + workers, sampled every 10 ms",
        result["peak_total_mb"],
        "MB",
        SWEEP_MB,
        result["baseline_mb"],
        note="RSS of the process and its pool workers summed at each sample; baseline: the process "
        "with the bars built, before the sweep",
    )
    report.figure(
        SWEEP,
        "peak memory bound: parent VmHWM + 2 x largest worker maxrss",
        result["bound_mb"],
        "MB",
        SWEEP_MB,
        result["baseline_mb"],
        note=f"parent {result['parent_peak_mb']:.0f} MB, largest worker {result['child_max_mb']:.0f} MB "
        "(RUSAGE_CHILDREN; Linux carries the parent's high-water mark at spawn into it, so this "
        "over-counts)",
    )
    report.figure(
        SWEEP, "1 process: simulation (signals, trades, equity), per backtest", result["sim_us"], "us"
    )
    report.figure(SWEEP, "1 process: indicators (20 SMAs per symbol), per backtest", result["ind_us"], "us")
    report.figure(SWEEP, "1 process: batch_stats, per backtest", result["stats_us"], "us")
    report.figure(
        SWEEP,
        "1 process: compute_stats instead, per backtest",
        result["compute_stats_us"],
        "us",
    )


_SWEEP_CHILD = """
import os, resource, threading, time
from pathlib import Path
import numpy as np
from tests.bench import report
from tests.bench.synthetic import random_walk_universe
from trading_system.strategies.backtest import backtest
from trading_system.strategies.builtin import SmaCross
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES
from trading_system.strategies.statistics import compute_stats
from trading_system.strategies.sweep import SweepSpec, _keep_freed_memory, combinations, run_sweep
from trading_system.strategies.vector import STAT_KEYS, SeriesCache, batch_stats, stats_row, vector_run

def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def tree_kb():
    me = os.getpid()
    children = []
    for task in Path(f"/proc/{me}/task").iterdir():
        try:
            children += (task / "children").read_text().split()
        except OSError:
            pass
    return rss_kb(me) + sum(rss_kb(int(c)) for c in children)

if __name__ == "__main__":
    symbols, length = 500, 2520
    bars = random_walk_universe(symbols, length, seed=7)
    ts = bars["S000"].ts_ns
    spec = SweepSpec(grid={"n1": list(range(5, 55, 5)), "n2": list(range(60, 260, 20))})
    combos = combinations(spec, SmaCross.Params)
    profile = PROFILES["backtesting_py"].with_costs(0.001, None)
    baseline = report.rss_mb()

    peak = [0]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_kb())
            time.sleep(0.01)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    result = run_sweep(SmaCross, combos, bars, 10_000, profile, workers=2)
    ranking = result.ranking(spec.rank_by, spec.ranks_descending)
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    parent_peak = report.peak_rss_mb()
    child_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # how long the pool takes to start (spawned interpreters importing the platform)
    began = time.perf_counter()
    run_sweep(SmaCross, combos.params[:1], {"S000": bars["S000"]}, 10_000, profile, workers=2)
    pool_start = time.perf_counter() - began

    # baseline: the engine on a sample, its statistics equal to the sweep's
    sample = [(c, s) for c in range(0, 100, 10) for s in ("S000", "S123", "S321", "S499")]
    began = time.perf_counter()
    outcomes = [backtest(SmaCross(combos.params[c]), bars[s], 10_000, profile) for c, s in sample]
    engine_ms = (time.perf_counter() - began) / len(sample) * 1000
    for (c, s), outcome in zip(sample, outcomes):
        got = result.stats[c, result.symbols.index(s)]
        want = stats_row(outcome.stats)
        assert np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True), (c, s)

    # where a single process spends its time, on 10 symbols, with malloc tuned as in a worker
    _keep_freed_memory()
    strategies = [SmaCross(p) for p in combos.params]
    sim = ind = stats = full = 0.0
    for s in list(bars)[:10]:
        cache = SeriesCache(bars[s])
        began = time.perf_counter()
        for strategy in strategies:
            cache.series(strategy)
        ind += time.perf_counter() - began
        began = time.perf_counter()
        runs = [vector_run(strategy, cache, 10_000, profile) for strategy in strategies]
        sim += time.perf_counter() - began
        began = time.perf_counter()
        for k in range(0, len(runs), 32):
            batch_stats(ts, bars[s].close, runs[k:k + 32])
        stats += time.perf_counter() - began
        began = time.perf_counter()
        for run in runs[:20]:
            compute_stats(ts, bars[s].close, run.equity, run.closed_trades(ts), run.warmup)
        full += (time.perf_counter() - began) * len(runs) / 20
    per = 1e6 / (10 * len(strategies))
    report.emit({
        "seconds": seconds, "backtests": result.stats.shape[0] * result.stats.shape[1],
        "vectorised": result.vectorised, "trades": int(np.nansum(result.stat("trades"))),
        "bar_steps": len(combos) * symbols * length, "best": ranking[0].values,
        "pool_start_s": pool_start, "engine_ms": engine_ms, "engine_sample": len(sample),
        "engine_seconds": engine_ms / 1000 * 50_000 / 2,
        "peak_total_mb": peak[0] / 1024, "baseline_mb": baseline, "parent_peak_mb": parent_peak,
        "child_max_mb": child_max, "bound_mb": parent_peak + 2 * child_max,
        # the cache holds the SMAs after the first loop: the simulation's time excludes them
        "sim_us": (sim) * per, "ind_us": ind * per, "stats_us": stats * per, "compute_stats_us": full * per,
    })
"""
