"""Accounts and positions: cash, what open orders hold back, and the shares held.

A paper account is a cash account: buys need cash (buying power is cash less what open buy
orders hold back) and sells need shares (no short selling). Positions keep an exact cost basis;
realized P&L is (sell price - average entry price) x qty and commissions are kept apart, so
equity - starting cash = realized + unrealized - commissions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from trading_system.kernel.errors import Conflict
from trading_system.kernel.event_store import replay
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.events import (
    AccountCreated,
    AccountEvent,
    AccountReset,
    EquityMarked,
    FillSettled,
    FundsReleased,
    FundsReserved,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from trading_system.trading.orders import RATIO_STEP

ZERO = Decimal(0)
COST_STEP = Decimal("1e-15")


class Position(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    qty: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pl: Decimal = ZERO
    commission: Decimal = ZERO

    @property
    def avg_entry_price(self) -> Decimal:
        return (self.cost_basis / self.qty).quantize(RATIO_STEP) if self.qty else ZERO

    def after(self, fill: FillSettled) -> Position:
        if fill.side == "buy":
            return self.model_copy(
                update={
                    "qty": self.qty + fill.qty,
                    "cost_basis": self.cost_basis + fill.qty * fill.price,
                    "commission": self.commission + fill.commission,
                }
            )
        if fill.qty > self.qty:
            raise Conflict(f"cannot sell {fill.qty} {self.symbol}: the position holds {self.qty}")
        qty = self.qty - fill.qty
        # Cost leaves in proportion to the shares sold, on the 15-place grid every cost is on
        # (qty 9 places x price 6), so cost basis and realized P&L stay exact; all of it leaves
        # when the position closes.
        removed = self.cost_basis if qty == 0 else _on_cost_grid(self.cost_basis * fill.qty / self.qty)
        return self.model_copy(
            update={
                "qty": qty,
                "cost_basis": self.cost_basis - removed,
                "realized_pl": self.realized_pl + fill.qty * fill.price - removed,
                "commission": self.commission + fill.commission,
            }
        )


def _on_cost_grid(value: Decimal) -> Decimal:
    """An exact quotient as it is; an inexact one rounded to 15 places."""
    exponent = value.as_tuple().exponent
    return value if isinstance(exponent, int) and exponent >= -15 else value.quantize(COST_STEP)


class Account(BaseModel):
    """The Account aggregate's state, folded from its stream."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    starting_cash: Decimal
    cash: Decimal
    settings: AccountSettings
    positions: dict[str, Position] = Field(default_factory=dict)
    # What open orders hold back, as running totals: each order knows its own share (Order.held_*)
    # and the events say how much each fill or release gives back, so the account's record stays
    # small however many orders are open.
    open_orders: int = 0
    reserved_cash: Decimal = ZERO
    reserved_buy_qty: dict[str, Decimal] = Field(default_factory=dict)
    reserved_sell_qty: dict[str, Decimal] = Field(default_factory=dict)
    realized_pl: Decimal = ZERO
    commission: Decimal = ZERO
    last_equity: Decimal
    epoch: int = 0  # how many times the account was reset; fills carry it
    created_at: datetime
    reset_at: datetime | None = None
    updated_at: datetime
    version: int = 0

    @property
    def buying_power(self) -> Decimal:
        return self.cash - self.reserved_cash

    def reserved_qty(self, symbol: str, side: str) -> Decimal:
        book = self.reserved_buy_qty if side == "buy" else self.reserved_sell_qty
        return book.get(symbol, ZERO)

    def _holding(self, symbol: str, side: str, cash: Decimal, qty: Decimal) -> dict[str, object]:
        """The reservation totals after adding (or, negative, giving back) cash and qty."""
        name = "reserved_buy_qty" if side == "buy" else "reserved_sell_qty"
        book = dict(getattr(self, name))
        left = book.get(symbol, ZERO) + qty
        if left > 0:
            book[symbol] = left
        else:
            book.pop(symbol, None)
        return {"reserved_cash": self.reserved_cash + cash, name: book}

    def held(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.qty if position else ZERO

    def apply(self, event: AccountEvent) -> Account:
        changes: dict[str, object] = {"version": self.version + 1, "updated_at": event.at}
        match event:
            case AccountReset():
                changes |= {
                    "starting_cash": event.starting_cash,
                    "cash": event.starting_cash,
                    "settings": event.settings,
                    "positions": {},
                    "open_orders": 0,
                    "reserved_cash": ZERO,
                    "reserved_buy_qty": {},
                    "reserved_sell_qty": {},
                    "realized_pl": ZERO,
                    "commission": ZERO,
                    "last_equity": event.starting_cash,
                    "epoch": event.epoch,
                    "reset_at": event.at,
                }
            case FundsReserved():
                changes |= self._holding(event.symbol, event.side, event.cash, event.qty)
                changes["open_orders"] = self.open_orders + 1
            case FundsReleased():
                changes |= self._holding(event.symbol, event.side, -event.cash, -event.qty)
                changes["open_orders"] = self.open_orders - 1
            case FillSettled():
                before = self.positions.get(event.symbol) or Position(symbol=event.symbol)
                after = before.after(event)
                positions = {**self.positions, event.symbol: after}
                if after.qty == 0:
                    del positions[event.symbol]
                notional = event.qty * event.price
                cash = self.cash - notional if event.side == "buy" else self.cash + notional
                changes |= {
                    "cash": cash - event.commission,
                    "positions": positions,
                    **self._holding(event.symbol, event.side, -event.held_cash_used, -event.held_qty_used),
                    "realized_pl": self.realized_pl + (after.realized_pl - before.realized_pl),
                    "commission": self.commission + event.commission,
                }
            case EquityMarked():
                changes["last_equity"] = event.equity
            case _:
                raise TypeError(f"an account cannot apply {type(event).__name__}")
        return self.model_copy(update=changes)

    @classmethod
    def created(cls, event: AccountCreated) -> Account:
        return cls(
            account_id=event.account_id,
            starting_cash=event.starting_cash,
            cash=event.starting_cash,
            settings=event.settings,
            last_equity=event.starting_cash,
            created_at=event.at,
            updated_at=event.at,
            version=1,
        )

    @classmethod
    def from_events(cls, events: list[AccountEvent]) -> Account:
        return replay(events, AccountCreated, cls.created, "an account")


def position_event(before: Position, after: Position, account_id: str, at: datetime) -> PositionEvent:
    """What a fill did to a position, as the event the bus carries."""
    if before.qty == 0:
        kind: type[PositionEvent] = PositionOpened
    elif after.qty == 0:
        kind = PositionClosed
    else:
        kind = PositionChanged
    return kind(
        account_id=account_id,
        symbol=after.symbol,
        qty=after.qty,
        avg_entry_price=after.avg_entry_price,
        cost_basis=after.cost_basis,
        realized_pl=after.realized_pl,
        at=at,
    )
