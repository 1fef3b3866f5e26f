"""Where Trading keeps its aggregates: event streams, plus the views written with them.

Each order has a stream `order-<id>` and each account `account-<id>`; the kill switch has
`trading-control`. A change to orders and their account is one atomic append with the version
of each stream as loaded (optimistic concurrency), and the views (the order, the account, the
account's order list, the per-symbol open-order index, the fills) go in the same transaction.
A view carries the version it was built at, so loading an aggregate reads its view and then
only the events after it: normally none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from trading_system.kernel.bus import MessageContext
from trading_system.kernel.documents import SCAN_PAGE, DocumentStore, scan_all
from trading_system.kernel.errors import NotFound
from trading_system.kernel.event_store import EventStore, NewEvent, RecordedEvent, StreamAppend, ViewWrite
from trading_system.kernel.kinds import (
    ACCOUNT_OPEN_ORDERS,
    ACCOUNT_STREAMS,
    ACCOUNTS,
    CONTROL,
    CONTROL_STREAM,
    FILLS,
    OPEN_ORDERS,
    ORDER_LISTS,
    ORDER_STREAMS,
    ORDERS,
    QUOTES,
)
from trading_system.kernel.messages import Event
from trading_system.trading.accounts import Account
from trading_system.trading.events import (
    AccountCreated,
    AccountEvent,
    OrderEvent,
    OrderPlaced,
    TradingEvent,
    TradingHalted,
    TradingResumed,
)
from trading_system.trading.orders import Order
from trading_system.trading.quotes import Quote

A = TypeVar("A", Account, Order)

_NS = 10**19


def order_list_kind(account_id: str) -> str:
    return f"{ORDER_LISTS}:{account_id}"


def open_orders_kind(symbol: str) -> str:
    return f"{OPEN_ORDERS}:{symbol}"


def account_open_orders_kind(account_id: str) -> str:
    return f"{ACCOUNT_OPEN_ORDERS}:{account_id}"


def fills_kind(account_id: str) -> str:
    return f"{FILLS}:{account_id}"


def newest_first(at: datetime, unique: str) -> str:
    """A key that sorts newer items first in an ascending scan."""
    return f"{_NS - int(at.timestamp() * 1_000_000):019d}-{unique}"


@dataclass
class Change:
    """Events decided for one account and some of its orders, not yet stored."""

    account: Account
    account_version: int
    # the latest price of each symbol the account holds (and of the order's): fills mark the
    # account's equity and its shorts' margin with them, and add their own prices
    marks: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    order_versions: dict[str, int] = field(default_factory=dict)  # as loaded; 0 for a new order
    account_events: list[AccountEvent] = field(default_factory=list)
    order_events: dict[str, list[OrderEvent]] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, account: Account, marks: dict[str, Decimal]) -> Change:
        return cls(account=account, account_version=account.version, marks=dict(marks))

    def track(self, order: Order) -> None:
        self.orders[order.id] = order
        self.order_versions[order.id] = order.version

    def on_order(self, event: OrderEvent) -> Order:
        if isinstance(event, OrderPlaced):
            order = Order.placed(event)
            self.order_versions[order.id] = 0
        else:
            order = self.orders[event.order_id].apply(event)
        self.orders[order.id] = order
        self.order_events.setdefault(order.id, []).append(event)
        self._publish(event)
        return order

    def on_account(self, event: AccountEvent) -> Account:
        self.account = self.account.apply(event)
        self.account_events.append(event)
        self._publish(event)
        return self.account

    def publish(self, event: Event) -> None:
        self.published.append(event)

    def _publish(self, event: TradingEvent) -> None:
        if event.published:
            self.published.append(event)

    @property
    def empty(self) -> bool:
        return not self.account_events and not any(self.order_events.values())


class TradingLedger:
    def __init__(self, events: EventStore, documents: DocumentStore, default_account: str):
        self.events = events
        self.documents = documents
        self.default_account = default_account

    def account_id(self, requested: str | None) -> str:
        """The account a message names, or the platform's default account when it names none."""
        return requested or self.default_account

    # -- aggregates ------------------------------------------------------------------------

    def account(self, account_id: str) -> Account | None:
        return self._load(ACCOUNTS, account_id, f"{ACCOUNT_STREAMS}{account_id}", Account)

    def require_account(self, requested: str | None) -> Account:
        account_id = self.account_id(requested)
        account = self.account(account_id)
        if account is None:
            raise no_account(account_id)
        return account

    def require_order(self, order_id: str) -> Order:
        order = self.order(order_id)
        if order is None:
            raise no_order(order_id)
        return order

    def order(self, order_id: str) -> Order | None:
        return self._load(ORDERS, order_id, f"{ORDER_STREAMS}{order_id}", Order)

    def _load(self, kind: str, key: str, stream: str, aggregate: type[A]) -> A | None:
        """The aggregate's view (its state at the view's version), then the events after it."""
        doc = self.documents.get(kind, key)
        state = aggregate.model_validate(doc) if doc else None
        tail = [_open(e) for e in self.events.read(stream, state.version if state else 0)]
        if tail and state is None:
            return aggregate.from_events(tail)  # type: ignore[arg-type]
        for event in tail:
            assert state is not None
            state = state.apply(event)  # type: ignore[arg-type]
        return state

    def orders(self, order_ids: Iterable[str]) -> list[Order]:
        found = []
        for order_id in order_ids:
            order = self.order(order_id)
            if order is not None:
                found.append(order)
        return found

    def history(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        return self.events.read(stream, after_version)

    def accounts(self) -> list[Account]:
        return [Account.model_validate(doc) for _, doc in scan_all(self.documents, ACCOUNTS)]

    # -- read models -----------------------------------------------------------------------

    def order_page(self, account_id: str, after: str | None, limit: int) -> list[tuple[str, Order]]:
        page = self.documents.scan(order_list_kind(account_id), after=after, limit=limit)
        return [(key, Order.model_validate(doc)) for key, doc in page]

    def open_order_ids(self, symbol: str) -> list[str]:
        return [key for key, _ in scan_all(self.documents, open_orders_kind(symbol))]

    def open_order_ids_by_symbol(self, symbols: Collection[str]) -> dict[str, list[str]]:
        """The open orders of each of `symbols` that has any, read whichever way takes fewer
        reads of the store: each symbol's (one read a symbol: a minute's bars of a few symbols),
        or each account's (one read an account and page of its open orders: an end of day of
        5,000 symbols, which the other way read 5,000 times to find a handful)."""
        # One symbol never takes more reads than the accounts (one each at least): skip reading them.
        if len(symbols) > 1:
            accounts = self.accounts()
            if len(symbols) > sum(1 + account.open_orders // SCAN_PAGE for account in accounts):
                return self._open_order_ids_in(accounts, set(symbols))
        return {symbol: ids for symbol in symbols if (ids := self.open_order_ids(symbol))}

    def _open_order_ids_in(self, accounts: Iterable[Account], symbols: set[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        for account in accounts:
            for order_id, doc in scan_all(self.documents, account_open_orders_kind(account.account_id)):
                if doc["symbol"] in symbols:
                    found[doc["symbol"]].append(order_id)
        return dict(found)

    def open_order_ids_of(self, account_id: str) -> list[str]:
        return [key for key, _ in scan_all(self.documents, account_open_orders_kind(account_id))]

    def fill_page(self, account_id: str, after: str | None, limit: int) -> list[tuple[str, dict[str, Any]]]:
        return self.documents.scan(fills_kind(account_id), after=after, limit=limit)

    def quote(self, symbol: str) -> Quote | None:
        doc = self.documents.get(QUOTES, symbol)
        return _quote(symbol, doc) if doc else None

    def quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        return {s: _quote(s, doc) for s, doc in self.documents.get_many(QUOTES, symbols).items()}

    def marks(self, account: Account, *also: str) -> dict[str, Decimal]:
        """The latest price of each symbol the account holds, and of `also`."""
        return marks_of(self.quotes({*account.positions, *also}))

    def save_quotes(self, quotes: Iterable[Quote]) -> int:
        """Keep each symbol's latest price; an older bar (a backfill) never replaces a newer one."""
        fresh = {q.symbol: q for q in quotes}
        # Only the stored quotes' times decide: opening them whole (two Decimals and two times
        # each) cost more than the rest of an end of day's 5,000 quotes together.
        known = {
            s: datetime.fromisoformat(doc["market_time"])
            for s, doc in self.documents.get_many(QUOTES, fresh).items()
        }
        newer = {
            s: {
                "price": str(q.price),
                "volume": str(q.volume),
                "market_time": q.market_time.isoformat(),
                **({"bar_ts": q.bar_ts.isoformat()} if q.bar_ts else {}),
            }
            for s, q in fresh.items()
            if s not in known or known[s] <= q.market_time
        }
        if newer:
            self.documents.put_many(QUOTES, newer)
        return len(newer)

    def halted(self) -> str | None:
        doc = self.documents.get(CONTROL, "status")
        return str(doc["reason"]) if doc and doc.get("halted") else None

    def control_status(self) -> dict[str, Any]:
        return self.documents.get(CONTROL, "status") or {"halted": False, "version": 0}

    # -- writing ---------------------------------------------------------------------------

    def create_account(self, event: AccountCreated, context: MessageContext, command: str) -> Account:
        account = Account.created(event)
        self.events.append(
            [StreamAppend(f"{ACCOUNT_STREAMS}{event.account_id}", 0, [_new(event)])],
            [ViewWrite(ACCOUNTS, account.account_id, account.model_dump(mode="json"))],
            audit(context, command),
        )
        return account

    def set_control(
        self, event: TradingHalted | TradingResumed, context: MessageContext, command: str
    ) -> None:
        version = self.events.version(CONTROL_STREAM)
        halted = isinstance(event, TradingHalted)
        view = {
            "halted": halted,
            "reason": event.reason if isinstance(event, TradingHalted) else None,
            "since": event.at.isoformat(),
            "by": context.principal.key_id,
            "version": version + 1,
        }
        self.events.append(
            [StreamAppend(CONTROL_STREAM, version, [_new(event)])],
            [ViewWrite(CONTROL, "status", view)],
            audit(context, command),
        )

    def commit(self, change: Change, context: MessageContext, command: str) -> None:
        """Store a change atomically, or raise ConcurrencyConflict and store nothing."""
        appends = []
        views = []
        if change.account_events:
            appends.append(
                StreamAppend(
                    f"{ACCOUNT_STREAMS}{change.account.account_id}",
                    change.account_version,
                    [_new(e) for e in change.account_events],
                )
            )
            views.append(
                ViewWrite(ACCOUNTS, change.account.account_id, change.account.model_dump(mode="json"))
            )
        for order_id, events in change.order_events.items():
            if not events:
                continue
            order = change.orders[order_id]
            appends.append(
                StreamAppend(
                    f"{ORDER_STREAMS}{order_id}", change.order_versions[order_id], [_new(e) for e in events]
                )
            )
            doc = order.model_dump(mode="json")
            views.append(ViewWrite(ORDERS, order_id, doc))
            views.append(
                ViewWrite(order_list_kind(order.account_id), newest_first(order.submitted_at, order_id), doc)
            )
            index = {"account_id": order.account_id} if order.status.is_open else None
            views.append(ViewWrite(open_orders_kind(order.symbol), order_id, index))
            on_account = {"symbol": order.symbol} if order.status.is_open else None
            views.append(ViewWrite(account_open_orders_kind(order.account_id), order_id, on_account))
        for fill in change.fills:
            at = datetime.fromisoformat(fill["recorded_at"])
            views.append(ViewWrite(fills_kind(fill["account_id"]), newest_first(at, fill["fill_id"]), fill))
        if appends:
            self.events.append(appends, views, audit(context, command))


def no_account(account_id: str) -> NotFound:
    """What an unknown account answers, and so also an account the caller may not see."""
    return NotFound(
        f"account {account_id} does not exist (an admin creates it: POST /v1/accounts)", field="account_id"
    )


def no_order(order_id: str) -> NotFound:
    """What an unknown order answers, and so also an order the caller may not see."""
    return NotFound(f"order {order_id} does not exist", field="order_id")


def audit(context: MessageContext, command: str) -> dict[str, Any]:
    """Who asked (key, user, role), as part of which chain of messages: kept with every event."""
    return {
        "command": command,
        "key_id": context.principal.key_id,
        "user": context.principal.user,
        "role": str(context.principal.role),
        "correlation_id": context.correlation_id,
        "causation_id": context.causation_id,
    }


def _new(event: TradingEvent) -> NewEvent:
    return NewEvent(event.event_type(), event.model_dump(mode="json"))


def _open(recorded: RecordedEvent) -> TradingEvent:
    event = Event.registry[recorded.type].model_validate(recorded.data)
    assert isinstance(event, TradingEvent)
    return event


def marks_of(quotes: Mapping[str, Quote]) -> dict[str, Decimal]:
    return {symbol: quote.price for symbol, quote in quotes.items()}


def _quote(symbol: str, doc: dict[str, Any]) -> Quote:
    bar_ts = doc.get("bar_ts")
    return Quote(
        symbol=symbol,
        price=Decimal(doc["price"]),
        volume=Decimal(doc["volume"]),
        market_time=datetime.fromisoformat(doc["market_time"]),
        bar_ts=datetime.fromisoformat(bar_ts) if bar_ts else None,
    )
