"""Live deployments' handlers: created, started, paused and stopped by people; deciding on each
settled bar of their universe, and placing their orders through Trading's commands."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from trading_system.kernel.bus import Handled, MessageContext
from trading_system.kernel.clock import sortable_id
from trading_system.kernel.errors import NotFound, Problem, ValidationFailed, describe_failure
from trading_system.kernel.messages import Event
from trading_system.kernel.principal import Principal, Role, visible
from trading_system.market_data.domain import Adjustment, Timeframe
from trading_system.strategies.commands import (
    CreateDeployment,
    PauseDeployment,
    StartDeployment,
    StopDeployment,
)
from trading_system.strategies.deployments import Deployment, DeploymentDraft, DeploymentStatus
from trading_system.strategies.events import (
    DeploymentOrdered,
    DeploymentPaused,
    DeploymentStarted,
    DeploymentStopped,
    StaleBars,
)
from trading_system.strategies.ownership import seen
from trading_system.strategies.queries import GetDeployment, GetParity, ListDeployments

if TYPE_CHECKING:
    from trading_system.analytics.ports import SignalLog
    from trading_system.kernel.bus import MessageBus
    from trading_system.kernel.clock import Clock
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.scanning.events import SignalDetected
    from trading_system.scanning.ports import ScannerRepository
    from trading_system.strategies.book import StrategyBook
    from trading_system.strategies.domain import Context
    from trading_system.strategies.engine import Bars
    from trading_system.strategies.live import Holding, Intent
    from trading_system.strategies.parity import Action, ParityReport
    from trading_system.strategies.ports import Deployments
    from trading_system.trading.events import AccountHalted, BarsSettled
    from trading_system.trading.orders import Order


def create_deployment(
    cmd: CreateDeployment,
    deployments: Deployments,
    strategies: StrategyBook,
    symbols: SymbolRepository,
    scanners: ScannerRepository,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
) -> Handled[Deployment]:
    from trading_system.trading.queries import GetAccount

    draft = cmd.draft
    strategy, kind = strategies.build(draft.strategy, draft.params, context.principal)
    if strategy.not_live:
        raise ValidationFailed(strategy.not_live, [Problem(strategy.not_live, field="strategy")])
    known = symbols.known(draft.symbols)
    problems = [
        Problem(f"symbol {s} is not registered", field="symbols", value=s)
        for s in draft.symbols
        if s not in known
    ]
    problems += _universe_problems(draft, strategy.needs_scanner, scanners, context.principal)
    deployment_id = f"dep_{sortable_id()[-12:]}"
    equity = None
    try:
        # As the caller: an account of another user's answers as an unknown one (Trading's rule).
        account = bus.ask(GetAccount(account_id=draft.account_id), context)
        equity = float(account.equity)
        # An account the caller only reads, or (an admin) another user's: seen, but the orders,
        # placed for the caller's user, would be refused on the first bar. Refused now instead.
        if not _trader(deployment_id, context.principal.user).owns(account.owner):
            reason = f"account {draft.account_id} is {account.owner}'s: deploy on an account of your own"
            problems.append(Problem(reason, field="account_id", value=draft.account_id))
    except NotFound:
        problems.append(
            Problem(f"no paper account {draft.account_id}", field="account_id", value=draft.account_id)
        )
    if problems:
        raise ValidationFailed(problems[0].reason, problems)
    now = clock.now()
    deployment = Deployment(
        deployment_id=deployment_id,
        draft=draft,
        strategy_name=strategy.name,
        kind=kind,
        params=strategy.params.model_dump(),
        status=DeploymentStatus.RUNNING if draft.start else DeploymentStatus.PAUSED,
        reason=None if draft.start else "created paused",
        owner=context.principal.user,
        created_at=now,
        created_by=context.principal.key_id,
        updated_at=now,
        starting_equity=equity,
    )
    deployments.add(deployment)
    events: tuple[Event, ...] = ()
    if draft.start:
        events = (_started(deployment),)
    return Handled(deployment, events)


def _universe_problems(
    draft: DeploymentDraft, needs_scanner: bool, scanners: ScannerRepository, principal: Principal
) -> list[Problem]:
    field = "universe_scanner"
    if draft.universe_scanner is None:
        if needs_scanner:
            reason = f"{draft.strategy} trades a scanner's signals: name the scanner in universe_scanner"
            return [Problem(reason, field=field)]
        return []
    scanner = seen(principal, scanners.get(draft.universe_scanner))  # another user's: unknown
    if scanner is None:
        return [Problem(f"no scanner {draft.universe_scanner}", field=field, value=draft.universe_scanner)]
    if scanner.timeframe is not draft.timeframe:
        reason = (
            f"scanner {scanner.scanner_id} scans {scanner.timeframe.value} bars, "
            f"the deployment trades {draft.timeframe.value}"
        )
        return [Problem(reason, field=field, value=draft.universe_scanner)]
    return []


def start_deployment(
    cmd: StartDeployment, deployments: Deployments, clock: Clock, context: MessageContext
) -> Handled[Deployment]:
    started = _deployment(deployments, cmd.deployment_id, context.principal).start(clock.now())
    deployments.save(started)
    return Handled(started, (_started(started),))


def pause_deployment(
    cmd: PauseDeployment, deployments: Deployments, clock: Clock, context: MessageContext
) -> Handled[Deployment]:
    paused = _deployment(deployments, cmd.deployment_id, context.principal).pause(cmd.reason, clock.now())
    deployments.save(paused)
    return Handled(paused, (_paused(paused),))


def stop_deployment(
    cmd: StopDeployment, deployments: Deployments, clock: Clock, context: MessageContext
) -> Handled[Deployment]:
    stopped = _deployment(deployments, cmd.deployment_id, context.principal).stop(cmd.reason, clock.now())
    deployments.save(stopped)
    event = DeploymentStopped(
        deployment_id=stopped.deployment_id, account_id=stopped.draft.account_id, reason=cmd.reason
    )
    return Handled(stopped, (event,))


def get_deployment(query: GetDeployment, deployments: Deployments, context: MessageContext) -> Deployment:
    return _deployment(deployments, query.deployment_id, context.principal)


def list_deployments(
    query: ListDeployments, deployments: Deployments, context: MessageContext
) -> list[Deployment]:
    mine = [d for d in deployments.list() if context.principal.owns(d.owner)]
    return sorted(mine, key=lambda d: d.created_at, reverse=True)


def get_parity(
    query: GetParity,
    deployments: Deployments,
    strategies: StrategyBook,
    scanners: ScannerRepository,
    lake: BarLake,
    signal_log: SignalLog,
    bus: MessageBus,
    context: MessageContext,
) -> ParityReport:
    """Re-run the deployment's strategy over the bars it saw and list every difference between
    its live orders and the backtest engine's. A deployment following a scanner is re-run with
    the scanner's rules evaluated on each bar as its universe (what its signals should have
    said): a signal that was missed or late shows as a difference. An external scanner has no
    rules: its recorded signals are its universe."""
    from trading_system.strategies.backtest import backtest
    from trading_system.strategies.domain import decide_only_when
    from trading_system.strategies.fills import PROFILES
    from trading_system.strategies.parity import ParityReport, backtest_actions, compare
    from trading_system.trading.queries import GetAccount

    deployment = _deployment(deployments, query.deployment_id, context.principal)
    account = bus.ask(GetAccount(account_id=deployment.draft.account_id))
    profile = PROFILES["last_close"].with_costs(float(account.settings.commission_bps) / 10_000, None)
    cash = deployment.starting_equity or float(account.starting_cash)
    live = _live_actions(deployment, bus)
    summary: dict[str, dict[str, object]] = {}
    differences = []
    members_of = _membership(deployment, scanners, signal_log)
    for symbol, first in deployment.first_bar.items():
        # up to the newest bar it saw: one following a scanner sees bars it does not decide on
        last = max(deployment.last_bar[symbol], deployment.settled.get(symbol, deployment.last_bar[symbol]))
        bars = _history(deployment, symbol, first, last, lake)
        strategy = strategies.rebuild(deployment.strategy_name, deployment.kind, deployment.params)
        start = int((bars.ts_ns < int(first.timestamp() * 1e9)).sum())
        # as the deployment did: it was not running before its first bar
        decide_only_when(strategy, functools.partial(_from, start, members_of(symbol, bars)))
        outcome = backtest(strategy, bars, cash, profile, finalize=False)
        engine = backtest_actions(bars, outcome.run.trades, outcome.run.open_trades)
        mine = live.get(symbol, [])
        summary[symbol] = {
            "first_bar": first,
            "last_bar": last,
            "live_orders": len(mine),
            "backtest_orders": len(engine),
        }
        differences += compare(symbol, mine, engine)
    return ParityReport(
        deployment_id=deployment.deployment_id,
        profile=profile.model_dump(),
        cash=cash,
        symbols=summary,
        differences=sorted(differences, key=lambda d: (d.bar, d.symbol)),
    )


def _from(start: int, members: list[bool] | None, ctx: Context) -> bool:
    from trading_system.strategies.universe import may_decide

    return ctx.i >= start and (members is None or may_decide(members, ctx))


def _membership(
    deployment: Deployment, scanners: ScannerRepository, signal_log: SignalLog
) -> Callable[[str, Bars], list[bool] | None]:
    """On which bars the deployment's scanner matches a symbol (None: it follows no scanner): its
    rules evaluated bar by bar, or an external scanner's recorded signals (read once)."""
    from trading_system.strategies.universe import membership, recorded_signal_bars, signalled

    if deployment.draft.universe_scanner is None:
        return lambda symbol, bars: None
    scanner = scanners.get(deployment.draft.universe_scanner)
    if scanner is None:
        raise NotFound(f"no scanner {deployment.draft.universe_scanner}", field="universe_scanner")
    if scanner.is_external:
        recorded = recorded_signal_bars(signal_log, scanner.scanner_id)
        return lambda symbol, bars: signalled(recorded.get(symbol, set()), bars).tolist()
    return lambda symbol, bars: membership(scanner.rules, bars).tolist()


def _live_actions(deployment: Deployment, bus: MessageBus) -> dict[str, list[Action]]:
    """The deployment's orders (their client_order_ids start with its id), on the bar each was
    decided on: the order's `as_of` is the end of that bar."""
    from trading_system.strategies.parity import Action

    tf = deployment.draft.timeframe
    found: dict[str, list[Action]] = {}
    for order in _orders(deployment.draft.account_id, "all", bus):
        if not order.client_order_id.startswith(f"{deployment.deployment_id}-") or order.as_of is None:
            continue
        if order.oco_group is not None and order.filled_qty == 0:
            continue  # an exit still waiting, or canceled by its group: nothing happened
        price = None if order.filled_avg_price is None else float(order.filled_avg_price)
        bar = order.as_of - tf.delta
        if order.oco_group is not None and order.type.value in ("stop", "limit") and order.last_bar_ts:
            bar = order.last_bar_ts  # a stop-loss or take-profit acts on the bar that reached it
        found.setdefault(order.symbol, []).append(Action(bar, order.side.value, float(order.qty or 0), price))
    return {
        symbol: sorted(actions, key=lambda a: (a.bar, a.side == "buy")) for symbol, actions in found.items()
    }


def pause_halted_account(
    event: AccountHalted, deployments: Deployments, clock: Clock
) -> Handled[list[Deployment]]:
    """A loss limit halted an account: its running deployments pause, with the limit as the
    reason, until a person starts them again (after an admin resumes the account)."""
    reason = (
        f"account {event.account_id} halted: {event.limit} crossed "
        f"(equity {event.equity}, limit {event.threshold})"
    )
    paused = [
        d.pause(reason, clock.now())
        for d in deployments.list()
        if d.draft.account_id == event.account_id and d.status is DeploymentStatus.RUNNING
    ]
    for deployment in paused:
        deployments.save(deployment)
    return Handled(paused, tuple(_paused(d) for d in paused))


# -- deciding on new bars ----------------------------------------------------------------------


def run_deployments(
    event: BarsSettled | SignalDetected,
    deployments: Deployments,
    strategies: StrategyBook,
    lake: BarLake,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
) -> Handled[int]:
    """Running deployments decide, once per bar of each symbol:
    - on BarsSettled (the bars are in the lake and their fills are done), for the symbols they
      trade; a deployment following a scanner only where it holds the symbol or a signal named
      that bar;
    - on the scanner's SignalDetected, for that symbol, when the bar it names is already settled
      (else the BarsSettled still to come decides). Older signals are kept, never acted on.
    A deployment whose strategy raises, or whose order is refused, pauses itself; the others go
    on. Returns the number of orders placed."""
    from trading_system.trading.events import BarsSettled

    published: list[Event] = []
    placed = 0
    for deployment in deployments.list():
        if deployment.status is not DeploymentStatus.RUNNING:
            continue
        if isinstance(event, BarsSettled):
            due = _settled(deployment, event, bus)
        else:
            due = _signalled(deployment, event)
        if due is None:
            continue
        deployment, bars = due
        for symbol, bar in bars.items():
            decision = _decide_bar(deployment, symbol, bar, strategies, lake, bus, clock, context)
            deployment, events, orders = decision
            published += events
            placed += orders
            if deployment.status is not DeploymentStatus.RUNNING:
                break
        deployments.save(deployment)
    return Handled(placed, tuple(published))


def _settled(
    deployment: Deployment, event: BarsSettled, bus: MessageBus
) -> tuple[Deployment, dict[str, datetime]] | None:
    """The deployment with the settled bars noted, and the symbols' bars it decides on."""
    if deployment.draft.timeframe is not Timeframe(event.timeframe):
        return None
    mine = {symbol: bar for symbol, bar in event.last.items() if deployment.draft.trades(symbol)}
    if not mine:
        return None
    held: set[str] = set()
    if deployment.draft.universe_scanner:
        held = _held(deployment, bus)
        for symbol, bar in mine.items():
            deployment = deployment.settle(symbol, bar)
    return deployment, {s: bar for s, bar in mine.items() if deployment.due(s, bar, s in held)}


def _signalled(
    deployment: Deployment, event: SignalDetected
) -> tuple[Deployment, dict[str, datetime]] | None:
    draft = deployment.draft
    if draft.universe_scanner != event.scanner_id or draft.timeframe is not event.timeframe:
        return None
    if not draft.trades(event.symbol):
        return None
    deployment = deployment.signal(event.symbol, event.ts)
    ready = deployment.settled.get(event.symbol) == event.ts and deployment.due(event.symbol, event.ts, False)
    return deployment, ({event.symbol: event.ts} if ready else {})


def _held(deployment: Deployment, bus: MessageBus) -> set[str]:
    """The symbols the deployment's account holds or has open orders in."""
    from trading_system.trading.queries import ListPositions

    account_id = deployment.draft.account_id
    held = {p.symbol for p in bus.ask(ListPositions(account_id=account_id)) if float(p.qty) != 0}
    return held | {order.symbol for order in _orders(account_id, "open", bus)}


def _orders(account_id: str, status: Literal["open", "all"], bus: MessageBus) -> Iterator[Order]:
    """Every order of the account with that status, page after page."""
    from trading_system.trading.queries import ListOrders

    after = None
    while True:
        page = bus.ask(ListOrders(account_id=account_id, status=status, after=after, limit=500))
        yield from page.orders
        if page.next is None:
            return
        after = page.next


def _decide_bar(
    deployment: Deployment,
    symbol: str,
    bar: datetime,
    strategies: StrategyBook,
    lake: BarLake,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
) -> tuple[Deployment, list[Event], int]:
    """One decision: an alert and no order on a stale bar; the orders placed; or the deployment
    paused with the reason its strategy raised or its order was refused."""
    timeframe = deployment.draft.timeframe
    age_s = (clock.now() - (bar + timeframe.delta)).total_seconds()
    if age_s > deployment.draft.stale_after_s():
        stale = StaleBars(
            deployment_id=deployment.deployment_id,
            symbol=symbol,
            bar=bar,
            age_s=age_s,
            max_age_s=deployment.draft.stale_after_s(),
        )
        return deployment.decided(symbol, bar, 0, clock.now()), [stale], 0
    try:
        order_ids = _decide(deployment, symbol, bar, strategies, lake, bus, context)
    except Exception as error:
        paused = deployment.pause(f"{symbol} {bar.isoformat()}: {describe_failure(error)}", clock.now())
        return paused, [_paused(paused)], 0
    deployment = deployment.decided(symbol, bar, len(order_ids), clock.now())
    if not order_ids:
        return deployment, [], 0
    ordered = DeploymentOrdered(
        deployment_id=deployment.deployment_id, symbol=symbol, bar=bar, order_ids=order_ids
    )
    return deployment, [ordered], len(order_ids)


def _decide(
    deployment: Deployment,
    symbol: str,
    bar: datetime,
    strategies: StrategyBook,
    lake: BarLake,
    bus: MessageBus,
    context: MessageContext,
) -> list[str]:
    from trading_system.strategies.live import decide

    bars = _history(deployment, symbol, bar, bar, lake)
    strategy = strategies.rebuild(deployment.strategy_name, deployment.kind, deployment.params)
    acting = MessageContext(
        principal=_trader(deployment.deployment_id, deployment.owner),
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
    )
    intents = decide(strategy, bars, _holding(deployment, symbol, bus, acting), symbol)
    return [
        order_id
        for i, intent in enumerate(intents)
        for order_id in _place(deployment, symbol, bar, i, intent, bus, acting)
    ]


def _history(deployment: Deployment, symbol: str, first: datetime, last: datetime, lake: BarLake) -> Bars:
    """The bars from `history_bars` before `first` up to `last`: what the deployment read."""
    from trading_system.strategies.engine import Bars

    tf, history = deployment.draft.timeframe, deployment.draft.history_bars
    # Reading four times the span covers nights, weekends and holidays; the tail is what counts.
    start = first - tf.delta * history * 4
    # Split-adjusted, as backtests read (one engine): a split in the warm-up is no crash.
    series = lake.bars(symbol, tf, start, last + tf.delta, 5_000_000, tf, None, Adjustment.SPLIT)
    if series is None or len(series) == 0:
        raise ValueError(f"no {tf.value} bars of {symbol} up to {last.isoformat()} in the lake")
    before_first = int((series.ts_us < int(first.timestamp() * 1e6)).sum())
    keep = slice(max(0, before_first - history + 1), len(series))
    return Bars(
        series.ts_us[keep] * 1000,
        series.open[keep],
        series.high[keep],
        series.low[keep],
        series.close[keep],
        series.volume[keep],
    )


def _holding(deployment: Deployment, symbol: str, bus: MessageBus, context: MessageContext) -> Holding:
    from trading_system.strategies.live import Holding
    from trading_system.trading.queries import GetAccount, ListPositions

    account_id = deployment.draft.account_id
    account = bus.ask(GetAccount(account_id=account_id), context)
    positions = bus.ask(ListPositions(account_id=account_id), context)
    qty = sum(float(p.qty) for p in positions if p.symbol == symbol)  # negative when short
    return Holding(
        qty=qty,
        cash=float(account.buying_power),
        equity=float(account.equity),
        commission=float(account.settings.commission_bps) / 10_000,
    )


def _place(
    deployment: Deployment,
    symbol: str,
    bar: datetime,
    index: int,
    intent: Intent,
    bus: MessageBus,
    context: MessageContext,
) -> list[str]:
    """The intent's order, and for a market entry with a stop-loss or take-profit, those too once
    it filled: exits of a one-cancels-other group with the strategy's own close."""

    from trading_system.trading.commands import PlaceOrder
    from trading_system.trading.orders import (
        OrderRequest,
        OrderSide,
        OrderStatus,
        OrderType,
        TimeInForce,
    )

    def place(request: OrderRequest) -> Order:
        placed = bus.execute(PlaceOrder(request=request), context)
        if placed.order.status is OrderStatus.REJECTED:
            raise ValueError(
                f"order {placed.order.id} ({request.side} {request.qty}) was rejected: "
                f"{placed.order.reject_reason}"
            )
        order: Order = placed.order
        return order

    def request(key: int | str, **fields: Any) -> OrderRequest:
        return OrderRequest(
            symbol=symbol,
            # good till canceled: a day order placed after the close could expire before the next bar
            time_in_force=TimeInForce.GTC,
            client_order_id=deployment.client_order_id(symbol, bar, key),
            account_id=deployment.draft.account_id,
            **fields,
        )

    group = deployment.oco_group(symbol)
    entry = place(
        request(
            index,
            side=OrderSide(intent.side),
            type=OrderType(intent.type),
            qty=Decimal(intent.qty),
            limit_price=None if intent.limit_price is None else _price(intent.limit_price),
            stop_price=None if intent.stop_price is None else _price(intent.stop_price),
            oco_group=group if intent.exit else None,
        )
    )
    ids = [entry.id]
    if intent.sl is None and intent.tp is None:
        return ids
    if entry.filled_qty == 0:
        raise ValueError(
            f"order {entry.id} did not fill at once, so its stop-loss and take-profit were not placed"
        )
    out = OrderSide.SELL if intent.side == "buy" else OrderSide.BUY
    # The stop-loss first: a bar that reaches both fills it, as the backtest engine assumes.
    legs = (
        ("sl", OrderType.STOP, "stop_price", intent.sl),
        ("tp", OrderType.LIMIT, "limit_price", intent.tp),
    )
    for name, kind, field, price in legs:
        if price is not None:
            leg = request(
                f"{index}-{name}",
                side=out,
                type=kind,
                qty=entry.filled_qty,
                oco_group=group,
                **{field: _price(price)},
            )
            ids.append(place(leg).id)
    return ids


def _price(value: float) -> Decimal:
    """A strategy's price on Trading's grid (6 places): 72.74029999999999 is 72.740300."""
    return Decimal(repr(value)).quantize(Decimal("0.000001"))


def _trader(deployment_id: str, owner: str) -> Principal:
    """Who a deployment's orders are placed as: a trader of its own (in Trading's audit trail)
    acting for its owner, so Trading refuses an account the owner may not trade (it was taken
    from them, or never was theirs)."""
    return Principal(key_id=deployment_id, role=Role.TRADER, user=owner)


def _deployment(deployments: Deployments, deployment_id: str, principal: Principal) -> Deployment:
    not_found = f"no deployment {deployment_id}"
    return visible(principal, deployments.get(deployment_id), not_found, "deployment_id")


def _started(deployment: Deployment) -> DeploymentStarted:
    return DeploymentStarted(
        deployment_id=deployment.deployment_id,
        strategy=deployment.strategy_name,
        account_id=deployment.draft.account_id,
    )


def _paused(deployment: Deployment) -> DeploymentPaused:
    return DeploymentPaused(
        deployment_id=deployment.deployment_id,
        account_id=deployment.draft.account_id,
        reason=deployment.reason or "",
    )
