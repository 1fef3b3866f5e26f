"""Trading's commands and queries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from trading_system.kernel.messages import Command, Query
from trading_system.market_data.domain import Symbol
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.orders import OrderRequest

AccountId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
OrderId = Annotated[str, Field(min_length=1, max_length=64)]
StartingCash = Annotated[Decimal, Field(gt=0, le=Decimal("1e12"), max_digits=20, decimal_places=2)]


class PlaceOrder(Command):
    request: OrderRequest


class CancelOrder(Command):
    order_id: OrderId
    reason: str = "canceled by request"


class CreateAccount(Command):
    account_id: AccountId
    starting_cash: StartingCash
    settings: AccountSettings = Field(default_factory=AccountSettings)


class ResetAccount(Command):
    account_id: AccountId
    starting_cash: StartingCash | None = None  # default: the account's current starting cash
    settings: AccountSettings | None = None  # default: keep the current ones


class HaltTrading(Command):
    reason: str = Field(min_length=1, max_length=500)
    cancel_open_orders: bool = False


class ResumeTrading(Command):
    pass


class CloseSession(Command):
    """The scheduled close: expire open day orders and mark each account's equity."""


class GetOrder(Query):
    order_id: OrderId


class ListOrders(Query):
    account_id: AccountId | None = None
    status: Literal["open", "closed", "all"] = "open"
    symbol: Symbol | None = None
    after: str | None = None  # cursor
    limit: int = Field(default=100, ge=1, le=500)


class ListOrderEvents(Query):
    order_id: OrderId


class GetAccount(Query):
    account_id: AccountId | None = None


class ListAccounts(Query):
    pass


class ListAccountEvents(Query):
    account_id: AccountId | None = None
    after_version: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


class ListPositions(Query):
    account_id: AccountId | None = None


class ListFills(Query):
    account_id: AccountId | None = None
    symbol: Symbol | None = None
    after: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class GetPnl(Query):
    account_id: AccountId | None = None
    by: Literal["day", "symbol"] = "day"
    start: date | None = None
    end: date | None = None
    all_epochs: bool = False  # include fills from before the last reset


class GetTradingStatus(Query):
    pass
