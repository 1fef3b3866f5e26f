"""What a user can ask Trading."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from trading_system.kernel.messages import Query
from trading_system.market_data.domain import Symbol
from trading_system.trading.ids import AccountId, OrderId


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
    # An event stream's versions are SQLite / DynamoDB integers: 2**63 - 1 at most.
    after_version: int = Field(default=0, ge=0, le=2**63 - 1)
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
