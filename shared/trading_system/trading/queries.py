"""Trading's queries: orders, their history, accounts, positions, fills and P&L."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from trading_system.trading.commands import (
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
from trading_system.trading.ledger import TradingLedger
from trading_system.trading.orders import Order, OrderStatus
from trading_system.trading.views import (
    AccountView,
    OrderPage,
    PnlReport,
    PositionView,
    account_view,
    position_views,
)

if TYPE_CHECKING:
    from trading_system.config import Settings
    from trading_system.trading.ports import FillLog

T = TypeVar("T")


def get_order(query: GetOrder, ledger: TradingLedger) -> Order:
    return ledger.require_order(query.order_id)


def list_orders(query: ListOrders, ledger: TradingLedger, settings: Settings) -> OrderPage:
    account_id = query.account_id or settings.default_account
    ledger.require_account(account_id)
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


def list_order_events(query: ListOrderEvents, ledger: TradingLedger) -> list[dict[str, Any]]:
    ledger.require_order(query.order_id)
    return [_recorded(e) for e in ledger.history(f"order-{query.order_id}")]


def list_account_events(
    query: ListAccountEvents, ledger: TradingLedger, settings: Settings
) -> list[dict[str, Any]]:
    account_id = query.account_id or settings.default_account
    ledger.require_account(account_id)
    events = ledger.history(f"account-{account_id}", query.after_version)
    return [_recorded(e) for e in events[: query.limit]]


def _recorded(event: Any) -> dict[str, Any]:
    return {
        "version": event.version,
        "type": event.type,
        "recorded_at": event.recorded_at.isoformat(),
        "by": {"key_id": event.metadata.get("key_id"), "role": event.metadata.get("role")},
        "command": event.metadata.get("command"),
        "correlation_id": event.metadata.get("correlation_id"),
        "data": event.data,
    }


def get_account(query: GetAccount, ledger: TradingLedger, settings: Settings) -> AccountView:
    account = ledger.require_account(query.account_id or settings.default_account)
    return account_view(account, ledger.quotes(account.positions))


def list_accounts(query: ListAccounts, ledger: TradingLedger) -> list[AccountView]:
    return [account_view(a, ledger.quotes(a.positions)) for a in ledger.accounts()]


def list_positions(query: ListPositions, ledger: TradingLedger, settings: Settings) -> list[PositionView]:
    account = ledger.require_account(query.account_id or settings.default_account)
    return position_views(account, ledger.quotes(account.positions))


def list_fills(query: ListFills, ledger: TradingLedger, settings: Settings) -> dict[str, Any]:
    account_id = query.account_id or settings.default_account
    ledger.require_account(account_id)
    found, after = _filtered_page(
        lambda after, limit: ledger.fill_page(account_id, after, limit),
        lambda fill: query.symbol is None or fill["symbol"] == query.symbol,
        query.after,
        query.limit,
    )
    return {"fills": found, "next": after}


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


def get_pnl(query: GetPnl, ledger: TradingLedger, fill_log: FillLog, settings: Settings) -> PnlReport:
    account = ledger.require_account(query.account_id or settings.default_account)
    epoch = None if query.all_epochs else account.epoch
    rows = fill_log.pnl(account.account_id, query.by, epoch, query.start, query.end)
    return PnlReport(account_id=account.account_id, by=query.by, epoch=epoch, rows=rows)


def get_trading_status(query: GetTradingStatus, ledger: TradingLedger) -> dict[str, Any]:
    return ledger.control_status()
