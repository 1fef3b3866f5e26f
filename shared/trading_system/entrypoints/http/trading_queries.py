"""Trading's read routes: orders, their events, positions, accounts, their events, fills, P&L
and the kill switch's status. Found through trading.py, as the catalog names their context; apart
from the commands' routes (trading_commands.py), so that a read imports only the read side."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.trading.orders import Order
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
from trading_system.trading.views import AccountView, OrderPage, PnlReport, PositionView

_DEFAULT_ACCOUNT = "default: the platform's default account"


def list_orders(
    bus: Bus,
    context: Context,
    account_id: str | None = like(ListOrders, "account_id", description=_DEFAULT_ACCOUNT),
    status: Literal["open", "closed", "all"] = "open",
    symbol: str | None = like(ListOrders, "symbol"),
    after: str | None = like(ListOrders, "after"),
    limit: int = like(ListOrders, "limit"),
) -> OrderPage:
    query = ListOrders(account_id=account_id, status=status, symbol=symbol, after=after, limit=limit)
    page: OrderPage = bus.ask(query, context)
    return page


def get_order(
    order_id: Annotated[str, like(GetOrder, "order_id", in_path=True)], bus: Bus, context: Context
) -> Order:
    order: Order = bus.ask(GetOrder(order_id=order_id), context)
    return order


def list_order_events(
    order_id: Annotated[str, like(ListOrderEvents, "order_id", in_path=True)], bus: Bus, context: Context
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = bus.ask(ListOrderEvents(order_id=order_id), context)
    return events


def list_positions(
    bus: Bus,
    context: Context,
    account_id: str | None = like(ListPositions, "account_id", description=_DEFAULT_ACCOUNT),
) -> list[PositionView]:
    positions: list[PositionView] = bus.ask(ListPositions(account_id=account_id), context)
    return positions


def get_account(
    bus: Bus,
    context: Context,
    account_id: str | None = like(GetAccount, "account_id", description=_DEFAULT_ACCOUNT),
) -> AccountView:
    account: AccountView = bus.ask(GetAccount(account_id=account_id), context)
    return account


def list_accounts(bus: Bus, context: Context) -> list[AccountView]:
    accounts: list[AccountView] = bus.ask(ListAccounts(), context)
    return accounts


def list_account_events(
    account_id: Annotated[str, like(ListAccountEvents, "account_id", in_path=True)],
    bus: Bus,
    context: Context,
    after_version: int = like(ListAccountEvents, "after_version"),
    limit: int = like(ListAccountEvents, "limit"),
) -> list[dict[str, Any]]:
    query = ListAccountEvents(account_id=account_id, after_version=after_version, limit=limit)
    events: list[dict[str, Any]] = bus.ask(query, context)
    return events


def list_fills(
    bus: Bus,
    context: Context,
    account_id: str | None = like(ListFills, "account_id", description=_DEFAULT_ACCOUNT),
    symbol: str | None = like(ListFills, "symbol"),
    after: str | None = like(ListFills, "after"),
    limit: int = like(ListFills, "limit"),
) -> dict[str, Any]:
    page: dict[str, Any] = bus.ask(
        ListFills(account_id=account_id, symbol=symbol, after=after, limit=limit), context
    )
    return page


def get_pnl(
    bus: Bus,
    context: Context,
    account_id: str | None = like(GetPnl, "account_id", description=_DEFAULT_ACCOUNT),
    by: Literal["day", "symbol"] = "day",
    start: date | None = None,
    end: date | None = None,
    all_epochs: bool = False,
) -> PnlReport:
    query = GetPnl(account_id=account_id, by=by, start=start, end=end, all_epochs=all_epochs)
    report: PnlReport = bus.ask(query, context)
    return report


def get_trading_status(bus: Bus, context: Context) -> dict[str, Any]:
    status: dict[str, Any] = bus.ask(GetTradingStatus(), context)
    return status
