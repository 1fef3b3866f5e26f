"""Strategies' application layer: backtests as jobs (submitted, run on BacktestRequested, kept
with their results), and the strategy list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading_system import __version__
from trading_system.kernel.bus import Handled, HandlerTable, MessageContext
from trading_system.kernel.clock import newest_first_id
from trading_system.kernel.errors import (
    ConcurrencyConflict,
    Conflict,
    NotFound,
    Problem,
    ValidationFailed,
    describe_failure,
)
from trading_system.kernel.principal import visible
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
from trading_system.strategies.jobs import BacktestJob, BacktestOutcome
from trading_system.strategies.ownership import newest_visible, seen
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

if TYPE_CHECKING:
    from trading_system.analytics.ports import SignalLog
    from trading_system.kernel.clock import Clock
    from trading_system.kernel.principal import Principal
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
    strategy, kind = strategies.build(request.strategy, request.params, context.principal)
    profile = profile_of(request)
    check_range(request.start, request.end)
    rules, signals_of = None, None
    if request.universe_scanner is not None:
        scanner = seen(context.principal, scanners.get(request.universe_scanner))
        rules, universe = _scanner_universe(request, scanner, profile, symbols)
        request = request.model_copy(update={"symbols": request.symbols or universe})
        if scanner is not None and scanner.is_external:
            # Its signals are read when the job runs (in the function that reads the lake), up
            # to this submission.
            rules, signals_of = None, scanner.scanner_id
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
        universe_signals_of=signals_of,
        owner=context.principal.user,
        submitted_at=clock.now(),
        submitted_by=context.principal.key_id,
    )
    backtests.add(job)
    requested = BacktestRequested(
        backtest_id=job.backtest_id, strategy=job.strategy_name, symbols=len(request.symbols)
    )
    return Handled(job, (requested,))


def delete_backtest(
    cmd: DeleteBacktest,
    backtests: BacktestJobs,
    backtest_results: BacktestResults,
    context: MessageContext,
) -> Handled[None]:
    """The job first, so the backtest disappears at once; then its files."""
    _job(backtests, cmd.backtest_id, context.principal)
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
    principal = context.principal
    saved = SavedStrategy(
        **cmd.draft.model_dump(),
        owner=principal.user,
        created_at=now,
        created_by=principal.key_id,
        updated_at=now,
    )
    try:
        saved_strategies.add(saved)
    except ConcurrencyConflict:
        # Names are one namespace (the id in /v1/strategies/{name}, in jobs and events): another
        # user's strategy is only said to exist, never shown.
        taken = saved_strategies.get(cmd.draft.name)
        if taken is not None and principal.owns(taken.owner):
            raise Conflict(
                f"a strategy named {cmd.draft.name} exists: update it, or choose another name"
            ) from None
        raise Conflict(f"the name {cmd.draft.name} is taken: choose another") from None
    return Handled(saved)


def update_strategy(
    cmd: UpdateStrategy, saved_strategies: SavedStrategies, clock: Clock, context: MessageContext
) -> Handled[SavedStrategy]:
    current = _saved(saved_strategies, cmd.name, context.principal)
    if cmd.draft.name != cmd.name:
        reason = f"the body names {cmd.draft.name}, the path {cmd.name}: a strategy keeps its name"
        raise ValidationFailed(reason, [Problem(reason, field="name", value=cmd.draft.name)])
    updated = SavedStrategy(
        **cmd.draft.model_dump(),
        owner=current.owner,
        created_at=current.created_at,
        created_by=current.created_by,
        updated_at=clock.now(),
    )
    saved_strategies.save(updated)
    return Handled(updated)


def delete_strategy(
    cmd: DeleteStrategy, saved_strategies: SavedStrategies, context: MessageContext
) -> Handled[None]:
    """Backtests already run keep their results: a job records the complete definition it ran."""
    _saved(saved_strategies, cmd.name, context.principal)
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
    signal_log: SignalLog,
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
        outcome, trades, curve = execute(job, symbols, lake, strategies, signal_log)
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
    job: BacktestJob,
    symbols: SymbolRepository,
    lake: BarLake,
    strategies: StrategyBook,
    signal_log: SignalLog,
) -> tuple[BacktestOutcome, list[dict[str, Any]], dict[str, Any]]:
    """One symbol: the single-symbol engine. Several: one portfolio sharing the cash, each symbol
    with its own instance of the strategy. Returns the outcome, the trades and the equity curve."""
    from trading_system.strategies.backtest import backtest, backtest_portfolio
    from trading_system.strategies.results import TradeRow, drawdown_pct, fingerprint, utc

    request = job.request
    profile = profile_of(request)
    loaded = {symbol: bars_of(request, symbol, symbols, lake) for symbol in request.symbols}
    bars = {symbol: series for symbol, (series, _) in loaded.items()}
    signal_bars = None
    if job.universe_signals_of is not None:
        from trading_system.strategies.universe import recorded_signal_bars

        signal_bars = recorded_signal_bars(signal_log, job.universe_signals_of, until=job.submitted_at)

    def instance(symbol: str) -> Strategy:
        from trading_system.strategies.universe import gate, membership, signalled

        strategy = strategies.rebuild(job.strategy_name, job.kind, job.params)
        if job.universe_rules is not None:
            gate(strategy, membership(job.universe_rules, bars[symbol]))
        elif signal_bars is not None:
            gate(strategy, signalled(signal_bars.get(symbol, set()), bars[symbol]))
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
    request: BacktestRequest, scanner: Scanner | None, profile: FillProfile, symbols: SymbolRepository
) -> tuple[list[str], list[str]]:
    """The scanner's rules and its universe's symbols; no scanner (unknown, or not the caller's),
    a scanner of another timeframe, or fills at the signal bar's own close (which would act on a
    signal before it could be seen), are refused."""
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


def list_strategies(
    query: ListStrategies, strategies: StrategyBook, context: MessageContext
) -> list[dict[str, Any]]:
    return strategies.describe(context.principal)


def get_strategy(
    query: GetStrategy, saved_strategies: SavedStrategies, context: MessageContext
) -> SavedStrategy:
    return _saved(saved_strategies, query.name, context.principal)


def _saved(saved_strategies: SavedStrategies, name: str, principal: Principal) -> SavedStrategy:
    not_found = f"no saved strategy {name} (built-in and code strategies are not stored)"
    return visible(principal, saved_strategies.get(name), not_found, "name")


def get_backtest(query: GetBacktest, backtests: BacktestJobs, context: MessageContext) -> BacktestJob:
    return _job(backtests, query.backtest_id, context.principal)


def list_backtests(
    query: ListBacktests, backtests: BacktestJobs, context: MessageContext
) -> list[BacktestJob]:
    principal = context.principal
    if query.ids is not None:
        found = backtests.get_many(query.ids)
        missing = [i for i in query.ids if i not in found or not principal.owns(found[i].owner)]
        if missing:
            raise NotFound(f"no backtest {', '.join(missing)}", field="ids")
        return [found[i] for i in query.ids]
    strategy = query.strategy
    keep = None if strategy is None else (lambda job: job.strategy_name == strategy)
    return newest_visible(backtests, principal, query.after, query.limit, keep)


def get_backtest_trades(
    query: GetBacktestTrades,
    backtests: BacktestJobs,
    backtest_results: BacktestResults,
    context: MessageContext,
) -> list[dict[str, Any]]:
    _job(backtests, query.backtest_id, context.principal).require_results()
    return backtest_results.trades(query.backtest_id, query.offset, query.limit)


def get_backtest_equity(
    query: GetBacktestEquity,
    backtests: BacktestJobs,
    backtest_results: BacktestResults,
    context: MessageContext,
) -> list[dict[str, Any]]:
    _job(backtests, query.backtest_id, context.principal).require_results()
    return backtest_results.equity(query.backtest_id, query.points)


def _job(backtests: BacktestJobs, backtest_id: str, principal: Principal) -> BacktestJob:
    return visible(principal, backtests.get(backtest_id), f"no backtest {backtest_id}", "backtest_id")


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
# Webhooks (strategies/webhooking.py) and their alerts (strategies/webhook_alerts.py) keep their
# handlers, and their tables, beside their models: the bus loads each on its own
# (bootstrap.TABLES_APART).
