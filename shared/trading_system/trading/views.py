"""What a reader sees: accounts and positions marked to the latest prices, order pages and P&L
reports, computed from the aggregates, never stored. The queries answer them (query_handlers.py),
and so do the commands that change an account's standing (a resume, a reader granted or revoked).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account, AccountHalt
from trading_system.trading.ledger import marks_of
from trading_system.trading.orders import Order
from trading_system.trading.precision import ACCOUNT_CURRENCY, PlainNumbers, money, plain, ratio
from trading_system.trading.quotes import Quote

ZERO = Decimal(0)


class PositionView(PlainNumbers):
    """A position as Alpaca shows one: a short has side "short" and a negative qty, cost basis
    and market value; unrealized_plpc is of the cost basis' size."""

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


class AccountView(PlainNumbers):
    """An account marked to the latest prices; every money figure on its currency's minor unit
    (figures kept before money was rounded are rounded here)."""

    account_id: str
    owner: str  # the user it belongs to: who trades on it
    readers: list[str]  # the users an admin let read it
    status: str = "ACTIVE"
    currency: str = ACCOUNT_CURRENCY
    starting_cash: Decimal
    cash: Decimal
    reserved_cash: Decimal
    buying_power: Decimal  # cash - reserved_cash - short_margin
    long_market_value: Decimal
    short_market_value: Decimal  # negative: the shorts at the latest prices
    short_margin: Decimal  # held out of buying power: short_margin_pct of the shorts' value
    equity: Decimal
    last_equity: Decimal
    day_pl: Decimal  # equity - last_equity (equity at the last close)
    peak_equity: Decimal  # the drawdown limit's reference
    daily_loss_threshold: Decimal | None  # equity below which max_daily_loss halts the account
    drawdown_threshold: Decimal | None  # equity below which max_drawdown_pct halts it
    halted: bool  # a loss limit was crossed: only orders that reduce a position are accepted
    halt: AccountHalt | None  # which limit, at what equity and threshold, when
    halt_reason: str | None
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
        value = position.market_value(quote.price if quote else None)
        cost_basis = money(position.cost_basis)
        unrealized = value - cost_basis
        views.append(
            PositionView(
                symbol=symbol,
                side=position.side,
                qty=plain(position.qty),
                avg_entry_price=position.avg_entry_price,
                cost_basis=cost_basis,
                current_price=plain(quote.price) if quote else None,
                price_time=quote.market_time if quote else None,
                market_value=value,
                unrealized_pl=unrealized,
                unrealized_plpc=ratio(unrealized / abs(cost_basis)) if cost_basis else None,
                realized_pl=money(position.realized_pl),
                commission=money(position.commission),
            )
        )
    return views


def account_view(account: Account, quotes: Mapping[str, Quote]) -> AccountView:
    positions = position_views(account, quotes)
    marks = marks_of(quotes)
    equity = account.equity(marks)
    halt = account.halt
    last_equity = money(account.last_equity)
    daily_loss_threshold = account.daily_loss_threshold
    return AccountView(
        account_id=account.account_id,
        owner=account.owner,
        readers=list(account.readers),
        starting_cash=money(account.starting_cash),
        cash=money(account.cash),
        reserved_cash=money(account.reserved_cash),
        buying_power=money(account.buying_power(marks)),
        long_market_value=money(sum((p.market_value for p in positions if p.qty > 0), ZERO)),
        short_market_value=money(sum((p.market_value for p in positions if p.qty < 0), ZERO)),
        short_margin=account.short_margin(marks),
        equity=equity,
        last_equity=last_equity,
        day_pl=equity - last_equity,
        peak_equity=money(account.peak_equity),
        daily_loss_threshold=money(daily_loss_threshold) if daily_loss_threshold is not None else None,
        drawdown_threshold=account.drawdown_threshold,
        halted=halt is not None,
        halt=halt,
        halt_reason=halt.reason if halt else None,
        realized_pl=money(account.realized_pl),
        unrealized_pl=money(sum((p.unrealized_pl for p in positions), ZERO)),
        commission=money(account.commission),
        open_orders=account.open_orders,
        epoch=account.epoch,
        settings=account.settings,
        created_at=account.created_at,
        reset_at=account.reset_at,
        updated_at=account.updated_at,
        version=account.version,
    )
