"""What the queries return: accounts and positions marked to the latest price, order pages,
P&L reports. Values are computed here from the aggregates, never stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account
from trading_system.trading.broker import Quote
from trading_system.trading.orders import RATIO_STEP, Order

ZERO = Decimal(0)


class PositionView(BaseModel):
    symbol: str
    side: str = "long"
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None  # None until a bar of the symbol is known; then marked at cost
    price_time: datetime | None
    market_value: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal | None
    realized_pl: Decimal
    commission: Decimal


class AccountView(BaseModel):
    account_id: str
    status: str = "ACTIVE"
    currency: str = "USD"
    starting_cash: Decimal
    cash: Decimal
    reserved_cash: Decimal
    buying_power: Decimal
    long_market_value: Decimal
    equity: Decimal
    last_equity: Decimal
    day_pl: Decimal  # equity - last_equity (equity at the last close)
    realized_pl: Decimal
    unrealized_pl: Decimal
    commission: Decimal
    open_orders: int
    epoch: int
    settings: AccountSettings
    created_at: datetime
    reset_at: datetime | None
    updated_at: datetime
    version: int


class OrderPage(BaseModel):
    orders: list[Order]
    next: str | None  # pass as `after` for the next page


class PnlReport(BaseModel):
    account_id: str
    by: str
    epoch: int | None
    rows: list[dict[str, Any]]


def position_views(account: Account, quotes: Mapping[str, Quote]) -> list[PositionView]:
    views = []
    for symbol in sorted(account.positions):
        position = account.positions[symbol]
        quote = quotes.get(symbol)
        value = position.qty * quote.price if quote else position.cost_basis
        unrealized = value - position.cost_basis
        views.append(
            PositionView(
                symbol=symbol,
                qty=position.qty,
                avg_entry_price=position.avg_entry_price,
                cost_basis=position.cost_basis,
                current_price=quote.price if quote else None,
                price_time=quote.market_time if quote else None,
                market_value=value,
                unrealized_pl=unrealized,
                unrealized_plpc=(unrealized / position.cost_basis).quantize(RATIO_STEP)
                if position.cost_basis
                else None,
                realized_pl=position.realized_pl,
                commission=position.commission,
            )
        )
    return views


def account_view(account: Account, quotes: Mapping[str, Quote]) -> AccountView:
    positions = position_views(account, quotes)
    market_value = sum((p.market_value for p in positions), ZERO)
    equity = account.cash + market_value
    return AccountView(
        account_id=account.account_id,
        starting_cash=account.starting_cash,
        cash=account.cash,
        reserved_cash=account.reserved_cash,
        buying_power=account.buying_power,
        long_market_value=market_value,
        equity=equity,
        last_equity=account.last_equity,
        day_pl=equity - account.last_equity,
        realized_pl=account.realized_pl,
        unrealized_pl=sum((p.unrealized_pl for p in positions), ZERO),
        commission=account.commission,
        open_orders=account.open_orders,
        epoch=account.epoch,
        settings=account.settings,
        created_at=account.created_at,
        reset_at=account.reset_at,
        updated_at=account.updated_at,
        version=account.version,
    )
