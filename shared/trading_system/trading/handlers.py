"""Trading's application layer: each command loads its aggregates, decides, and commits the
events atomically, retrying when another writer got there first."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import NAMESPACE_URL, uuid4, uuid5

from pydantic import BaseModel

from trading_system.kernel.bus import Handled, HandlerTable, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    Forbidden,
    Problem,
    ValidationFailed,
)
from trading_system.kernel.messages import Event
from trading_system.kernel.principal import Principal
from trading_system.market_data.events import BarsIngested
from trading_system.trading import risk
from trading_system.trading.access import own_account, own_order
from trading_system.trading.accounts import Account
from trading_system.trading.broker import (
    Broker,
    BrokerFactory,
    Cancel,
    Execution,
    Expire,
    MarketBar,
)
from trading_system.trading.commands import (
    CancelOrder,
    CloseSession,
    CreateAccount,
    GrantAccountReader,
    HaltTrading,
    PlaceOrder,
    ResetAccount,
    ResumeAccount,
    ResumeTrading,
    RevokeAccountReader,
)
from trading_system.trading.events import (
    AccountCreated,
    AccountReaderGranted,
    AccountReaderRevoked,
    AccountReset,
    AccountResumed,
    BarsSettled,
    EquityMarked,
    FundsReserved,
    OrderFilled,
    OrderPlaced,
    TradingHalted,
    TradingResumed,
)
from trading_system.trading.execution import execute, fill_record, market_bars
from trading_system.trading.ledger import Change, TradingLedger, audit, marks_of
from trading_system.trading.orders import Order, TimeInForce
from trading_system.trading.precision import decimal_from_float, qty_step
from trading_system.trading.quotes import Quote
from trading_system.trading.sessions import market_closed
from trading_system.trading.views import AccountView, account_view

if TYPE_CHECKING:
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.trading.ports import FillLog

T = TypeVar("T")
ATTEMPTS = 25
ZERO = Decimal(0)


class RejectedOrder(DomainError):
    """A placed order that the risk checks turned down: it is recorded (status rejected, with
    its reason) and the API reports it as a 422 carrying the order."""

    def __init__(self, order: Order):
        super().__init__(
            f"order rejected: {order.reject_reason}",
            [Problem(order.reject_reason or "rejected", field="order")],
            422,
            "Order rejected",
            "order-rejected",
            {"order": order.model_dump(mode="json")},
        )


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    replayed: bool  # the same client_order_id and body were placed before: this is that order


def retrying(attempt: Callable[[], T], what: str) -> T:
    """Run a load-decide-commit attempt until it commits without losing a race."""
    for n in range(ATTEMPTS):
        try:
            return attempt()
        except ConcurrencyConflict:
            time.sleep(random.uniform(0, 0.001 * (n + 1)))  # jitter, not crypto
    raise ConcurrencyConflict(f"{what}: too much contention, gave up after {ATTEMPTS} attempts; retry")


def order_id_for(account_id: str, client_order_id: str) -> str:
    """Deterministic, so a client_order_id can only ever create one order per account: the
    second append to the same new stream loses the race."""
    return str(uuid5(NAMESPACE_URL, f"trading:{account_id}/{client_order_id}"))


# -- commands --------------------------------------------------------------------------------


def place_order(
    cmd: PlaceOrder,
    ledger: TradingLedger,
    symbols: SymbolRepository,
    brokers: BrokerFactory,
    clock: Clock,
    context: MessageContext,
) -> Handled[PlacedOrder]:
    request = cmd.request
    request.check()
    listing = symbols.get(request.symbol)
    if listing is None:
        raise ValidationFailed(
            f"unknown symbol {request.symbol}: register it first",
            [Problem("unknown symbol", field="symbol", value=request.symbol)],
        )
    step = qty_step(listing.asset_class, listing.qty_step)
    request.check(step)  # again, now that the symbol's quantity step is known
    # Before the idempotent replay: another user's client_order_id must not find its order.
    account_id = own_account(ledger, request.account_id, context.principal).account_id
    client_order_id = request.client_order_id or str(uuid4())
    order_id = order_id_for(account_id, client_order_id)
    fingerprint = request.fingerprint()

    def attempt() -> Handled[PlacedOrder]:
        existing = ledger.order(order_id)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise Conflict(
                    f"client_order_id {client_order_id} was already used for a different order "
                    f"({existing.id}) on account {account_id}"
                )
            return Handled(PlacedOrder(existing, replayed=True))
        account = ledger.require_account(account_id)
        quotes = ledger.quotes({*account.positions, request.symbol})
        quote = quotes.get(request.symbol)
        marks = marks_of(quotes)
        now = clock.now()
        change = Change.of(account, marks)
        order = change.on_order(
            OrderPlaced(
                order_id=order_id,
                account_id=account_id,
                symbol=request.symbol,
                client_order_id=client_order_id,
                side=request.side.value,
                type=request.type.value,
                time_in_force=request.time_in_force.value,
                qty=request.qty,
                notional=request.notional,
                limit_price=request.limit_price,
                stop_price=request.stop_price,
                as_of=quote.market_time if quote else None,
                fingerprint=fingerprint,
                oco_group=request.oco_group,
                qty_step=step,
                at=now,
            )
        )
        shared = risk.shared_qty(order, group_of(ledger, order))
        # Placed while its market is closed, a market order is refused or queued for the open
        # per the account's outside_hours; a limit or stop order is always accepted and rests
        # until the next session's first bar: the last price, an earlier session's, does not
        # fill or trigger it (as a real broker takes one for the next regular session).
        closed = market_closed(listing, now)
        verdict = risk.check(order, account, quote, ledger.halted(), marks, shared, closed)
        if verdict.reason is not None:
            change.on_order(order.reject(verdict.reason, now, verdict.code))
        else:
            # past the checks with its market closed: it waits for the next session's open
            queued_until = closed.next_open if closed is not None else None
            change.on_order(order.accept(now, verdict.cash, verdict.qty, verdict.short_qty, queued_until))
            change.on_account(
                FundsReserved(
                    account_id=account_id,
                    order_id=order_id,
                    symbol=order.symbol,
                    side=order.side.value,
                    cash=verdict.cash,
                    qty=verdict.qty,
                    at=now,
                )
            )
            broker = brokers(account.settings)
            execute(change, order_id, broker.on_submit(change.orders[order_id], quote), now, bar_ts=None)
        ledger.commit(change, context, "PlaceOrder")
        placed = change.orders[order_id]
        canceled = [
            e for o in one_cancels_other(placed, ledger, brokers, clock, context) for e in o.published
        ]
        return Handled(PlacedOrder(placed, replayed=False), (*change.published, *canceled))

    return retrying(attempt, f"placing order {client_order_id}")


def group_of(ledger: TradingLedger, order: Order) -> list[Order]:
    """The other open orders of the order's one-cancels-other group (same account and symbol)."""
    if order.oco_group is None:
        return []
    return [
        o
        for o in ledger.orders(ledger.open_order_ids(order.symbol))
        if o.id != order.id and o.account_id == order.account_id and o.oco_group == order.oco_group
    ]


def one_cancels_other(
    order: Order, ledger: TradingLedger, brokers: BrokerFactory, clock: Clock, context: MessageContext
) -> list[Step]:
    """An order of a one-cancels-other group that filled (in part or whole) cancels the group's
    other open orders; nothing for an order with no group or no fill."""
    if order.oco_group is None or order.filled_qty == 0:
        return []
    reason = f"one-cancels-other: order {order.id} of group {order.oco_group} filled"

    def cancel(current: Order, broker: Broker) -> list[Execution]:
        return [Cancel(reason)] if current.status.is_open else []

    return [
        act_on(sibling.id, cancel, ledger, brokers, clock, context, "CancelOrder")
        for sibling in group_of(ledger, order)
    ]


def cancel_order(
    cmd: CancelOrder, ledger: TradingLedger, brokers: BrokerFactory, clock: Clock, context: MessageContext
) -> Handled[Order]:
    def decide(order: Order, broker: Broker) -> list[Execution]:
        if not order.status.is_open:
            raise Conflict(f"cannot cancel order {order.id}: it is {order.status}")
        return [Cancel(cmd.reason) if isinstance(e, Cancel) else e for e in broker.on_cancel(order)]

    own_order(ledger, cmd.order_id, context.principal)
    step = act_on(cmd.order_id, decide, ledger, brokers, clock, context, "CancelOrder")
    return Handled(step.order, tuple(step.published))


@dataclass(frozen=True)
class Step:
    order: Order  # as it is now
    published: list[Event]
    fills: int


def act_on(
    order_id: str,
    decide: Callable[[Order, Broker], list[Execution]],
    ledger: TradingLedger,
    brokers: BrokerFactory,
    clock: Clock,
    context: MessageContext,
    command: str,
    bar_ts: datetime | None = None,
) -> Step:
    """One step of an open order's life: reload it and its account, let `decide` name the
    executions, commit their events; again from the reload when another writer got there first.
    Executions for an order that has closed meanwhile change nothing (`execute` stops at once)."""

    def attempt() -> Step:
        order = ledger.require_order(order_id)
        change = _changing(ledger, order)
        execute(change, order_id, decide(order, brokers(change.account.settings)), clock.now(), bar_ts)
        if change.empty:
            return Step(order, [], 0)
        ledger.commit(change, context, command)
        return Step(change.orders[order_id], change.published, len(change.fills))

    return retrying(attempt, f"{command} on order {order_id}")


def _changing(ledger: TradingLedger, order: Order) -> Change:
    account = ledger.require_account(order.account_id)
    change = Change.of(account, ledger.marks(account, order.symbol))
    change.track(order)
    return change


def create_account(
    cmd: CreateAccount, ledger: TradingLedger, clock: Clock, context: MessageContext
) -> Handled[Account]:
    event = AccountCreated(
        account_id=cmd.account_id,
        starting_cash=cmd.starting_cash,
        settings=cmd.settings,
        owner=_owner_of_new_account(cmd.owner, context.principal),
        at=clock.now(),
    )
    try:
        account = ledger.create_account(event, context, "CreateAccount")
    except ConcurrencyConflict:
        raise Conflict(f"account {cmd.account_id} already exists (reset it instead)") from None
    return Handled(account, (event,))


def _owner_of_new_account(named: str | None, principal: Principal) -> str:
    """The caller's own user, or the user an admin names: only an admin creates for others."""
    if named is None or named == principal.user:
        return principal.user
    if not principal.sees_all:
        raise Forbidden(f"only an admin creates an account for another user ({named})")
    return named


def reset_account(
    cmd: ResetAccount, ledger: TradingLedger, brokers: BrokerFactory, clock: Clock, context: MessageContext
) -> Handled[Account]:
    canceled: list[Event] = []
    own_account(ledger, cmd.account_id, context.principal)

    def attempt() -> Handled[Account]:
        account = ledger.require_account(cmd.account_id)
        canceled.extend(_cancel_open_orders(ledger, brokers, account, "account reset", clock, context))
        account = ledger.require_account(cmd.account_id)
        if account.open_orders:  # an order was placed while the others were being canceled
            raise ConcurrencyConflict(f"account {cmd.account_id} has new open orders")
        change = Change.of(account, {})
        change.on_account(
            AccountReset(
                account_id=account.account_id,
                starting_cash=cmd.starting_cash or account.starting_cash,
                settings=cmd.settings or account.settings,
                epoch=account.epoch + 1,
                at=clock.now(),
            )
        )
        ledger.commit(change, context, "ResetAccount")
        return Handled(change.account, (*canceled, *change.published))

    return retrying(attempt, f"resetting account {cmd.account_id}")


def _cancel_open_orders(
    ledger: TradingLedger,
    brokers: BrokerFactory,
    account: Account,
    reason: str,
    clock: Clock,
    context: MessageContext,
) -> list[Event]:
    published: list[Event] = []
    for order_id in ledger.open_order_ids_of(account.account_id):
        step = act_on(
            order_id, lambda _o, _b: [Cancel(reason)], ledger, brokers, clock, context, "CancelOrders"
        )
        published += step.published
    return published


def halt_trading(
    cmd: HaltTrading, ledger: TradingLedger, brokers: BrokerFactory, clock: Clock, context: MessageContext
) -> Handled[dict[str, Any]]:
    event = TradingHalted(reason=cmd.reason, cancel_open_orders=cmd.cancel_open_orders, at=clock.now())
    retrying(lambda: ledger.set_control(event, context, "HaltTrading"), "halting trading")
    published: list[Event] = [event]
    if cmd.cancel_open_orders:
        for account in ledger.accounts():
            reason = f"canceled by the kill switch: {cmd.reason}"
            published += _cancel_open_orders(ledger, brokers, account, reason, clock, context)
    return Handled(ledger.control_status(), tuple(published))


def resume_trading(
    cmd: ResumeTrading, ledger: TradingLedger, clock: Clock, context: MessageContext
) -> Handled[dict[str, Any]]:
    event = TradingResumed(at=clock.now())
    retrying(lambda: ledger.set_control(event, context, "ResumeTrading"), "resuming trading")
    return Handled(ledger.control_status(), (event,))


def resume_account(
    cmd: ResumeAccount, ledger: TradingLedger, clock: Clock, context: MessageContext
) -> Handled[AccountView]:
    """Lift an account's loss-limit halt: its peak equity and the day's loss start again from
    the equity now. An account that is not halted is left as it is (a retried resume)."""
    own_account(ledger, cmd.account_id, context.principal)

    def attempt() -> Handled[AccountView]:
        account = ledger.require_account(cmd.account_id)
        quotes = ledger.quotes(account.positions)
        if account.halt is None:
            return Handled(account_view(account, quotes))
        marks = marks_of(quotes)
        change = Change.of(account, marks)
        change.on_account(
            AccountResumed(account_id=account.account_id, equity=account.equity(marks), at=clock.now())
        )
        ledger.commit(change, context, "ResumeAccount")
        return Handled(account_view(change.account, quotes), tuple(change.published))

    return retrying(attempt, f"resuming account {cmd.account_id}")


def grant_account_reader(
    cmd: GrantAccountReader, ledger: TradingLedger, clock: Clock, context: MessageContext
) -> Handled[AccountView]:
    """Let a user read the account; a user who reads it already changes nothing (a retry)."""
    return _change_readers(cmd.account_id, cmd.user, True, ledger, clock, context)


def revoke_account_reader(
    cmd: RevokeAccountReader, ledger: TradingLedger, clock: Clock, context: MessageContext
) -> Handled[AccountView]:
    """Take back a user's read access; a user who does not read it changes nothing (a retry)."""
    return _change_readers(cmd.account_id, cmd.user, False, ledger, clock, context)


def _change_readers(
    account_id: str, user: str, reads: bool, ledger: TradingLedger, clock: Clock, context: MessageContext
) -> Handled[AccountView]:
    command = "GrantAccountReader" if reads else "RevokeAccountReader"

    def attempt() -> Handled[AccountView]:
        account = own_account(ledger, account_id, context.principal)
        quotes = ledger.quotes(account.positions)
        if (user in account.readers) == reads:
            return Handled(account_view(account, quotes))
        change = Change.of(account, {})
        kind = AccountReaderGranted if reads else AccountReaderRevoked
        change.on_account(kind(account_id=account.account_id, user=user, at=clock.now()))
        ledger.commit(change, context, command)
        return Handled(account_view(change.account, quotes), tuple(change.published))

    return retrying(attempt, f"{command} on account {account_id}")


def close_session(
    cmd: CloseSession,
    ledger: TradingLedger,
    brokers: BrokerFactory,
    symbols: SymbolRepository,
    clock: Clock,
    context: MessageContext,
) -> Handled[dict[str, Any]]:
    """The open day orders whose session has closed expire; at the market's close, each
    account's equity is also checked against its loss limits and becomes the base of the next
    day's P&L."""
    from trading_system.trading.sessions import day_order_expires_at, session_closed_before

    now = clock.now()
    session = None if cmd.at_once else session_closed_before(now)
    marking = cmd.at_once or session is not None
    expired = 0
    published: list[Event] = []
    closing: list[Execution] = [Expire("day order expired at the close")]
    listings: dict[str, Any] = {}

    def session_over(order: Order) -> bool:
        if cmd.at_once:
            return True
        if order.symbol not in listings:
            listings[order.symbol] = symbols.get(order.symbol)
        return now >= day_order_expires_at(listings[order.symbol], order.submitted_at)

    for listed in ledger.accounts():
        for order in ledger.orders(ledger.open_order_ids_of(listed.account_id)):
            if order.time_in_force is TimeInForce.DAY and order.status.is_open and session_over(order):
                step = act_on(
                    order.id, lambda _o, _b: closing, ledger, brokers, clock, context, "CloseSession"
                )
                expired += not step.order.status.is_open
                published += step.published

        def mark(account_id: str = listed.account_id) -> list[Event]:
            account = ledger.require_account(account_id)
            marks = ledger.marks(account)
            equity = account.equity(marks)
            change = Change.of(account, marks)
            halted = account.limit_crossed(equity, clock.now())
            if halted is not None:  # measured against the day's base before the mark moves it
                change.on_account(halted)
            change.on_account(EquityMarked(account_id=account_id, equity=equity, at=clock.now()))
            ledger.commit(change, context, "CloseSession")
            return change.published

        if marking:
            published += retrying(mark, f"marking account {listed.account_id}")
    return Handled({"expired": expired, "session": session and session.isoformat()}, tuple(published))


def _check_loss_limits(
    ledger: TradingLedger, symbols: set[str], clock: Clock, context: MessageContext
) -> list[Event]:
    """New prices: halt each account with loss limits, holding any of `symbols`, whose equity
    at the latest prices has crossed one."""
    published: list[Event] = []
    for listed in ledger.accounts():
        if listed.halt is not None or not listed.has_loss_limits or symbols.isdisjoint(listed.positions):
            continue

        def mark(account_id: str = listed.account_id) -> list[Event]:
            account = ledger.require_account(account_id)
            marks = ledger.marks(account)
            halted = account.limit_crossed(account.equity(marks), clock.now())
            if halted is None:
                return []
            change = Change.of(account, marks)
            change.on_account(halted)
            ledger.commit(change, context, "FillOrders")
            return change.published

        published += retrying(mark, f"checking the loss limits of account {listed.account_id}")
    return published


# -- market data in: fills on new bars -------------------------------------------------------


class BarFills(BaseModel):
    symbols: int
    orders: int
    fills: int
    quotes: int


def fill_orders(
    event: BarsIngested,
    ledger: TradingLedger,
    lake: BarLake,
    brokers: BrokerFactory,
    symbols: SymbolRepository,
    clock: Clock,
    context: MessageContext,
) -> Handled[BarFills]:
    """New bars meet the open orders on their symbols in market-time order (bar by bar across
    symbols, orders in the order they were placed), then the bars' closes become the last known
    prices. Each bar knows its symbol's calendar, which names its session. Bars on which nothing
    happens are decided in memory; a bar that acts on an order reloads it, decides again and
    commits (with retries)."""
    published: list[Event] = []
    timeframe = event.timeframe
    books: dict[str, list[Order]] = {}
    timeline: list[tuple[datetime, str, MarketBar]] = []
    open_ids = ledger.open_order_ids_by_symbol([span.symbol for span in event.symbols])
    with_orders = [(span, open_ids[span.symbol]) for span in event.symbols if span.symbol in open_ids]
    last_known = ledger.quotes({span.symbol for span, _ in with_orders}) if with_orders else {}
    listings = symbols.get_many(span.symbol for span, _ in with_orders) if with_orders else {}
    for span, order_ids in with_orders:
        orders = sorted(ledger.orders(order_ids), key=lambda o: (o.submitted_at, o.id))
        earliest = min((o.as_of for o in orders if o.as_of is not None), default=span.first)
        start = max(span.first, timeframe.floor(earliest))
        series = lake.bars(span.symbol, timeframe, start, span.last + timeframe.delta, 1_000_000, timeframe)
        books[span.symbol] = orders
        # The first bar's previous close: the last known price, when it is older than the bar.
        quote = last_known.get(span.symbol)
        first = int(series.ts_us[0]) if len(series.ts_us) else None
        known = quote is not None and first is not None and quote.market_time.timestamp() * 1e6 <= first
        before = quote.price if known and quote is not None else None
        listing = listings.get(span.symbol)
        calendar = listing.session_calendar() if listing else None
        bars = market_bars(series, timeframe.delta, before, calendar)
        timeline += [(bar.ts, span.symbol, bar) for bar in bars]
    timeline.sort(key=lambda entry: (entry[0], entry[1]))

    by_account: dict[str, Broker | None] = {}

    def broker_of(account_id: str) -> Broker | None:
        if account_id not in by_account:
            account = ledger.account(account_id)
            by_account[account_id] = brokers(account.settings) if account else None
        return by_account[account_id]

    fills = 0
    for _, symbol, bar in timeline:
        book = books[symbol]
        for i, order in enumerate(book):
            if not order.status.is_open or not order.takes_bar(bar.ts):
                continue
            broker = broker_of(order.account_id)
            if broker is None or not broker.on_bar(order, bar):
                continue

            def on_bar(current: Order, broker: Broker, bar: MarketBar = bar) -> list[Execution]:
                return broker.on_bar(current, bar) if current.takes_bar(bar.ts) else []

            step = act_on(
                order.id,
                on_bar,
                ledger,
                brokers,
                clock,
                context,
                "FillOrders",
                bar_ts=bar.ts,
            )
            published += step.published
            fills += step.fills
            book[i] = step.order
            if step.fills:
                for canceled in one_cancels_other(step.order, ledger, brokers, clock, context):
                    published += canceled.published
                    book[:] = [canceled.order if o.id == canceled.order.id else o for o in book]
    quotes = ledger.save_quotes(
        Quote(
            symbol=span.symbol,
            price=decimal_from_float(span.last_close),
            volume=decimal_from_float(span.last_volume or 0.0),
            market_time=span.last + timeframe.delta,
            bar_ts=span.last,
        )
        for span in event.symbols
        if span.last_close is not None
    )
    published += _check_loss_limits(ledger, {span.symbol for span in event.symbols}, clock, context)
    touched = sum(len(book) for book in books.values())
    report = BarFills(symbols=len(event.symbols), orders=touched, fills=fills, quotes=quotes)
    settled = BarsSettled(
        ingest_id=event.ingest_id,
        timeframe=timeframe.value,
        symbols=[span.symbol for span in event.symbols],
        last={span.symbol: span.last for span in event.symbols},
        fills=fills,
    )
    return Handled(report, (*published, settled))


def record_fills(event: OrderFilled, fill_log: FillLog) -> Handled[None]:
    """Fills into the lake, for history and P&L in DuckDB."""
    fill_log.append([fill_record(event, event.epoch, event.at)])
    return Handled(None)


# The queries' handlers are a table of their own (query_handlers.py, bootstrap.TABLES_APART): a
# read answers from the views, without the risk checks, the broker and executions loaded here.
HANDLERS = HandlerTable(
    commands={
        PlaceOrder: place_order,
        CancelOrder: cancel_order,
        CreateAccount: create_account,
        ResetAccount: reset_account,
        HaltTrading: halt_trading,
        ResumeTrading: resume_trading,
        ResumeAccount: resume_account,
        CloseSession: close_session,
        GrantAccountReader: grant_account_reader,
        RevokeAccountReader: revoke_account_reader,
    },
)

__all__ = ["HANDLERS", "PlacedOrder", "RejectedOrder", "audit"]
