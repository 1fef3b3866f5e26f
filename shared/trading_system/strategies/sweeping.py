"""Sweeps' handlers: submitted (checked against the strategy's parameters and the ceilings), run
on SweepRequested as a fan-out (planned into blocks, each block run and kept in the lake, then
finished: see catalog.FanOut), ranked and mapped on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading_system import __version__
from trading_system.kernel.bus import Handled, MessageContext
from trading_system.kernel.clock import newest_first_id
from trading_system.kernel.errors import describe_failure
from trading_system.kernel.fan_out import FanOutPlan
from trading_system.kernel.jobs import JobStatus
from trading_system.kernel.principal import visible
from trading_system.market_data.domain import check_range
from trading_system.strategies.commands import (
    DeleteSweep,
    FinishSweep,
    PlanSweep,
    RunSweepBlock,
    SubmitSweep,
)
from trading_system.strategies.events import (
    SweepCompleted,
    SweepFailed,
    SweepProgressed,
    SweepRequested,
)
from trading_system.strategies.jobs import SweepJob, SweepOutcome
from trading_system.strategies.ownership import newest_visible
from trading_system.strategies.ports import SweptBlock
from trading_system.strategies.queries import GetSweep, GetSweepHeatmap, GetSweepRanking, ListSweeps
from trading_system.strategies.runs import bars_of, check_data, profile_of

if TYPE_CHECKING:
    from trading_system.kernel.clock import Clock
    from trading_system.kernel.principal import Principal
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.strategies.book import StrategyBook
    from trading_system.strategies.definitions import StrategyParams
    from trading_system.strategies.ports import SweepJobs, SweepResults
    from trading_system.strategies.sweep import SweepResult

BEST_KEPT = 10  # combinations the job document holds; the ranking route reads them all
POOL_FROM = 256  # backtests in a block from which it runs in a process pool (sweep_workers)


def submit_sweep(
    cmd: SubmitSweep,
    sweeps: SweepJobs,
    symbols: SymbolRepository,
    strategies: StrategyBook,
    clock: Clock,
    context: MessageContext,
) -> Handled[SweepJob]:
    from trading_system.strategies.sweep import check_ceilings, combinations

    request = cmd.request
    base, kind = strategies.build(request.strategy, {}, context.principal)
    spec = request.sweep
    base_params: dict[str, Any] = {}
    if kind == "rules":  # every combination starts from the saved rules
        base_params = {k: v for k, v in base.params.model_dump().items() if k not in spec.swept}
        spec = spec.model_copy(update={"fixed": {**base_params, **spec.fixed}})
    check_ceilings(spec.count, len(request.symbols))
    combos = combinations(spec, type(base.params), request.seed)
    check_ceilings(len(combos), len(request.symbols))
    profile_of(request)
    check_range(request.start, request.end)
    check_data(request, symbols)
    job = SweepJob(
        sweep_id=newest_first_id("sw"),
        request=request,
        strategy_name=base.name,
        kind=kind,
        base_params=base_params,
        combinations=combos.values,
        skipped=[{"values": s.values, "reason": s.reason} for s in combos.skipped],
        owner=context.principal.user,
        submitted_at=clock.now(),
        submitted_by=context.principal.key_id,
    )
    sweeps.add(job)
    backtests = len(combos) * len(request.symbols)
    return Handled(
        job, (SweepRequested(sweep_id=job.sweep_id, strategy=job.strategy_name, backtests=backtests),)
    )


def plan_sweep(
    cmd: PlanSweep, sweeps: SweepJobs, sweep_block_backtests: int, clock: Clock
) -> Handled[FanOutPlan]:
    """Start a queued sweep and split it into blocks; nothing when it already started (a
    redelivered SweepRequested) or is gone."""
    from trading_system.strategies.sweep import plan_blocks

    job = sweeps.get(cmd.sweep_id)
    if job is None or not job.runnable(clock.now()):
        return Handled(FanOutPlan.nothing())
    sweeps.save(job.start(clock.now()))
    blocks = plan_blocks(len(job.request.symbols), len(job.combinations), sweep_block_backtests)
    items = [
        RunSweepBlock(
            sweep_id=job.sweep_id, block=n, blocks=len(blocks), symbols=symbols, start=start, stop=stop
        ).model_dump()
        for n, (symbols, start, stop) in enumerate(blocks)
    ]
    return Handled(FanOutPlan(items=items, finish={"sweep_id": job.sweep_id, "blocks": len(blocks)}))


def run_sweep_block(
    cmd: RunSweepBlock,
    sweeps: SweepJobs,
    sweep_results: SweepResults,
    symbols: SymbolRepository,
    lake: BarLake,
    strategies: StrategyBook,
    sweep_workers: int,
) -> Handled[None]:
    """Backtest one block's combinations on its symbols and keep their statistics; nothing when
    the sweep was deleted or has already failed. Raising fails the whole sweep (FinishSweep)."""
    job = sweeps.get(cmd.sweep_id)
    if job is None or job.status is not JobStatus.RUNNING:
        return Handled(None)
    try:
        return _run_block(cmd, job, sweep_results, symbols, lake, strategies, sweep_workers)
    except Exception as error:
        # Step Functions tells the finish only that the Map failed; the lake tells it why.
        sweep_results.write_failure(cmd.sweep_id, cmd.block, describe_failure(error))
        raise


def _run_block(
    cmd: RunSweepBlock,
    job: SweepJob,
    sweep_results: SweepResults,
    symbols: SymbolRepository,
    lake: BarLake,
    strategies: StrategyBook,
    sweep_workers: int,
) -> Handled[None]:
    from trading_system.strategies.results import symbol_fingerprint
    from trading_system.strategies.sweep import run_sweep
    from trading_system.strategies.vector import STAT_KEYS

    request = job.request
    names = [request.symbols[i] for i in cmd.symbols]
    bars = {symbol: bars_of(request, symbol, symbols, lake)[0] for symbol in names}
    factory = strategies.factory(job.strategy_name, job.kind)
    params = [_params_of(job, strategies, values) for values in job.combinations[cmd.start : cmd.stop]]
    # Strategies loaded from the strategies folder live in modules a spawned worker cannot import;
    # and a pool costs about a second to start, more than a small block takes.
    pooled = strategies.picklable(job.strategy_name, job.kind) and len(params) * len(names) >= POOL_FROM
    workers = sweep_workers if pooled else 1
    result = run_sweep(factory, params, bars, request.cash, profile_of(request), request.finalize, workers)
    block = SweptBlock(
        block=cmd.block,
        first_combination=cmd.start,
        symbols=names,
        bars=[len(series) for series in bars.values()],
        fingerprints=[symbol_fingerprint(series) for series in bars.values()],
        vectorised=result.vectorised,
    )
    sweep_results.write_block(job.sweep_id, block, STAT_KEYS, result.stats)
    progressed = SweepProgressed(
        sweep_id=job.sweep_id, block=cmd.block, blocks=cmd.blocks, backtests=len(params) * len(names)
    )
    return Handled(None, (progressed,))


def finish_sweep(
    cmd: FinishSweep, sweeps: SweepJobs, sweep_results: SweepResults, clock: Clock
) -> Handled[None]:
    """Rank a sweep whose every block ran, or fail it with the error and delete what its blocks
    wrote: a failed sweep leaves no results that look complete. (It answers nothing: a state
    machine's step answers within 256 KB, and a job with its combinations may not fit.)"""
    job = sweeps.get(cmd.sweep_id)
    if job is None:  # deleted while it ran
        sweep_results.delete(cmd.sweep_id)
        return Handled(None)
    if job.status is not JobStatus.RUNNING:  # finished already: a redelivered finish
        return Handled(None)
    error = cmd.error
    if error is not None:  # the block's own words, when it could record them (see run_sweep_block)
        error = next(iter(sweep_results.failures(job.sweep_id)), error)
    else:
        try:
            done = job.complete(_outcome(job, sweep_results, cmd.blocks), clock.now())
        except Exception as failure:
            error = describe_failure(failure)
    if error is not None:
        sweep_results.delete(job.sweep_id)
        failed = job.fail(error, clock.now())
        sweeps.save(failed)
        event = SweepFailed(sweep_id=job.sweep_id, strategy=job.strategy_name, error=failed.error or "")
        return Handled(None, (event,))
    sweeps.save(done)
    outcome = done.require_results()
    best = outcome.best[0] if outcome.best else None
    completed = SweepCompleted(
        sweep_id=job.sweep_id, strategy=job.strategy_name, backtests=outcome.backtests, best=best
    )
    return Handled(None, (completed,))


def _outcome(job: SweepJob, sweep_results: SweepResults, blocks: int) -> SweepOutcome:
    """The outcome from every block's statistics, once each block is in the lake exactly once."""
    from dataclasses import asdict

    from trading_system.strategies.results import combined_fingerprint
    from trading_system.strategies.sweep import SweepResult
    from trading_system.strategies.vector import STAT_KEYS

    request = job.request
    swept = sweep_results.blocks(job.sweep_id)
    missing = sorted(set(range(blocks)) - {b.block for b in swept})
    if missing or len(swept) != blocks:
        raise RuntimeError(f"sweep {job.sweep_id}: block(s) {missing} of {blocks} left no results")
    bars: dict[str, int] = {}
    fingerprints: dict[str, str] = {}
    for block in swept:
        bars.update(zip(block.symbols, block.bars, strict=True))
        fingerprints.update(zip(block.symbols, block.fingerprints, strict=True))
    stats = sweep_results.read(job.sweep_id, request.symbols, STAT_KEYS, len(job.combinations))
    result = SweepResult(job.combinations, list(request.symbols), stats, sum(b.vectorised for b in swept))
    spec = request.sweep
    ranking = result.ranking(spec.rank_by, spec.descending)[:BEST_KEPT]
    return SweepOutcome(
        symbols=list(request.symbols),
        bars={symbol: bars[symbol] for symbol in request.symbols},
        backtests=len(job.combinations) * len(request.symbols),
        vectorised=result.vectorised,
        profile=profile_of(request).model_dump(),
        code_version=__version__,
        data_fingerprint=combined_fingerprint([fingerprints[s] for s in request.symbols]),
        best=[asdict(r) for r in ranking],
    )


def _params_of(job: SweepJob, strategies: StrategyBook, values: dict[str, Any]) -> StrategyParams:
    """A combination's complete, validated parameters (checked at submission: this cannot fail
    unless the strategy's code changed since)."""
    merged = {**job.base_params, **job.request.sweep.fixed, **values}
    params: StrategyParams = strategies.rebuild(job.strategy_name, job.kind, merged).params
    return params


def delete_sweep(
    cmd: DeleteSweep, sweeps: SweepJobs, sweep_results: SweepResults, context: MessageContext
) -> Handled[None]:
    _sweep(sweeps, cmd.sweep_id, context.principal)
    sweeps.delete(cmd.sweep_id)
    sweep_results.delete(cmd.sweep_id)
    return Handled(None)


def get_sweep(query: GetSweep, sweeps: SweepJobs, context: MessageContext) -> SweepJob:
    return _sweep(sweeps, query.sweep_id, context.principal)


def list_sweeps(query: ListSweeps, sweeps: SweepJobs, context: MessageContext) -> list[SweepJob]:
    return newest_visible(sweeps, context.principal, query.after, query.limit)


def get_sweep_ranking(
    query: GetSweepRanking, sweeps: SweepJobs, sweep_results: SweepResults, context: MessageContext
) -> list[dict[str, Any]]:
    from dataclasses import asdict

    job = _sweep(sweeps, query.sweep_id, context.principal)
    result = _result(job, sweep_results)
    rank_by = query.rank_by or job.request.sweep.rank_by
    descending = job.request.sweep.descending if query.rank_by is None else None
    return [asdict(r) for r in result.ranking(rank_by, descending)[: query.limit]]


def get_sweep_heatmap(
    query: GetSweepHeatmap, sweeps: SweepJobs, sweep_results: SweepResults, context: MessageContext
) -> dict[str, Any]:
    import math

    job = _sweep(sweeps, query.sweep_id, context.principal)
    rank_by = query.rank_by or job.request.sweep.rank_by
    descending = job.request.sweep.descending if query.rank_by is None else None
    heat = _result(job, sweep_results).heatmap(query.x, query.y, rank_by, descending)
    cells = [[None if math.isnan(v) else v for v in row] for row in heat.values.tolist()]
    return {
        "x": heat.param_x,
        "y": heat.param_y,
        "x_values": heat.x,
        "y_values": heat.y,
        "rank_by": rank_by,
        "values": cells,
    }


def _result(job: SweepJob, sweep_results: SweepResults) -> SweepResult:
    from trading_system.strategies.sweep import SweepResult
    from trading_system.strategies.vector import STAT_KEYS

    outcome = job.require_results()
    stats = sweep_results.read(job.sweep_id, outcome.symbols, STAT_KEYS, len(job.combinations))
    return SweepResult(job.combinations, outcome.symbols, stats, outcome.vectorised)


def _sweep(sweeps: SweepJobs, sweep_id: str, principal: Principal) -> SweepJob:
    return visible(principal, sweeps.get(sweep_id), f"no sweep {sweep_id}", "sweep_id")
