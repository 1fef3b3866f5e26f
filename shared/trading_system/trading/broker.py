"""The Broker port: where orders go to be executed.

The paper broker (paper_broker.py) simulates executions from market data; a real broker's
adapter implements the same three calls by sending the order out and translating the venue's
reports into these executions. The application turns executions into order and account events,
so the domain never learns which broker it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from trading_system.market_data.calendars import ExchangeCalendar
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.orders import Order
from trading_system.trading.quotes import Quote
from trading_system.trading.sessions import bar_session


@dataclass(frozen=True)
class MarketBar:
    ts: datetime  # start
    end: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    previous_close: Decimal | None = None  # the symbol's close before this bar, when known
    # the symbol's exchange calendar; None: a symbol without an exchange (its sessions are UTC days)
    calendar: ExchangeCalendar | None = field(default=None, compare=False, repr=False)

    @property
    def session(self) -> date:
        """The trading session a bar belongs to, by its label in the symbol's calendar (the
        exchange's local date, not necessarily the bar's UTC date); the UTC date for a 24/7
        symbol or one without an exchange (sessions.bar_session)."""
        return bar_session(self.calendar, self.ts, self.end)


@dataclass(frozen=True)
class Fill:
    qty: Decimal
    price: Decimal
    commission: Decimal
    market_time: datetime


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Expire:
    reason: str


@dataclass(frozen=True)
class SessionOpened:
    session: date


@dataclass(frozen=True)
class StopTriggered:
    market_time: datetime


Execution = Fill | Cancel | Expire | SessionOpened | StopTriggered


class Broker(Protocol):
    def on_submit(self, order: Order, quote: Quote | None) -> list[Execution]:
        """An accepted order arrives; `quote` is the last price known, if any."""

    def on_bar(self, order: Order, bar: MarketBar) -> list[Execution]:
        """A bar that began after the order's last known price (the caller filters)."""

    def on_cancel(self, order: Order) -> list[Execution]:
        """The trader asks to cancel an open order."""


class BrokerFactory(Protocol):
    def __call__(self, settings: AccountSettings) -> Broker: ...
