"""Strategies' application layer: backtests as jobs (submitted, run on BacktestRequested, kept
with their results), and the strategy list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading_system import __version__
from trading_system.kernel.bus import Handled, HandlerTable, MessageContext
from trading_system.kernel.errors import (
    ConcurrencyConflict,
    Conflict,
    NotFound,
    Problem,
    ValidationFailed,
    describe_failure,
)
from trading_system.market_data.domain import EPOCH, FOREVER, check_range
from trading_system.strategies.commands import (
    BacktestRequest,
    CreateDeployment,
    CreateStrategy,
    DeleteBacktest,
    DeleteStrategy,
    DeleteSweep,
    FinishSweep,
    PauseDeployment,
    PlanSweep,
    RunSweepBlock,
    StartDeployment,
    StopDeployment,
    SubmitBacktest,
    SubmitSweep,
    UpdateStrategy,
)
from trading_system.strategies.definitions import SavedStrategy
from trading_system.strategies.deploying import (
    create_deployment,
    get_deployment,
    get_parity,
    list_deployments,
    pause_deployment,
    pause_halted_account,
    run_deployments,
    start_deployment,
    stop_deployment,
)
from trading_system.strategies.events import BacktestCompleted, BacktestFailed, BacktestRequested
from trading_system.strategies.fills import FillProfile
from trading_system.strategies.jobs import BacktestJob, BacktestOutcome, newest_first_id
from trading_system.strategies.queries import (
    GetBacktest,
    GetBacktestEquity,
    GetBacktestTrades,
    GetDeployment,
    GetParity,
    GetStrategy,
    GetSweep,
    GetSweepHeatmap,
    GetSweepRanking,
    ListBacktests,
    ListDeployments,
    ListStrategies,
    ListSweeps,
)
from trading_system.strategies.runs import bars_of, check_data, profile_of
from trading_system.strategies.sweeping import (
    delete_sweep,
    finish_sweep,
    get_sweep,
    get_sweep_heatmap,
    get_sweep_ranking,
    list_sweeps,
    plan_sweep,
    run_sweep_block,
    submit_sweep,
)
from trading_system.strategies.webhooking import HANDLERS as WEBHOOK_HANDLERS

if TYPE_CHECKING:
    from trading_system.kernel.clock import Clock
    from trading_system.market_data.domain import Timeframe
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.scanning.domain import Scanner
    from trading_system.scanning.ports import ScannerRepository
    from trading_system.strategies.book import StrategyBook
    from trading_system.strategies.domain import Strategy
    from trading_system.strategies.ports import BacktestJobs, BacktestResults, SavedStrategies


# -- commands ---------------------------------------------------------------------------------


def submit_backtest(
    cmd: SubmitBacktest,
    backtests: BacktestJobs,
    symbols: SymbolRepository,
    strategies: StrategyBook,
    scanners: ScannerRepository,
    clock: Clock,
    context: MessageContext,
) -> Handled[BacktestJob]:
    """Everything that can be checked before running is checked here, so a bad request is a 4xx
    that names the problem and nothing is queued."""
    request = cmd.request
    strategy, kind = strategies.build(request.strategy, request.params)
    profile = profile_of(request)
    check_range(request.start, request.end)
    rules = None
    if request.universe_scanner is not None:
        rules, universe = _scanner_universe(request, profile, scanners, symbols)
        request = request.model_copy(update={"symbols": request.symbols or universe})
    elif strategy.needs_scanner:
        reason = f"{strategy.name} trades a scanner's signals: name the scanner in universe_scanner"
        raise ValidationFailed(reason, [Problem(reason, field="universe_scanner")])
    check_data(request, symbols)
    job = BacktestJob(
        backtest_id=newest_first_id("bt"),
        request=request,
        strategy_name=strategy.name,
        kind=kind,
        params=strategy.params.model_dump(),
        universe_rules=rules,
        submitted_at=clock.now(),
        submitted_by=context.principal.key_id,
    )
    backtests.add(job)
    requested = BacktestRequested(
        backtest_id=job.backtest_id, strategy=job.strategy_name, symbols=len(request.symbols)
    )
    return Handled(job, (requested,))


def delete_backtest(
    cmd: DeleteBacktest, backtests: BacktestJobs, backtest_results: BacktestResults
) -> Handled[None]:
    """The job first, so the backtest disappears at once; then its files."""
    if backtests.get(cmd.backtest_id) is None:
        raise NotFound(f"no backtest {cmd.backtest_id}", field="backtest_id")
    backtests.delete(cmd.backtest_id)
    backtest_results.delete(cmd.backtest_id)
    return Handled(None)


def create_strategy(
    cmd: CreateStrategy,
    saved_strategies: SavedStrategies,
    strategies: StrategyBook,
    clock: Clock,
    context: MessageContext,
) -> Handled[SavedStrategy]:
    from trading_system.strategies import registry

    if cmd.draft.name in registry.available(strategies.folder):
        raise Conflict(f"{cmd.draft.name} is the name of a strategy in code: choose another")
    now = clock.now()
    saved = SavedStrategy(
        **cmd.draft.model_dump(), created_at=now, created_by=context.principal.key_id, updated_at=now
    )
    try:
        saved_strategies.add(saved)
    except ConcurrencyConflict:
        raise Conflict(
            f"a strategy named {cmd.draft.name} exists: update it, or choose another name"
        ) from None
    return Handled(saved)


def update_strategy(
    cmd: UpdateStrategy, saved_strategies: SavedStrategies, clock: Clock
) -> Handled[SavedStrategy]:
    current = _saved(saved_strategies, cmd.name)
    if cmd.draft.name != cmd.name:
        reason = f"the body names {cmd.draft.name}, the path {cmd.name}: a strategy keeps its name"
        raise ValidationFailed(reason, [Problem(reason, field="name", value=cmd.draft.name)])
    updated = SavedStrategy(
        **cmd.draft.model_dump(),
        created_at=current.created_at,
        created_by=current.created_by,
        updated_at=clock.now(),
    )
    saved_strategies.save(updated)
    return Handled(updated)


def delete_strategy(cmd: DeleteStrategy, saved_strategies: SavedStrategies) -> Handled[None]:
    """Backtests already run keep their results: a job records the complete definition it ran."""
    _saved(saved_strategies, cmd.name)
    saved_strategies.delete(cmd.name)
    return Handled(None)


# -- the runner -------------------------------------------------------------------------------


def run_backtests(
    event: BacktestRequested,
    backtests: BacktestJobs,
    backtest_results: BacktestResults,
    symbols: SymbolRepository,
    lake: BarLake,
    strategies: StrategyBook,
    clock: Clock,
) -> Handled[BacktestJob | None]:
    """Run a queued backtest once. A strategy that raises, or data that went away, fails the job
    with the error recorded (never a retry loop); the results are written before the job says
    completed, and removed again if it was deleted meanwhile."""
    job = backtests.get(event.backtest_id)
    if job is None or not job.runnable(clock.now()):
        return Handled(None)  # deleted, or already run: a redelivered event does nothing
    job = job.start(clock.now())
    backtests.save(job)
    try:
        outcome, trades, curve = execute(job, symbols, lake, strategies)
        backtest_results.write(job.backtest_id, trades, curve)
    except Exception as error:
        failed = job.fail(describe_failure(error), clock.now())
        if backtests.get(job.backtest_id) is None:
            return Handled(None)
        backtests.save(failed)
        return Handled(
            failed,
            (
                BacktestFailed(
                    backtest_id=job.backtest_id, strategy=job.strategy_name, error=failed.error or ""
                ),
            ),
        )
    if backtests.get(job.backtest_id) is None:
        backtest_results.delete(job.backtest_id)
        return Handled(None)
    done = job.complete(outcome, clock.now())
    backtests.save(done)
    completed = BacktestCompleted(
        backtest_id=job.backtest_id,
        strategy=job.strategy_name,
        symbols=outcome.symbols,
        timeframe=job.request.timeframe,
        bars=outcome.bars,
        trades=outcome.trades,
        return_pct=outcome.stats.get("return_pct"),
        data_fingerprint=outcome.data_fingerprint,
    )
    return Handled(done, (completed,))


def execute(
    job: BacktestJob, symbols: SymbolRepository, lake: BarLake, strategies: StrategyBook
) -> tuple[BacktestOutcome, list[dict[str, Any]], dict[str, Any]]:
    """One symbol: the single-symbol engine. Several: one portfolio sharing the cash, each symbol
    with its own instance of the strategy. Returns the outcome, the trades and the equity curve."""
    from trading_system.strategies.backtest import backtest, backtest_portfolio
    from trading_system.strategies.results import TradeRow, drawdown_pct, fingerprint, utc

    request = job.request
    profile = profile_of(request)
    loaded = {symbol: bars_of(request, symbol, symbols, lake) for symbol in request.symbols}
    bars = {symbol: series for symbol, (series, _) in loaded.items()}

    def instance(symbol: str) -> Strategy:
        strategy = strategies.rebuild(job.strategy_name, job.kind, job.params)
        if job.universe_rules is not None:
            from trading_system.strategies.universe import gate, membership

            gate(strategy, membership(job.universe_rules, bars[symbol]))
        return strategy

    if len(bars) == 1:
        ((symbol, only),) = bars.items()
        single = backtest(instance(symbol), only, request.cash, profile, request.finalize)
        timeline, equity, stats = only.ts_ns, single.run.equity, single.stats
        trades = [TradeRow.of(symbol, trade) for trade in single.run.trades]
        still_open = len(single.run.open_trades)
    else:
        each = {symbol: instance(symbol) for symbol in bars}
        portfolio = backtest_portfolio(each, bars, request.cash, profile, request.finalize)
        timeline, equity, stats = portfolio.run.timeline_ns, portfolio.run.equity, portfolio.stats
        trades = [TradeRow.of(symbol, trade) for symbol, trade in portfolio.run.symbol_trades]
        still_open = len(portfolio.run.open_trades)
    outcome = BacktestOutcome(
        symbols=list(bars),
        source_timeframe=min((source for _, source in loaded.values()), key=lambda tf: tf.seconds),
        start=utc(int(timeline[0])),
        end=utc(int(timeline[-1])),
        bars=len(timeline),
        profile=profile.model_dump(),
        code_version=__version__,
        data_fingerprint=fingerprint(list(bars.values())),
        stats=stats,
        trades=len(trades),
        open_trades=still_open,
    )
    curve = {"ts_ns": timeline, "equity": equity, "drawdown_pct": drawdown_pct(equity)}
    return outcome, [t.model_dump(mode="json") for t in trades], curve


MAX_SYMBOLS = 500


def _scanner_universe(
    request: BacktestRequest, profile: FillProfile, scanners: ScannerRepository, symbols: SymbolRepository
) -> tuple[list[str], list[str]]:
    """The scanner's rules and its universe's symbols; a scanner of another timeframe, or fills
    at the signal bar's own close (which would act on a signal before it could be seen), are
    refused."""
    scanner = scanners.get(request.universe_scanner or "")
    field = "universe_scanner"
    if scanner is None:
        reason = f"no scanner {request.universe_scanner}"
        raise ValidationFailed(reason, [Problem(reason, field=field, value=request.universe_scanner)])
    if scanner.timeframe is not request.timeframe:
        reason = (
            f"scanner {scanner.scanner_id} scans {scanner.timeframe.value} bars, "
            f"the backtest {request.timeframe.value}"
        )
        raise ValidationFailed(reason, [Problem(reason, field=field, value=request.universe_scanner)])
    if profile.market_fill != "next_open":
        reason = (
            "a scanner's signal on a bar can be acted on at the next bar's open at the earliest: "
            "use a next_open profile"
        )
        raise ValidationFailed(reason, [Problem(reason, field="profile", value=request.profile)])
    universe = scanner_symbols(scanner, symbols, request.timeframe)
    if not request.symbols and len(universe) > MAX_SYMBOLS:
        reason = (
            f"scanner {scanner.scanner_id}'s universe has {len(universe)} symbols, "
            f"more than {MAX_SYMBOLS}: name the symbols"
        )
        raise ValidationFailed(reason, [Problem(reason, field="symbols")])
    if not request.symbols and not universe:
        reason = f"scanner {scanner.scanner_id}'s universe has no symbol with {request.timeframe.value} bars"
        raise ValidationFailed(reason, [Problem(reason, field="symbols")])
    return list(scanner.rules), universe


def scanner_symbols(scanner: Scanner, symbols: SymbolRepository, timeframe: Timeframe) -> list[str]:
    """The symbols of a scanner's universe that have bars of the timeframe (or finer)."""
    from trading_system.scanning.domain import AllSymbols, SymbolList

    if isinstance(scanner.universe, SymbolList):
        return list(scanner.universe.symbols)
    if isinstance(scanner.universe, AllSymbols):
        listings, after = [], None
        while page := symbols.list(after, 1000):
            listings += page
            after = page[-1].symbol
    else:
        listings = symbols.tagged(scanner.universe.tag)
    return [x.symbol for x in listings if x.source_timeframe(timeframe, EPOCH, FOREVER) is not None]


# -- queries ----------------------------------------------------------------------------------


def list_strategies(query: ListStrategies, strategies: StrategyBook) -> list[dict[str, Any]]:
    return strategies.describe()


def get_strategy(query: GetStrategy, saved_strategies: SavedStrategies) -> SavedStrategy:
    return _saved(saved_strategies, query.name)


def _saved(saved_strategies: SavedStrategies, name: str) -> SavedStrategy:
    found = saved_strategies.get(name)
    if found is None:
        raise NotFound(
            f"no saved strategy {name} (built-in and code strategies are not stored)", field="name"
        )
    return found


def get_backtest(query: GetBacktest, backtests: BacktestJobs) -> BacktestJob:
    return _job(backtests, query.backtest_id)


def list_backtests(query: ListBacktests, backtests: BacktestJobs) -> list[BacktestJob]:
    if query.ids is not None:
        found = backtests.get_many(query.ids)
        missing = [i for i in query.ids if i not in found]
        if missing:
            raise NotFound(f"no backtest {', '.join(missing)}", field="ids")
        return [found[i] for i in query.ids]
    if query.strategy is None:
        return backtests.newest(query.after, query.limit)
    # Filtered after reading, a page at a time: a user keeps hundreds of backtests, not millions.
    picked: list[BacktestJob] = []
    after = query.after
    while len(picked) < query.limit and (page := backtests.newest(after, 500)):
        picked += [job for job in page if job.strategy_name == query.strategy]
        after = page[-1].backtest_id
    return picked[: query.limit]


def get_backtest_trades(
    query: GetBacktestTrades, backtests: BacktestJobs, backtest_results: BacktestResults
) -> list[dict[str, Any]]:
    _job(backtests, query.backtest_id).require_results()
    return backtest_results.trades(query.backtest_id, query.offset, query.limit)


def get_backtest_equity(
    query: GetBacktestEquity, backtests: BacktestJobs, backtest_results: BacktestResults
) -> list[dict[str, Any]]:
    _job(backtests, query.backtest_id).require_results()
    return backtest_results.equity(query.backtest_id, query.points)


def _job(backtests: BacktestJobs, backtest_id: str) -> BacktestJob:
    job = backtests.get(backtest_id)
    if job is None:
        raise NotFound(f"no backtest {backtest_id}", field="backtest_id")
    return job


__all__ = [
    "HANDLERS",
    "pause_halted_account",
    "run_backtests",
    "run_deployments",
]  # the catalog's subscriptions

HANDLERS = HandlerTable(
    commands={
        CreateStrategy: create_strategy,
        UpdateStrategy: update_strategy,
        DeleteStrategy: delete_strategy,
        SubmitBacktest: submit_backtest,
        DeleteBacktest: delete_backtest,
        CreateDeployment: create_deployment,
        StartDeployment: start_deployment,
        PauseDeployment: pause_deployment,
        StopDeployment: stop_deployment,
        SubmitSweep: submit_sweep,
        DeleteSweep: delete_sweep,
        PlanSweep: plan_sweep,
        RunSweepBlock: run_sweep_block,
        FinishSweep: finish_sweep,
    },
    queries={
        ListStrategies: list_strategies,
        GetStrategy: get_strategy,
        GetBacktest: get_backtest,
        ListBacktests: list_backtests,
        GetBacktestTrades: get_backtest_trades,
        GetBacktestEquity: get_backtest_equity,
        GetDeployment: get_deployment,
        ListDeployments: list_deployments,
        GetParity: get_parity,
        GetSweep: get_sweep,
        ListSweeps: list_sweeps,
        GetSweepRanking: get_sweep_ranking,
        GetSweepHeatmap: get_sweep_heatmap,
    },
)
# Webhooks in (strategies/webhooking.py) keep their handlers beside their model.
HANDLERS = HANDLERS.merge(WEBHOOK_HANDLERS)
