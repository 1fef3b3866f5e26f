"""Trading's command routes: orders placed and canceled, accounts created, reset and resumed,
their readers, and the kill switch. Found through trading.py, as the catalog names their context;
apart from the read routes (trading_queries.py), so that a command imports only what its handlers do."""

from __future__ import annotations

from typing import Annotated, Any

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
from trading_system.trading.views import AccountView


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


def cancel_order(
    order_id: Annotated[str, like(CancelOrder, "order_id", in_path=True)], bus: Bus, context: Context
) -> Order:
    order: Order = bus.execute(CancelOrder(order_id=order_id), context)
    return order


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


def halt_trading(body: HaltTrading, bus: Bus, context: Context) -> dict[str, Any]:
    status: dict[str, Any] = bus.execute(body, context)
    return status


def resume_trading(bus: Bus, context: Context) -> dict[str, Any]:
    status: dict[str, Any] = bus.execute(ResumeTrading(), context)
    return status
