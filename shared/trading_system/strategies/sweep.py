"""Parameter sweeps: one strategy over a grid (or a random sample) of its parameters and over one
or many symbols, every backtest's statistics, and the combinations ranked by a chosen statistic.

    spec = SweepSpec(grid={"n1": [5, 10, 20], "n2": [50, 100, 200]}, rank_by="sharpe_ratio")
    combos = combinations(spec, SmaCross.Params)
    result = run_sweep(SmaCross, combos, bars_by_symbol, cash=10_000, profile=profile, workers=2)
    result.ranking(spec.rank_by, spec.descending)[:10]
    result.heatmap("n1", "n2", spec.rank_by)

Each (combination, symbol) is an independent single-symbol backtest with its own cash, like one
column of vectorbt's `Portfolio.from_signals` over a parameter grid: symbols do not share cash
(a portfolio backtest is `backtest.backtest_portfolio`). Strategies with a vectorised form
(`vector.signals_of`) run vectorised, the rest through the event-driven engine; both give the
same trades. Pure computation: no store, no I/O; the job API, the lake and Step Functions are
wired around it elsewhere.
"""

from __future__ import annotations

import ctypes
import difflib
import itertools
import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from pydantic import ValidationError

from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.strategies.backtest import Outcome, backtest
from trading_system.strategies.definitions import StrategyParams
from trading_system.strategies.domain import Strategy
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import FillProfile
from trading_system.strategies.sweep_spec import (
    LOWER_IS_BETTER,
    MAX_BACKTESTS,
    MAX_COMBINATIONS,
    MAX_VALUES,
    RANK_STATS,
    RandomRange,
    SweepSpec,
    default_descending,
)
from trading_system.strategies.vector import (
    STAT_KEYS,
    FloatArray,
    SeriesCache,
    VectorRun,
    batch_stats,
    stats_row,
    vector_run,
)

__all__ = [
    "LOWER_IS_BETTER",
    "MAX_BACKTESTS",
    "MAX_COMBINATIONS",
    "MAX_VALUES",
    "RANK_STATS",
    "Combinations",
    "Heatmap",
    "RandomRange",
    "Ranked",
    "Skipped",
    "SweepResult",
    "SweepSpec",
    "check_ceilings",
    "combinations",
    "default_descending",
    "plan_blocks",
    "replay",
    "run_sweep",
]

# -- expanding it ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A combination the strategy's parameters refuse (e.g. sma_cross with n1 >= n2)."""

    values: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Combinations:
    """The valid combinations in order (`values`: the swept values of each; `params`: the
    strategy's validated parameters), and those skipped with the reason."""

    values: list[dict[str, Any]]
    params: list[StrategyParams]
    skipped: list[Skipped]

    def __len__(self) -> int:
        return len(self.params)


def combinations(spec: SweepSpec, params_model: type[StrategyParams], seed: int = 0) -> Combinations:
    """Every combination of the spec, each validated by the strategy's Params: a grid in the
    order of its parameters (the last varies fastest); a random sample drawn with `seed`, so the
    same seed gives the same combinations (a value drawn twice is kept once). A combination the
    Params refuse is skipped and reported; none valid at all is refused (ValidationFailed), as is
    a sweep over MAX_COMBINATIONS or a parameter the strategy does not have."""
    known = params_model.model_fields
    unknown = [name for name in [*spec.swept, *spec.fixed] if name not in known]
    swept_in = "grid" if spec.grid is not None else "random"
    if unknown:
        problems = [
            Problem(
                f"{params_model.__qualname__} has no parameter {name!r}"
                + _hint(name, known)
                + f" (it has {', '.join(known) or 'none'})",
                field=f"{'fixed' if name in spec.fixed else swept_in}.{name}",
            )
            for name in unknown
        ]
        raise ValidationFailed(
            f"unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}", problems
        )
    check_ceilings(spec.count)

    drawn = _grid(spec.grid) if spec.grid is not None else _sample(spec.random or {}, spec.samples or 0, seed)
    values: list[dict[str, Any]] = []
    params: list[StrategyParams] = []
    skipped: list[Skipped] = []
    for combo in drawn:
        try:
            params.append(params_model.model_validate({**spec.fixed, **combo}))
        except ValidationError as error:
            skipped.append(Skipped(combo, "; ".join(_reason(e) for e in error.errors())))
            continue
        values.append(combo)
    if not params:
        shown = skipped[:5]
        raise ValidationFailed(
            f"none of the {len(skipped):,} parameter combinations is valid for {params_model.__qualname__}",
            [Problem(s.reason, value=_label(s.values)) for s in shown],
            total=len(skipped),
        )
    return Combinations(values, params, skipped)


def check_ceilings(combinations: int, symbols: int = 1) -> None:
    """Refuse a sweep over MAX_COMBINATIONS combinations or MAX_BACKTESTS backtests (combinations
    x symbols), naming the count and the ceiling."""
    if combinations > MAX_COMBINATIONS:
        reason = (
            f"the sweep has {combinations:,} parameter combinations; the ceiling is {MAX_COMBINATIONS:,}: "
            "sweep fewer values, or draw a random sample"
        )
        raise ValidationFailed(reason, [Problem(reason, field="grid", value=combinations)])
    backtests = combinations * symbols
    if backtests > MAX_BACKTESTS:
        reason = (
            f"the sweep is {backtests:,} backtests ({combinations:,} combinations x {symbols:,} symbols); "
            f"the ceiling is {MAX_BACKTESTS:,}"
        )
        raise ValidationFailed(reason, [Problem(reason, field="symbols", value=backtests)])


def _grid(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def _sample(ranges: Mapping[str, RandomRange], samples: int, seed: int) -> list[dict[str, Any]]:
    # Parameters in name order, each drawn for every sample at once: the same spec and seed give
    # the same combinations whatever order the request listed them in.
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for name in sorted(ranges):
        r = ranges[name]
        if r.integer:
            columns[name] = rng.integers(
                math.ceil(r.low), math.floor(r.high), size=samples, endpoint=True
            ).tolist()
        else:
            columns[name] = rng.uniform(r.low, r.high, size=samples).tolist()
    unique: dict[tuple[Any, ...], dict[str, Any]] = {}
    for k in range(samples):
        combo = {name: columns[name][k] for name in ranges}
        unique.setdefault(tuple(combo.values()), combo)
    return list(unique.values())


def _reason(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _label(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _hint(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# -- the result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """One combination's place: the rank statistic aggregated over the symbols where it is
    defined (a Sharpe ratio is undefined without variance, for instance)."""

    rank: int  # 1 = best
    index: int  # the combination's index in the sweep
    values: dict[str, Any]
    mean: float | None
    median: float | None
    symbols: int  # symbols where the statistic is defined


@dataclass(frozen=True)
class Heatmap:
    """The aggregate (mean over symbols) of a statistic for two parameters: `values[j][i]` is for
    y[j] and x[i], the best combination's where other swept parameters vary; NaN where none."""

    param_x: str
    param_y: str
    x: list[Any]
    y: list[Any]
    values: FloatArray
    rank_by: str


@dataclass(frozen=True)
class SweepResult:
    """Every backtest's statistics: `stats[c, s, k]` is statistic STAT_KEYS[k] of combination c
    on symbols[s] (NaN where a backtest's statistic is None)."""

    values: list[dict[str, Any]]
    symbols: list[str]
    stats: FloatArray
    vectorised: int  # backtests run vectorised (the others by the event-driven engine)

    @property
    def keys(self) -> tuple[str, ...]:
        return STAT_KEYS

    def stat(self, key: str) -> FloatArray:
        """One statistic, shape (combinations, symbols)."""
        column: FloatArray = self.stats[:, :, STAT_KEYS.index(key)]
        return column

    def stats_of(self, combination: int, symbol: str) -> dict[str, float | int | None]:
        """One backtest's statistics as compute_stats gives them (less start and end)."""
        row = self.stats[combination, self.symbols.index(symbol)]
        out: dict[str, float | int | None] = {}
        for key, value in zip(STAT_KEYS, row.tolist(), strict=True):
            out[key] = None if math.isnan(value) else int(value) if key == "trades" else value
        return out

    def aggregate(self, rank_by: str) -> tuple[FloatArray, FloatArray, np.ndarray]:
        """Per combination: the mean and the median of the statistic over the symbols where it
        is defined, and how many those are."""
        if rank_by not in RANK_STATS:
            raise ValidationFailed(f"rank_by: unknown statistic {rank_by!r}", [Problem("unknown", "rank_by")])
        values = self.stat(rank_by)
        defined = ~np.isnan(values)
        count = defined.sum(axis=1)
        with np.errstate(all="ignore"):
            mean = np.where(
                count > 0, np.where(defined, values, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan
            )
        median = np.full(len(values), np.nan)
        for c in np.flatnonzero(count).tolist():
            median[c] = float(np.median(values[c][defined[c]]))
        return mean, median, count

    def ranking(self, rank_by: str = "sharpe_ratio", descending: bool | None = None) -> list[Ranked]:
        """The combinations, best first by the mean of `rank_by` over the symbols; a combination
        where it is defined on no symbol comes last; ties keep the sweep's order."""
        mean, median, count = self.aggregate(rank_by)
        larger_first = default_descending(rank_by) if descending is None else descending
        key = np.where(np.isnan(mean), np.inf, -mean if larger_first else mean)
        order = np.lexsort((np.arange(len(mean)), key))
        return [
            Ranked(
                rank=place + 1,
                index=c,
                values=self.values[c],
                mean=_number(mean[c]),
                median=_number(median[c]),
                symbols=int(count[c]),
            )
            for place, c in enumerate(order.tolist())
        ]

    def heatmap(
        self, param_x: str, param_y: str, rank_by: str = "sharpe_ratio", descending: bool | None = None
    ) -> Heatmap:
        """A 2-D matrix of the mean of `rank_by` over two swept parameters (backtesting.py's
        plot_heatmaps keeps the best value of a cell when other parameters vary; so does this)."""
        for name in (param_x, param_y):
            if not self.values or name not in self.values[0]:
                swept = ", ".join(self.values[0]) if self.values else "none"
                raise ValidationFailed(
                    f"{name!r} is not a swept parameter (swept: {swept})", [Problem("not swept", field=name)]
                )
        mean, _, _ = self.aggregate(rank_by)
        larger_first = default_descending(rank_by) if descending is None else descending
        xs = _ordered(v[param_x] for v in self.values)
        ys = _ordered(v[param_y] for v in self.values)
        column = {_key(v): i for i, v in enumerate(xs)}
        line = {_key(v): j for j, v in enumerate(ys)}
        grid = np.full((len(ys), len(xs)), np.nan)
        for c, values in enumerate(self.values):
            value = mean[c]
            if math.isnan(value):
                continue
            j, i = line[_key(values[param_y])], column[_key(values[param_x])]
            held = grid[j, i]
            if math.isnan(held) or (value > held if larger_first else value < held):
                grid[j, i] = value
        return Heatmap(param_x, param_y, xs, ys, grid, rank_by)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _key(value: Any) -> str:
    return repr(value)  # hashable, and tells 1 from 1.0 from True


def _ordered(values: Any) -> list[Any]:
    unique = list({_key(v): v for v in values}.values())
    try:
        return sorted(unique)
    except TypeError:
        return unique  # mixed kinds: the order in which the sweep met them


# -- running it -------------------------------------------------------------------------------------


StrategyFactory = Callable[[StrategyParams], Strategy]

# The statistics of a symbol's combinations are computed in batches of this many, always the same
# batches however the work is split: numpy's SIMD loops (log, exp, power) may differ in the last
# bit by an element's position in the array, so the same batch keeps the results independent of
# the number of workers.
STATS_CHUNK: Final = 32


@dataclass(frozen=True)
class _Job:
    """What every block of a sweep needs; sent to each worker process once."""

    factory: StrategyFactory
    params: Sequence[StrategyParams]
    bars: Sequence[Bars]
    cash: float
    profile: FillProfile
    finalize: bool

    def block(self, symbols: Sequence[int], start: int, stop: int) -> tuple[FloatArray, int]:
        """Statistics of combinations [start, stop) on the given symbols: (symbols, combinations,
        STAT_KEYS), and how many ran vectorised. `start` is a multiple of STATS_CHUNK."""
        out = np.full((len(symbols), stop - start, len(STAT_KEYS)), np.nan)
        strategies = [self.factory(p) for p in self.params[start:stop]]
        vectorised = 0
        for row, s in enumerate(symbols):
            bars = self.bars[s]
            cache = SeriesCache(bars)  # each indicator computed once for all the combinations
            for chunk in range(start, stop, STATS_CHUNK):
                runs: list[VectorRun] = []
                at: list[int] = []
                for c in range(chunk - start, min(chunk + STATS_CHUNK, stop) - start):
                    strategy = strategies[c]
                    done = vector_run(strategy, cache, self.cash, self.profile, self.finalize)
                    if done is None:
                        outcome = backtest(strategy, bars, self.cash, self.profile, self.finalize)
                        out[row, c] = stats_row(outcome.stats)
                    else:
                        runs.append(done)
                        at.append(c)
                if runs:
                    out[row, at] = batch_stats(bars.ts_ns, bars.close, runs)
                    vectorised += len(runs)
        return out, vectorised


_WORKER_JOB: _Job | None = None


def _start_worker(job: _Job) -> None:
    global _WORKER_JOB  # the worker process's one job, set once by the pool
    _WORKER_JOB = job
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Let glibc's malloc keep freed memory in this (worker) process instead of handing it back
    to the kernel after every batch: the statistics' temporaries are a few hundred KB each, over
    malloc's thresholds, and faulting their pages in again took about 40% of a batch's time
    (measured). The peak RSS does not change: the memory is reused, not added to."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: its defaults stand
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 64 << 20)
    libc.mallopt(m_trim_threshold, 512 << 20)


def _run_block(symbols: list[int], start: int, stop: int) -> tuple[list[int], int, int, FloatArray, int]:
    assert _WORKER_JOB is not None, "the pool's initializer sets the job"
    stats, vectorised = _WORKER_JOB.block(symbols, start, stop)
    return symbols, start, stop, stats, vectorised


def run_sweep(
    strategy_factory: StrategyFactory,
    combos: Combinations | Sequence[StrategyParams],
    bars_by_symbol: Mapping[str, Bars],
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
    workers: int = 1,
) -> SweepResult:
    """Backtest every combination on every symbol, each an independent single-symbol backtest
    with `cash` of its own (as vectorbt's from_signals runs each column of a parameter grid).

    `strategy_factory` makes the strategy from validated params (a Strategy class will do); with
    `workers` > 1 it must be picklable (a class or a module-level function), since the work runs
    in a pool of `workers` processes (spawned: safe whatever threads this process runs). Each
    worker receives the bars once, when it starts, then blocks of (symbols x combinations) to
    run; every combination of a symbol runs in the same block, so its indicators are computed
    once. `workers=1` runs inline. The results do not depend on `workers`."""
    params = list(combos.params if isinstance(combos, Combinations) else combos)
    values = combos.values if isinstance(combos, Combinations) else [p.model_dump() for p in params]
    symbols = list(bars_by_symbol)
    if not params or not symbols:
        raise ValidationFailed("a sweep needs at least one combination and one symbol")
    check_ceilings(len(params), len(symbols))
    job = _Job(strategy_factory, params, [bars_by_symbol[s] for s in symbols], cash, profile, finalize)
    stats = np.full((len(params), len(symbols), len(STAT_KEYS)), np.nan)
    blocks = _blocks(len(symbols), len(params), workers)
    vectorised = 0
    if workers <= 1:
        for block_symbols, start, stop in blocks:
            out, count = job.block(block_symbols, start, stop)
            stats[start:stop, block_symbols] = out.transpose(1, 0, 2)
            vectorised += count
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(job,)
        ) as pool:
            futures = [pool.submit(_run_block, *block) for block in blocks]
            for future in futures:
                block_symbols, start, stop, out, count = future.result()
                stats[start:stop, block_symbols] = out.transpose(1, 0, 2)
                vectorised += count
    return SweepResult(list(values), symbols, stats, vectorised)


def _blocks(symbols: int, combos: int, workers: int) -> list[tuple[list[int], int, int]]:
    """Blocks of work: about 8 per worker (so a slow block at the end idles a worker for little),
    split by symbols while there are enough of them, else also by combinations."""
    wanted = max(1, 8 * workers) if workers > 1 else 1
    if symbols >= wanted:
        size = math.ceil(symbols / wanted)
        return [(list(range(s, min(s + size, symbols))), 0, combos) for s in range(0, symbols, size)]
    chunks = math.ceil(combos / STATS_CHUNK)
    parts = min(chunks, math.ceil(wanted / symbols))
    size = math.ceil(chunks / parts) * STATS_CHUNK
    return [([s], c, min(c + size, combos)) for s in range(symbols) for c in range(0, combos, size)]


def plan_blocks(symbols: int, combos: int, per_block: int) -> list[tuple[list[int], int, int]]:
    """A sweep's blocks of about `per_block` backtests, each run by one invocation: every
    combination of a symbol in one block while they fit (its indicators computed once), else the
    combinations split. Blocks start at multiples of STATS_CHUNK, so the results equal one run of
    the whole sweep to the last bit."""
    if combos <= per_block:
        width = max(1, per_block // combos)
        return [(list(range(s, min(s + width, symbols))), 0, combos) for s in range(0, symbols, width)]
    size = max(STATS_CHUNK, per_block // STATS_CHUNK * STATS_CHUNK)
    return [([s], c, min(c + size, combos)) for s in range(symbols) for c in range(0, combos, size)]


def replay(
    strategy_factory: StrategyFactory,
    params: StrategyParams,
    bars: Bars,
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
) -> Outcome:
    """One backtest of a sweep again, in full: its trades, equity and compute_stats' statistics
    (for the top results, whose trades a sweep does not keep)."""
    return backtest(strategy_factory(params), bars, cash, profile, finalize)
