"""Trading routes: orders, positions, accounts, fills, P&L and the kill switch.

Each route is built by a factory, called only for the function that serves it (see routes.py):
a Lambda pays FastAPI's analysis of its own route at cold start, not of its context's others.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account
from trading_system.trading.commands import (
    CancelOrder,
    CreateAccount,
    GetAccount,
    GetOrder,
    GetPnl,
    GetTradingStatus,
    HaltTrading,
    ListAccountEvents,
    ListAccounts,
    ListFills,
    ListOrderEvents,
    ListOrders,
    ListPositions,
    PlaceOrder,
    ResetAccount,
    ResumeTrading,
    StartingCash,
)
from trading_system.trading.handlers import PlacedOrder, RejectedOrder
from trading_system.trading.orders import Order, OrderRequest, OrderStatus
from trading_system.trading.views import AccountView, OrderPage, PnlReport, PositionView

AccountParam = Annotated[str | None, Query(description="default: the platform's default account")]


def place_order() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.post(
        "/v1/orders",
        status_code=201,
        summary="Place an order",
        responses={200: {"description": "The same client_order_id and body were placed before"}},
    )
    def _place(body: OrderRequest, response: Response, bus: Bus, context: Context) -> Order:
        placed: PlacedOrder = bus.execute(PlaceOrder(request=body), context)
        if placed.order.status is OrderStatus.REJECTED:
            raise RejectedOrder(placed.order)
        response.headers["Location"] = f"/v1/orders/{placed.order.id}"
        if placed.replayed:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        return placed.order

    return router


def list_orders() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/orders", summary="An account's orders, newest first")
    def _orders(
        bus: Bus,
        context: Context,
        account_id: AccountParam = None,
        status: Literal["open", "closed", "all"] = "open",
        symbol: str | None = None,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> OrderPage:
        query = ListOrders(account_id=account_id, status=status, symbol=symbol, after=after, limit=limit)
        page: OrderPage = bus.ask(query, context)
        return page

    return router


def get_order() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/orders/{order_id}", summary="One order")
    def _order(order_id: str, bus: Bus, context: Context) -> Order:
        order: Order = bus.ask(GetOrder(order_id=order_id), context)
        return order

    return router


def cancel_order() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.delete("/v1/orders/{order_id}", summary="Cancel an open order")
    def _cancel(order_id: str, bus: Bus, context: Context) -> Order:
        order: Order = bus.execute(CancelOrder(order_id=order_id), context)
        return order

    return router


def list_order_events() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/orders/{order_id}/events", summary="An order's history, oldest first")
    def _order_events(order_id: str, bus: Bus, context: Context) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = bus.ask(ListOrderEvents(order_id=order_id), context)
        return events

    return router


def list_positions() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/positions", summary="Positions marked to the latest price")
    def _positions(bus: Bus, context: Context, account_id: AccountParam = None) -> list[PositionView]:
        positions: list[PositionView] = bus.ask(ListPositions(account_id=account_id), context)
        return positions

    return router


def get_account() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/account", summary="Cash, equity, buying power and day P&L")
    def _account(bus: Bus, context: Context, account_id: AccountParam = None) -> AccountView:
        account: AccountView = bus.ask(GetAccount(account_id=account_id), context)
        return account

    return router


def list_accounts() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/accounts", summary="Every paper account")
    def _accounts(bus: Bus, context: Context) -> list[AccountView]:
        accounts: list[AccountView] = bus.ask(ListAccounts(), context)
        return accounts

    return router


def create_account() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.post("/v1/accounts", status_code=201, summary="Create a paper account")
    def _create_account(body: CreateAccount, response: Response, bus: Bus, context: Context) -> Account:
        account: Account = bus.execute(body, context)
        response.headers["Location"] = f"/v1/account?account_id={account.account_id}"
        return account

    return router


class ResetTerms(BaseModel):  # at module level: FastAPI resolves annotations in the module's globals
    """What a reset may change; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    starting_cash: StartingCash | None = None
    settings: AccountSettings | None = None


def reset_account() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.post("/v1/accounts/{account_id}/resets", summary="Reset a paper account")
    def _reset(account_id: str, bus: Bus, context: Context, body: ResetTerms | None = None) -> Account:
        given = body or ResetTerms()
        command = ResetAccount(
            account_id=account_id, starting_cash=given.starting_cash, settings=given.settings
        )
        account: Account = bus.execute(command, context)
        return account

    return router


def list_account_events() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/accounts/{account_id}/events", summary="An account's audit trail")
    def _account_events(
        account_id: str,
        bus: Bus,
        context: Context,
        after_version: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        query = ListAccountEvents(account_id=account_id, after_version=after_version, limit=limit)
        events: list[dict[str, Any]] = bus.ask(query, context)
        return events

    return router


def list_fills() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/fills", summary="Fills, newest first")
    def _fills(
        bus: Bus,
        context: Context,
        account_id: AccountParam = None,
        symbol: str | None = None,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        page: dict[str, Any] = bus.ask(
            ListFills(account_id=account_id, symbol=symbol, after=after, limit=limit), context
        )
        return page

    return router


def get_pnl() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/pnl", summary="Realized P&L and commissions by market day or by symbol")
    def _pnl(
        bus: Bus,
        context: Context,
        account_id: AccountParam = None,
        by: Literal["day", "symbol"] = "day",
        start: date | None = None,
        end: date | None = None,
        all_epochs: bool = False,
    ) -> PnlReport:
        query = GetPnl(account_id=account_id, by=by, start=start, end=end, all_epochs=all_epochs)
        report: PnlReport = bus.ask(query, context)
        return report

    return router


def halt_trading() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.post("/v1/trading/halt", summary="Kill switch: reject every new order")
    def _halt(body: HaltTrading, bus: Bus, context: Context) -> dict[str, Any]:
        status: dict[str, Any] = bus.execute(body, context)
        return status

    return router


def resume_trading() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.post("/v1/trading/resume", summary="Lift the kill switch")
    def _resume(bus: Bus, context: Context) -> dict[str, Any]:
        status: dict[str, Any] = bus.execute(ResumeTrading(), context)
        return status

    return router


def get_trading_status() -> APIRouter:
    router = APIRouter(tags=["trading"])

    @router.get("/v1/trading/status", summary="Whether trading is halted")
    def _status(bus: Bus, context: Context) -> dict[str, Any]:
        status: dict[str, Any] = bus.ask(GetTradingStatus(), context)
        return status

    return router


ROUTERS = {
    "place_order": place_order,
    "list_orders": list_orders,
    "get_order": get_order,
    "cancel_order": cancel_order,
    "list_order_events": list_order_events,
    "list_positions": list_positions,
    "get_account": get_account,
    "list_accounts": list_accounts,
    "create_account": create_account,
    "reset_account": reset_account,
    "list_account_events": list_account_events,
    "list_fills": list_fills,
    "get_pnl": get_pnl,
    "halt_trading": halt_trading,
    "resume_trading": resume_trading,
    "get_trading_status": get_trading_status,
}
