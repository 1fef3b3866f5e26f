"""Accounts and positions: cash, what open orders hold back, the shares held, loss limits.

A paper account is a cash account: buys need cash and sells need shares, unless the account's
settings allow short selling. Buying power is cash less what open orders hold back, less the
margin held for short positions. Positions keep an exact cost basis; realized P&L is (exit
price - average entry price) x qty for a long, (average entry price - exit price) x qty for a
short, and commissions are kept apart, so equity - starting cash = realized + unrealized -
commissions.

Short selling (settings.shorting): a sell beyond the shares held opens a short (qty and cost
basis negative, as Alpaca reports them); a buy covers a short before it opens a long. The
sale's proceeds go to cash, and the short's market value (qty x last price, negative) counts in
equity. While it is open, short_margin_pct of its market value, marked to the latest price, is
held out of buying power: at the default 150 (Reg T's initial requirement), its own proceeds
plus half its value of the trader's money. There are no margin calls, borrow fees or locate
checks; a short that has run up leaves buying power negative (nothing new can be opened, a
cover always can), and covering it may take cash below zero.

Loss limits (settings.max_daily_loss, settings.max_drawdown_pct): the equity is marked after
every fill, at the close and when new bars bring new prices; when it falls below a limit's
threshold the account is halted (AccountHalted): new orders are rejected unless they only
reduce a position, open orders stay, until an admin resumes it (AccountResumed). The peak
equity is the highest of the starting cash, the equity after each fill and at each close; the
day's loss is measured from the last close's equity. A resume starts both again from the equity
at the resume, so the limit does not trip again at once; a reset starts them from the starting
cash and lifts the halt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from trading_system.kernel.errors import Conflict
from trading_system.kernel.event_store import replay
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.events import (
    AccountCreated,
    AccountEvent,
    AccountHalted,
    AccountReaderGranted,
    AccountReaderRevoked,
    AccountReset,
    AccountResumed,
    EquityMarked,
    FillSettled,
    FundsReleased,
    FundsReserved,
    LossLimit,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from trading_system.trading.precision import PlainNumbers, average_price, money

ZERO = Decimal(0)
COST_STEP = Decimal("1e-15")
HUNDRED = Decimal(100)


class Position(PlainNumbers):
    model_config = ConfigDict(frozen=True)

    symbol: str
    qty: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pl: Decimal = ZERO
    commission: Decimal = ZERO

    @property
    def avg_entry_price(self) -> Decimal:
        """What a share cost on average: the cost basis over the qty (positive for a short)."""
        return average_price(self.cost_basis, self.qty)

    @property
    def side(self) -> str:
        return "short" if self.qty < 0 else "long"

    def market_value(self, mark: Decimal | None) -> Decimal:
        """qty x the latest price (negative for a short), as money; at cost when no price is
        known."""
        return money(self.qty * mark if mark is not None else self.cost_basis)

    def after(self, fill: FillSettled, shorting: bool = False) -> Position:
        """The position after a fill: it first reduces the position on the other side (a sell
        closes a long, a buy covers a short), then opens or adds on its own side."""
        buy = fill.side == "buy"
        if not buy and not shorting and fill.qty > self.qty:
            raise Conflict(f"cannot sell {fill.qty} {self.symbol}: the position holds {self.qty}")
        qty, cost, realized = self.qty, self.cost_basis, self.realized_pl
        reducing = ZERO if qty == 0 or (qty > 0) == buy else min(fill.qty, abs(qty))
        opening = fill.qty - reducing
        # A fill settled in cents (its `amount`) books cents: the part that reduces is valued
        # on its own and the rest of the amount opens, and the cost that leaves is rounded like
        # money, so cost basis and realized P&L stay on the cent and equity - starting cash is
        # still exactly realized + unrealized - commissions. A fill settled before amounts were
        # rounded replays exactly as it was decided.
        in_cents = fill.amount is not None
        if not in_cents:
            reduced_value, opened_value = reducing * fill.price, opening * fill.price
        elif opening:
            reduced_value = money(reducing * fill.price)
            opened_value = fill.value - reduced_value
        else:
            reduced_value, opened_value = fill.value, ZERO
        if reducing:
            # Cost leaves in proportion to the shares closed; all of it when the position closes.
            share = cost * reducing / abs(qty)
            removed = cost if reducing == abs(qty) else money(share) if in_cents else _on_cost_grid(share)
            sign = 1 if qty > 0 else -1
            realized += sign * reduced_value - removed
            qty -= sign * reducing
            cost -= removed
        if opening:
            sign = 1 if buy else -1
            qty += sign * opening
            cost += sign * opened_value
        return self.model_copy(
            update={
                "qty": qty,
                "cost_basis": cost,
                "realized_pl": realized,
                "commission": self.commission + fill.commission,
            }
        )


def _on_cost_grid(value: Decimal) -> Decimal:
    """An exact quotient as it is; an inexact one rounded to 15 places (the grid every cost of a
    fill settled before amounts were rounded is on: qty 9 places x price 6)."""
    exponent = value.as_tuple().exponent
    return value if isinstance(exponent, int) and exponent >= -15 else value.quantize(COST_STEP)


class AccountHalt(PlainNumbers):
    """Why an account is halted: the loss limit its equity crossed, and when."""

    model_config = ConfigDict(frozen=True)

    limit: LossLimit
    equity: Decimal
    threshold: Decimal
    at: datetime

    @property
    def reason(self) -> str:
        return f"{self.limit} crossed: equity {self.equity:.2f} fell below {self.threshold:.2f}"


class Account(PlainNumbers):
    """The Account aggregate's state, folded from its stream."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    # Who may act on it (its owner, and admins) and who may only read it (users an admin named):
    # a reset keeps both. Views stored before users existed have no owner: the first admin's.
    owner: str = FIRST_ADMIN
    readers: tuple[str, ...] = ()
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
    peak_equity: Decimal  # the highest equity marked (fills, closes) since creation, reset or resume
    daily_loss_base: Decimal  # the day's loss is measured from it: last_equity, or a later resume's
    halt: AccountHalt | None = None  # a loss limit was crossed: see the module's docstring
    epoch: int = 0  # how many times the account was reset; fills carry it
    created_at: datetime
    reset_at: datetime | None = None
    updated_at: datetime
    version: int = 0

    @model_validator(mode="before")
    @classmethod
    def _stored_before_loss_limits(cls, data: Any) -> Any:
        """Accounts stored before loss limits existed start both references at last_equity."""
        if isinstance(data, dict) and "last_equity" in data:
            data = {"peak_equity": data["last_equity"], "daily_loss_base": data["last_equity"], **data}
        return data

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Cash plus every position's market value at `marks` (the latest prices; a position
        without one is valued at cost), as money."""
        values = sum((p.market_value(marks.get(s)) for s, p in self.positions.items()), ZERO)
        return money(self.cash + values)

    def short_margin(self, marks: Mapping[str, Decimal]) -> Decimal:
        """What short positions hold out of buying power: short_margin_pct of their market
        value at `marks`, as money."""
        short = sum((-p.market_value(marks.get(s)) for s, p in self.positions.items() if p.qty < 0), ZERO)
        return money(short * self.settings.short_margin_pct / HUNDRED)

    def buying_power(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Cash less what open orders hold back and what short positions hold as margin."""
        return self.cash - self.reserved_cash - self.short_margin(marks)

    @property
    def daily_loss_threshold(self) -> Decimal | None:
        """The equity below which max_daily_loss halts the account."""
        limit = self.settings.max_daily_loss
        return None if limit is None else self.daily_loss_base - limit

    @property
    def drawdown_threshold(self) -> Decimal | None:
        """The equity below which max_drawdown_pct halts the account, as money."""
        pct = self.settings.max_drawdown_pct
        if pct is None:
            return None
        return money(self.peak_equity * (HUNDRED - pct) / HUNDRED)

    def limit_crossed(self, equity: Decimal, at: datetime) -> AccountHalted | None:
        """The halt that `equity` calls for (daily loss first), or None: not below any
        threshold, no limits, or halted already."""
        if self.halt is not None:
            return None
        crossed: tuple[tuple[LossLimit, Decimal | None], ...] = (
            ("max_daily_loss", self.daily_loss_threshold),
            ("max_drawdown_pct", self.drawdown_threshold),
        )
        for limit, threshold in crossed:
            if threshold is not None and equity < threshold:
                return AccountHalted(
                    account_id=self.account_id, limit=limit, equity=equity, threshold=threshold, at=at
                )
        return None

    @property
    def has_loss_limits(self) -> bool:
        return self.settings.max_daily_loss is not None or self.settings.max_drawdown_pct is not None

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
        """The position's qty: negative when short."""
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
                    "peak_equity": event.starting_cash,
                    "daily_loss_base": event.starting_cash,
                    "halt": None,
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
                after = before.after(event, self.settings.shorting)
                positions = {**self.positions, event.symbol: after}
                if after.qty == 0:
                    del positions[event.symbol]
                cash = self.cash - event.value if event.side == "buy" else self.cash + event.value
                changes |= {
                    "cash": cash - event.commission,
                    "positions": positions,
                    **self._holding(event.symbol, event.side, -event.held_cash_used, -event.held_qty_used),
                    "realized_pl": self.realized_pl + (after.realized_pl - before.realized_pl),
                    "commission": self.commission + event.commission,
                }
                if event.equity is not None:
                    changes["peak_equity"] = max(self.peak_equity, event.equity)
            case EquityMarked():
                changes |= {
                    "last_equity": event.equity,
                    "daily_loss_base": event.equity,
                    "peak_equity": max(self.peak_equity, event.equity),
                }
            case AccountHalted():
                halt = AccountHalt(
                    limit=event.limit, equity=event.equity, threshold=event.threshold, at=event.at
                )
                changes["halt"] = halt
            case AccountResumed():
                changes |= {"halt": None, "peak_equity": event.equity, "daily_loss_base": event.equity}
            case AccountReaderGranted():
                changes["readers"] = tuple(sorted({*self.readers, event.user}))
            case AccountReaderRevoked():
                changes["readers"] = tuple(r for r in self.readers if r != event.user)
            case _:
                raise TypeError(f"an account cannot apply {type(event).__name__}")
        return self.model_copy(update=changes)

    @classmethod
    def created(cls, event: AccountCreated) -> Account:
        return cls(
            account_id=event.account_id,
            owner=event.owner,
            starting_cash=event.starting_cash,
            cash=event.starting_cash,
            settings=event.settings,
            last_equity=event.starting_cash,
            peak_equity=event.starting_cash,
            daily_loss_base=event.starting_cash,
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
