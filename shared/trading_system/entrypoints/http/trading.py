"""Trading routes: orders, positions, accounts (and their loss-limit halts), fills, P&L and
the kill switch.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import BaseModel, ConfigDict

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account
from trading_system.trading.commands import (
    CancelOrder,
    CreateAccount,
    GrantAccountReader,
    HaltTrading,
    PlaceOrder,
    ResetAccount,
    ResumeAccount,
    ResumeTrading,
    RevokeAccountReader,
    StartingCash,
    User,
)
from trading_system.trading.handlers import PlacedOrder, RejectedOrder
from trading_system.trading.orders import Order, OrderRequest, OrderStatus
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


@route(
    status_code=201, responses={200: {"description": "The same client_order_id and body were placed before"}}
)
def place_order(body: OrderRequest, response: Response, bus: Bus, context: Context) -> Order:
    placed: PlacedOrder = bus.execute(PlaceOrder(request=body), context)
    if placed.order.status is OrderStatus.REJECTED:
        raise RejectedOrder(placed.order)
    response.headers["Location"] = f"/v1/orders/{placed.order.id}"
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return placed.order


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


def cancel_order(
    order_id: Annotated[str, like(CancelOrder, "order_id", in_path=True)], bus: Bus, context: Context
) -> Order:
    order: Order = bus.execute(CancelOrder(order_id=order_id), context)
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


@route(status_code=201)
def create_account(body: CreateAccount, response: Response, bus: Bus, context: Context) -> Account:
    account: Account = bus.execute(body, context)
    response.headers["Location"] = f"/v1/account?account_id={account.account_id}"
    return account


class ResetTerms(BaseModel):  # at module level: FastAPI resolves annotations in the module's globals
    """What a reset may change; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    starting_cash: StartingCash | None = None
    settings: AccountSettings | None = None


def reset_account(
    account_id: Annotated[str, like(ResetAccount, "account_id", in_path=True)],
    bus: Bus,
    context: Context,
    body: ResetTerms | None = None,
) -> Account:
    given = body or ResetTerms()
    command = ResetAccount(account_id=account_id, starting_cash=given.starting_cash, settings=given.settings)
    account: Account = bus.execute(command, context)
    return account


def resume_account(
    account_id: Annotated[str, like(ResumeAccount, "account_id", in_path=True)], bus: Bus, context: Context
) -> AccountView:
    account: AccountView = bus.execute(ResumeAccount(account_id=account_id), context)
    return account


class NewReader(BaseModel):
    """The user an admin lets read an account."""

    model_config = ConfigDict(extra="forbid")

    user: User


def grant_account_reader(
    account_id: Annotated[str, like(GrantAccountReader, "account_id", in_path=True)],
    body: NewReader,
    bus: Bus,
    context: Context,
) -> AccountView:
    account: AccountView = bus.execute(GrantAccountReader(account_id=account_id, user=body.user), context)
    return account


def revoke_account_reader(
    account_id: Annotated[str, like(RevokeAccountReader, "account_id", in_path=True)],
    user: Annotated[str, like(RevokeAccountReader, "user", in_path=True)],
    bus: Bus,
    context: Context,
) -> AccountView:
    account: AccountView = bus.execute(RevokeAccountReader(account_id=account_id, user=user), context)
    return account


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


def halt_trading(body: HaltTrading, bus: Bus, context: Context) -> dict[str, Any]:
    status: dict[str, Any] = bus.execute(body, context)
    return status


def resume_trading(bus: Bus, context: Context) -> dict[str, Any]:
    status: dict[str, Any] = bus.execute(ResumeTrading(), context)
    return status


def get_trading_status(bus: Bus, context: Context) -> dict[str, Any]:
    status: dict[str, Any] = bus.ask(GetTradingStatus(), context)
    return status
