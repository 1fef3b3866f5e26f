"""Facts Trading records and publishes (source `trading.trading`).

Order events make up an order's stream and account events an account's stream in the event
store; together they are the source of truth. Position events are derived from fills and only
published. Events marked `published = False` are bookkeeping kept in the streams only.

Quantities of positions are signed: a short position has a negative qty and cost basis (its
average entry price stays positive), as Alpaca reports them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from trading_system.kernel.messages import Event
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.precision import PlainNumbers

Side = Literal["buy", "sell"]
LossLimit = Literal["max_daily_loss", "max_drawdown_pct"]


class TradingEvent(Event, PlainNumbers):
    context = "trading"


class OrderEvent(TradingEvent):
    order_id: str
    account_id: str
    symbol: str
    at: datetime


class OrderPlaced(OrderEvent):
    client_order_id: str
    side: Side
    type: Literal["market", "limit", "stop", "stop_limit"]
    time_in_force: Literal["day", "gtc", "ioc", "fok"]
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    as_of: datetime | None  # market time of the last known price: only later bars fill it
    fingerprint: str  # hash of the request, to tell a retry from a different order
    oco_group: str | None = None  # one-cancels-other: a fill cancels the group's other orders
    # the symbol's quantity step (qty is a whole number of them, notional orders fill in them);
    # None in orders placed before steps existed: fractional to 9 places
    qty_step: Decimal | None = None


class OrderAccepted(OrderEvent):
    # what the order holds back from buying power: a buy's cost, a short sale's margin
    reserved_cash: Decimal = Decimal(0)
    reserved_qty: Decimal = Decimal(0)  # shares it holds back from the position (sells) or buys
    reserved_short_qty: Decimal = Decimal(0)  # of a sell's shares, those it sells short
    # An order placed while its market was closed (a market order on an account that queues
    # those, settings.outside_hours; a limit or stop order always): the open of the session it
    # waits for. No quote acts on it and no bar that ends by then; the first bar of that session
    # fills (or triggers) it by the usual rules. None: not queued.
    queued_until: datetime | None = None


class OrderRejected(OrderEvent):
    reason: str
    code: str | None = None  # the reason's kind (trading/risk.py): events before it have none


class OrderFilled(OrderEvent):
    """A fill (TradeExecuted): `qty` at `price` now, and the order's totals after it."""

    fill_id: str
    side: Side
    qty: Decimal
    price: Decimal
    commission: Decimal
    filled_qty: Decimal
    filled_avg_price: Decimal
    status: Literal["partially_filled", "filled"]
    # the start of the bar whose price it filled at: the bar that filled it, or for a fill at the
    # last price the bar that price closed (so its market day is that bar's session)
    market_time: datetime
    bar_ts: datetime | None = None  # the bar that filled it; None for a fill at the last price
    realized_pl: Decimal = Decimal(0)  # what it closed: (price - average entry price) x qty, in cents
    epoch: int = 0  # the account's reset count when it filled


class OrderCanceled(OrderEvent):
    reason: str
    filled_qty: Decimal


class OrderExpired(OrderEvent):
    reason: str
    filled_qty: Decimal


class OrderSessionOpened(OrderEvent):
    published = False
    session: date
    bar_ts: datetime


class OrderStopTriggered(OrderEvent):
    published = False
    market_time: datetime
    bar_ts: datetime | None = None


class AccountEvent(TradingEvent):
    account_id: str
    at: datetime


class AccountCreated(AccountEvent):
    starting_cash: Decimal
    settings: AccountSettings
    # The user the account belongs to. Accounts created before users existed have none stored:
    # they are the first admin's, read as such without rewriting a stream.
    owner: str = FIRST_ADMIN


class AccountReset(AccountEvent):
    starting_cash: Decimal
    settings: AccountSettings
    epoch: int


class FundsReserved(AccountEvent):
    published = False
    order_id: str
    symbol: str
    side: Side
    cash: Decimal  # held back from buying power for a buy
    qty: Decimal  # held back from the sellable position for a sell


class FundsReleased(AccountEvent):
    """An order closed: what it still held back goes back to the account."""

    published = False
    order_id: str
    symbol: str
    side: Side
    cash: Decimal
    qty: Decimal


class FillSettled(AccountEvent):
    published = False
    order_id: str
    fill_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    commission: Decimal
    market_time: datetime
    held_cash_used: Decimal = Decimal(0)  # of what the order held back, the part this fill used
    held_qty_used: Decimal = Decimal(0)
    equity: Decimal | None = None  # the account's equity marked right after the fill
    # the cash the shares cost or brought in: qty x price on the currency's minor unit. None in
    # fills settled before amounts were rounded: those replay exactly as they were decided.
    amount: Decimal | None = None

    @property
    def value(self) -> Decimal:
        """What the fill's shares cost (a buy) or brought in (a sell), before commission."""
        return self.amount if self.amount is not None else self.qty * self.price


class EquityMarked(AccountEvent):
    """The close: equity now becomes the reference for the next day's P&L."""

    published = False
    equity: Decimal


class AccountHalted(AccountEvent):
    """An alert: the account's equity crossed one of its loss limits. New orders on it are
    rejected, except those that only reduce a position, until an admin resumes it; its open
    orders stay. Live deployments on the account pause on this."""

    limit: LossLimit
    equity: Decimal  # the equity that crossed it
    threshold: Decimal  # the equity below which the limit halts


class AccountResumed(AccountEvent):
    """An admin lifted the account's halt: its peak equity and the day's loss start again from
    `equity`, the equity at the resume."""

    equity: Decimal


class AccountReaderGranted(AccountEvent):
    """An admin let `user` read the account (orders, positions, fills, P&L), not trade on it."""

    user: str


class AccountReaderRevoked(AccountEvent):
    """An admin took back `user`'s read access to the account."""

    user: str


class PositionEvent(TradingEvent):
    account_id: str
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    realized_pl: Decimal
    at: datetime


class PositionOpened(PositionEvent):
    pass


class PositionChanged(PositionEvent):
    pass


class PositionClosed(PositionEvent):
    pass


class TradingHalted(TradingEvent):
    reason: str
    cancel_open_orders: bool
    at: datetime


class TradingResumed(TradingEvent):
    at: datetime


class BarsSettled(TradingEvent):
    """The paper broker has met the open orders with an ingestion's bars and taken their closes
    as the latest prices. What decides on new bars (live deployments) listens to this, not to
    BarsIngested, so it always sees the fills those bars caused, in AWS as locally."""

    ingest_id: str
    timeframe: str
    symbols: list[str]
    last: dict[str, datetime]  # per symbol, the start of its newest bar in the ingestion
    fills: int
