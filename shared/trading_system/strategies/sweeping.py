"""Sweeps' handlers: submitted (checked against the strategy's parameters and the ceilings),
run on SweepRequested (a process pool locally), kept in the lake, ranked and mapped on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading_system import __version__
from trading_system.kernel.bus import Handled, MessageContext
from trading_system.kernel.errors import NotFound
from trading_system.market_data.domain import check_range
from trading_system.strategies.commands import DeleteSweep, SubmitSweep
from trading_system.strategies.events import SweepCompleted, SweepFailed, SweepRequested
from trading_system.strategies.jobs import SweepJob, SweepOutcome, newest_first_id
from trading_system.strategies.queries import GetSweep, GetSweepHeatmap, GetSweepRanking, ListSweeps
from trading_system.strategies.runs import bars_of, check_data, describe, profile_of

if TYPE_CHECKING:
    from trading_system.kernel.clock import Clock
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.strategies.book import StrategyBook
    from trading_system.strategies.definitions import StrategyParams
    from trading_system.strategies.ports import SweepJobs, SweepResults
    from trading_system.strategies.sweep import SweepResult

BEST_KEPT = 10  # combinations the job document holds; the ranking route reads them all


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
    base, kind = strategies.build(request.strategy, {})
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
        submitted_at=clock.now(),
        submitted_by=context.principal.key_id,
    )
    sweeps.add(job)
    backtests = len(combos) * len(request.symbols)
    return Handled(
        job, (SweepRequested(sweep_id=job.sweep_id, strategy=job.strategy_name, backtests=backtests),)
    )


def run_sweeps(
    event: SweepRequested,
    sweeps: SweepJobs,
    sweep_results: SweepResults,
    symbols: SymbolRepository,
    lake: BarLake,
    strategies: StrategyBook,
    sweep_workers: int,
    clock: Clock,
) -> Handled[SweepJob | None]:
    """Run a queued sweep once; a failure fails the job with the error and leaves no results."""
    job = sweeps.get(event.sweep_id)
    if job is None or not job.runnable(clock.now()):
        return Handled(None)
    job = job.start(clock.now())
    sweeps.save(job)
    try:
        outcome, result = _execute(job, symbols, lake, strategies, sweep_workers)
        sweep_results.write(job.sweep_id, result.symbols, result.keys, result.stats)
    except Exception as error:
        sweep_results.delete(job.sweep_id)
        if sweeps.get(job.sweep_id) is None:
            return Handled(None)
        failed = job.fail(describe(error), clock.now())
        sweeps.save(failed)
        return Handled(
            failed,
            (SweepFailed(sweep_id=job.sweep_id, strategy=job.strategy_name, error=failed.error or ""),),
        )
    if sweeps.get(job.sweep_id) is None:  # deleted while it ran
        sweep_results.delete(job.sweep_id)
        return Handled(None)
    done = job.complete(outcome, clock.now())
    sweeps.save(done)
    best = outcome.best[0] if outcome.best else None
    completed = SweepCompleted(
        sweep_id=job.sweep_id, strategy=job.strategy_name, backtests=outcome.backtests, best=best
    )
    return Handled(done, (completed,))


def _execute(
    job: SweepJob, symbols: SymbolRepository, lake: BarLake, strategies: StrategyBook, workers: int
) -> tuple[SweepOutcome, SweepResult]:
    from dataclasses import asdict

    from trading_system.strategies.results import fingerprint
    from trading_system.strategies.sweep import run_sweep

    request = job.request
    profile = profile_of(request)
    bars = {symbol: bars_of(request, symbol, symbols, lake)[0] for symbol in request.symbols}
    factory = strategies.factory(job.strategy_name, job.kind)
    params = [_params_of(job, strategies, values) for values in job.combinations]
    # Strategies loaded from the strategies folder live in modules a spawned worker cannot import.
    workers = workers if strategies.picklable(job.strategy_name, job.kind) else 1
    result = run_sweep(factory, params, bars, request.cash, profile, request.finalize, workers)
    result = type(result)(job.combinations, result.symbols, result.stats, result.vectorised)
    spec = request.sweep
    ranking = result.ranking(spec.rank_by, spec.descending)[:BEST_KEPT]
    outcome = SweepOutcome(
        symbols=list(bars),
        bars={symbol: len(series) for symbol, series in bars.items()},
        backtests=len(params) * len(bars),
        vectorised=result.vectorised,
        profile=profile.model_dump(),
        code_version=__version__,
        data_fingerprint=fingerprint(list(bars.values())),
        best=[asdict(r) for r in ranking],
    )
    return outcome, result


def _params_of(job: SweepJob, strategies: StrategyBook, values: dict[str, Any]) -> StrategyParams:
    """A combination's complete, validated parameters (checked at submission: this cannot fail
    unless the strategy's code changed since)."""
    merged = {**job.base_params, **job.request.sweep.fixed, **values}
    params: StrategyParams = strategies.rebuild(job.strategy_name, job.kind, merged).params
    return params


def delete_sweep(cmd: DeleteSweep, sweeps: SweepJobs, sweep_results: SweepResults) -> Handled[None]:
    _sweep(sweeps, cmd.sweep_id)
    sweeps.delete(cmd.sweep_id)
    sweep_results.delete(cmd.sweep_id)
    return Handled(None)


def get_sweep(query: GetSweep, sweeps: SweepJobs) -> SweepJob:
    return _sweep(sweeps, query.sweep_id)


def list_sweeps(query: ListSweeps, sweeps: SweepJobs) -> list[SweepJob]:
    return sweeps.newest(query.after, query.limit)


def get_sweep_ranking(
    query: GetSweepRanking, sweeps: SweepJobs, sweep_results: SweepResults
) -> list[dict[str, Any]]:
    from dataclasses import asdict

    job = _sweep(sweeps, query.sweep_id)
    result = _result(job, sweep_results)
    rank_by = query.rank_by or job.request.sweep.rank_by
    descending = job.request.sweep.descending if query.rank_by is None else None
    return [asdict(r) for r in result.ranking(rank_by, descending)[: query.limit]]


def get_sweep_heatmap(
    query: GetSweepHeatmap, sweeps: SweepJobs, sweep_results: SweepResults
) -> dict[str, Any]:
    import math

    job = _sweep(sweeps, query.sweep_id)
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


def _sweep(sweeps: SweepJobs, sweep_id: str) -> SweepJob:
    found = sweeps.get(sweep_id)
    if found is None:
        raise NotFound(f"no sweep {sweep_id}", field="sweep_id")
    return found
