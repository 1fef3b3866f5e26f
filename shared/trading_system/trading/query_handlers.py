"""The read side's handlers: each query answered from the aggregates' views (an account and its
positions marked to the latest prices, order pages, event histories, fills, P&L), never stored.

The bus finds them in this module's own table (bootstrap.TABLES_APART), not in handlers.py with
the commands': a read loads neither the risk checks nor the broker and its executions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from trading_system.kernel.bus import HandlerTable, MessageContext
from trading_system.kernel.kinds import ACCOUNT_STREAMS, ORDER_STREAMS
from trading_system.trading.access import may_read, readable_account, readable_order
from trading_system.trading.ledger import TradingLedger
from trading_system.trading.orders import Order, OrderStatus
from trading_system.trading.precision import decimal_text, money, plain, shown_fill
from trading_system.trading.queries import (
    GetAccount,
    GetOrder,
    GetPnl,
    GetTradingStatus,
    ListAccountEvents,
    ListAccounts,
    ListFills,
    ListOrderEvents,
    ListOrders,
    ListPositions,
)
from trading_system.trading.views import (
    AccountView,
    OrderPage,
    PnlReport,
    PositionView,
    account_view,
    position_views,
)

if TYPE_CHECKING:
    from trading_system.trading.ports import FillLog

T = TypeVar("T")


def get_order(query: GetOrder, ledger: TradingLedger, context: MessageContext) -> Order:
    return readable_order(ledger, query.order_id, context.principal)


def list_orders(query: ListOrders, ledger: TradingLedger, context: MessageContext) -> OrderPage:
    account_id = readable_account(ledger, query.account_id, context.principal).account_id
    found, after = _filtered_page(
        lambda after, limit: ledger.order_page(account_id, after, limit),
        lambda order: _listed(order, query),
        query.after,
        query.limit,
    )
    return OrderPage(orders=found, next=after)


def _listed(order: Order, query: ListOrders) -> bool:
    if query.symbol and order.symbol != query.symbol:
        return False
    if query.status == "open":
        return order.status.is_open or order.status is OrderStatus.NEW
    if query.status == "closed":
        return order.status.is_terminal
    return True


def list_order_events(
    query: ListOrderEvents, ledger: TradingLedger, context: MessageContext
) -> list[dict[str, Any]]:
    readable_order(ledger, query.order_id, context.principal)
    return [_recorded(e) for e in ledger.history(f"{ORDER_STREAMS}{query.order_id}")]


def list_account_events(
    query: ListAccountEvents, ledger: TradingLedger, context: MessageContext
) -> list[dict[str, Any]]:
    account_id = readable_account(ledger, query.account_id, context.principal).account_id
    events = ledger.history(f"{ACCOUNT_STREAMS}{account_id}", query.after_version)
    return [_recorded(e) for e in events[: query.limit]]


def _recorded(event: Any) -> dict[str, Any]:
    return {
        "version": event.version,
        "type": event.type,
        "recorded_at": event.recorded_at.isoformat(),
        # events stored before users existed name no user
        "by": {
            "key_id": event.metadata.get("key_id"),
            "user": event.metadata.get("user"),
            "role": event.metadata.get("role"),
        },
        "command": event.metadata.get("command"),
        "correlation_id": event.metadata.get("correlation_id"),
        "data": event.data,
    }


def get_account(query: GetAccount, ledger: TradingLedger, context: MessageContext) -> AccountView:
    account = readable_account(ledger, query.account_id, context.principal)
    return account_view(account, ledger.quotes(account.positions))


def list_accounts(query: ListAccounts, ledger: TradingLedger, context: MessageContext) -> list[AccountView]:
    """The accounts the caller may read (an admin: every one)."""
    readable = [a for a in ledger.accounts() if may_read(context.principal, a)]
    return [account_view(a, ledger.quotes(a.positions)) for a in readable]


def list_positions(
    query: ListPositions, ledger: TradingLedger, context: MessageContext
) -> list[PositionView]:
    account = readable_account(ledger, query.account_id, context.principal)
    return position_views(account, ledger.quotes(account.positions))


def list_fills(query: ListFills, ledger: TradingLedger, context: MessageContext) -> dict[str, Any]:
    account_id = readable_account(ledger, query.account_id, context.principal).account_id
    found, after = _filtered_page(
        lambda after, limit: ledger.fill_page(account_id, after, limit),
        lambda fill: query.symbol is None or fill["symbol"] == query.symbol,
        query.after,
        query.limit,
    )
    return {"fills": [shown_fill(fill) for fill in found], "next": after}


def _filtered_page(
    fetch: Callable[[str | None, int], list[tuple[str, T]]],
    keep: Callable[[T], bool],
    after: str | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """Up to `limit` kept items from a keyed listing, and the cursor of the next page (None
    when nothing follows)."""
    found: list[T] = []
    while len(found) < limit:
        page = fetch(after, 500)
        if not page:
            return found, None
        for key, item in page:
            after = key
            if keep(item):
                found.append(item)
                if len(found) == limit:
                    break
    more = after is not None and bool(fetch(after, 1))
    return found, after if more else None


def get_pnl(query: GetPnl, ledger: TradingLedger, fill_log: FillLog, context: MessageContext) -> PnlReport:
    account = readable_account(ledger, query.account_id, context.principal)
    epoch = None if query.all_epochs else account.epoch
    rows = [_pnl_row(r) for r in fill_log.pnl(account.account_id, query.by, epoch, query.start, query.end)]
    return PnlReport(account_id=account.account_id, by=query.by, epoch=epoch, rows=rows)


PNL_MONEY = ("realized_pl", "commission", "net_pl", "traded_value")
PNL_QUANTITIES = ("bought_qty", "sold_qty")


def _pnl_row(row: dict[str, Any]) -> dict[str, Any]:
    """A P&L row with its money as money ("129.30", "0.00") and its quantities in plain
    notation, as the account, positions and fills show the same figures."""
    shown = dict(row)
    for name in PNL_MONEY:
        if row.get(name) is not None:
            shown[name] = decimal_text(money(Decimal(str(row[name]))))
    for name in PNL_QUANTITIES:
        if row.get(name) is not None:
            shown[name] = decimal_text(plain(Decimal(str(row[name]))))
    return shown


def get_trading_status(query: GetTradingStatus, ledger: TradingLedger) -> dict[str, Any]:
    return ledger.control_status()


HANDLERS = HandlerTable(
    queries={
        GetOrder: get_order,
        ListOrders: list_orders,
        ListOrderEvents: list_order_events,
        GetAccount: get_account,
        ListAccounts: list_accounts,
        ListAccountEvents: list_account_events,
        ListPositions: list_positions,
        ListFills: list_fills,
        GetPnl: get_pnl,
        GetTradingStatus: get_trading_status,
    },
)
