"""Orders: what a trader asks for, and the Order aggregate with its explicit state machine.

Field and enum names are Alpaca's (symbol, qty, notional, side, type, time_in_force,
limit_price, stop_price, client_order_id, filled_qty, filled_avg_price, status), so a compatible
facade stays thin. Money and quantities are Decimal. The order's state is a fold of its events;
the methods that change it return the event and never mutate, and refuse illegal transitions.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from trading_system.kernel.errors import Conflict, Problem, ValidationFailed
from trading_system.kernel.event_store import replay
from trading_system.market_data.domain import Symbol
from trading_system.trading.events import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    OrderSessionOpened,
    OrderStopTriggered,
)
from trading_system.trading.precision import (
    FRACTIONAL_QTY_STEP,
    PlainNumbers,
    average_price,
    decimal_text,
    money,
    on_step,
    quantity,
    without_exponent,
)

ZERO = Decimal(0)

# Decimals echo back as people write them (1E+3 -> 1000)
Quantity = Annotated[Decimal, Field(gt=0, max_digits=24, decimal_places=9), AfterValidator(without_exponent)]
Price = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=6), AfterValidator(without_exponent)]
Money = Annotated[Decimal, Field(gt=0, max_digits=24, decimal_places=2), AfterValidator(without_exponent)]
ClientOrderId = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[\x21-\x7e]+$")]


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED)


# The state machine: which status may follow which. Everything else is refused.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED}),
    OrderStatus.ACCEPTED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


class IllegalTransition(Conflict):
    """An order was asked to do something its status does not allow (409)."""


class OrderRequest(BaseModel):
    """The body of POST /v1/orders. Field types are checked here; combinations in `problems`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    side: OrderSide
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    qty: Quantity | None = None
    notional: Money | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None
    client_order_id: ClientOrderId | None = None
    account_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    oco_group: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_:.-]+$",
        description="one-cancels-other: when an order of the group (same account and symbol) fills, "
        "the group's other open orders are canceled; they may sell (or buy) the same shares, since "
        "only one will (a stop-loss and a take-profit, and the strategy's own exit)",
    )

    def problems(self, qty_step: Decimal = FRACTIONAL_QTY_STEP) -> list[Problem]:
        """Every invalid combination, each naming its field; `qty_step`: the symbol's
        quantity step (precision.qty_step), which a qty must be a whole number of."""
        found: list[Problem] = []
        if self.qty is not None and not on_step(self.qty, qty_step):
            found.append(
                Problem(
                    f"qty must be a whole number of {self.symbol}'s quantity step {decimal_text(qty_step)}",
                    field="qty",
                    value=self.qty,
                )
            )
        if self.qty is not None and self.notional is not None:
            found.append(Problem("give qty or notional, not both", field="notional", value=self.notional))
        if self.qty is None and self.notional is None:
            found.append(Problem("qty or notional is required", field="qty"))
        if self.notional is not None and self.type is not OrderType.MARKET:
            found.append(Problem("notional is only allowed on market orders", field="notional"))
        if self.notional is not None and self.time_in_force is not TimeInForce.DAY:
            found.append(Problem("notional orders must be day orders", field="time_in_force"))
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit and self.limit_price is None:
            found.append(Problem(f"a {self.type} order needs a limit_price", field="limit_price"))
        if not needs_limit and self.limit_price is not None:
            found.append(Problem(f"a {self.type} order takes no limit_price", field="limit_price"))
        if needs_stop and self.stop_price is None:
            found.append(Problem(f"a {self.type} order needs a stop_price", field="stop_price"))
        if not needs_stop and self.stop_price is not None:
            found.append(Problem(f"a {self.type} order takes no stop_price", field="stop_price"))
        return found

    def check(self, qty_step: Decimal = FRACTIONAL_QTY_STEP) -> None:
        problems = self.problems(qty_step)
        if problems:
            raise ValidationFailed(problems[0].reason, problems)

    def fingerprint(self) -> str:
        """What makes two submissions with one client_order_id the same order."""
        body = self.model_dump(exclude={"client_order_id", "account_id"}, exclude_none=True)
        # 10, 10.0 and "10.00" are one quantity: decimals in their normal form
        plain = {k: format(v.normalize(), "f") if isinstance(v, Decimal) else str(v) for k, v in body.items()}
        text = json.dumps(plain, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class Order(PlainNumbers):
    """The Order aggregate's state, folded from its events (see `apply`)."""

    model_config = ConfigDict(frozen=True)

    id: str
    client_order_id: str
    account_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    filled_notional: Decimal = ZERO
    commission: Decimal = ZERO
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    rejected_at: datetime | None = None
    reject_reason: str | None = None
    cancel_reason: str | None = None
    as_of: datetime | None = None  # market time of the last price known when placed; later bars fill
    # a day order's trading session, set by the first bar: the session's label in the symbol's
    # calendar (its local date), the UTC date for a 24/7 symbol or one without an exchange (the
    # two agree for every session the calendars hold that lies within its UTC date, so sessions
    # recorded when it was always the UTC date read the same)
    session: date | None = None
    stop_triggered: bool = False
    reserved_cash: Decimal = ZERO  # held back when accepted; fills use it up (see held_cash)
    reserved_qty: Decimal = ZERO
    reserved_short_qty: Decimal = ZERO  # of a sell's qty, what it sells short (its margin's base)
    last_bar_ts: datetime | None = None  # the last bar that acted on it: bars up to it are done
    oco_group: str | None = None  # one-cancels-other (see OrderRequest.oco_group)
    # an order placed while its market was closed (a market order on an account that queues
    # those, any limit or stop order): the open of the session it waits for
    # (OrderAccepted.queued_until); no quote and no bar that ends by then acts on it
    queued_until: datetime | None = None
    qty_step: Decimal = FRACTIONAL_QTY_STEP  # the symbol's quantity step when placed
    fingerprint: str
    version: int = 0

    # -- queries -------------------------------------------------------------------------

    def remaining_qty(self, price: Decimal) -> Decimal:
        """What is left to fill; a notional order's left-over amount at `price`."""
        if self.qty is not None:
            return self.qty - self.filled_qty
        assert self.notional is not None
        left = self.notional - self.filled_notional
        return quantity(left / price, self.qty_step) if left > 0 else ZERO

    @property
    def held_cash(self) -> Decimal:
        """What the order holds back from buying power while open (what it gave back when it
        closed). A buy: its reservation less what its fills spent. A sell that sells short: the
        margin of its short part still to fill (its first fills close the long part, if any)."""
        if self.side is OrderSide.BUY:
            return max(self.reserved_cash - self.filled_notional - self.commission, ZERO)
        if not self.reserved_short_qty:
            return ZERO
        left = min(self.held_qty, self.reserved_short_qty)
        if left == self.reserved_short_qty:
            return self.reserved_cash
        return money(self.reserved_cash * left / self.reserved_short_qty)

    @property
    def held_qty(self) -> Decimal:
        return max(self.reserved_qty - self.filled_qty, ZERO)

    # -- transitions: each returns the event, never mutates ---------------------------------

    def _require(self, target: OrderStatus, action: str) -> None:
        if target not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"cannot {action} order {self.id}: it is {self.status}")

    def accept(
        self,
        at: datetime,
        reserved_cash: Decimal = ZERO,
        reserved_qty: Decimal = ZERO,
        reserved_short_qty: Decimal = ZERO,
        queued_until: datetime | None = None,
    ) -> OrderAccepted:
        self._require(OrderStatus.ACCEPTED, "accept")
        return OrderAccepted(
            **self._ids(),
            reserved_cash=reserved_cash,
            reserved_qty=reserved_qty,
            reserved_short_qty=reserved_short_qty,
            queued_until=queued_until,
            at=at,
        )

    def reject(self, reason: str, at: datetime, code: str | None = None) -> OrderRejected:
        self._require(OrderStatus.REJECTED, "reject")
        return OrderRejected(**self._ids(), reason=reason, code=code, at=at)

    def fill(
        self,
        fill_id: str,
        qty: Decimal,
        price: Decimal,
        commission: Decimal,
        market_time: datetime,
        at: datetime,
        *,
        bar_ts: datetime | None = None,
        realized_pl: Decimal = ZERO,
        epoch: int = 0,
    ) -> OrderFilled:
        if not self.status.is_open:
            raise IllegalTransition(f"cannot fill order {self.id}: it is {self.status}")
        if qty <= 0:
            raise ValueError(f"a fill needs a positive qty, not {qty}")
        left = self.remaining_qty(price)
        if qty > left:
            raise IllegalTransition(f"cannot fill {qty} of order {self.id}: only {left} is left")
        filled_qty = self.filled_qty + qty
        filled_notional = self.filled_notional + qty * price
        if self.qty is not None:
            done = filled_qty == self.qty
        else:
            assert self.notional is not None
            done = quantity((self.notional - filled_notional) / price, self.qty_step) <= 0
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        self._require(status, "fill")
        return OrderFilled(
            **self._ids(),
            fill_id=fill_id,
            side=self.side,
            qty=qty,
            price=price,
            commission=commission,
            filled_qty=filled_qty,
            filled_avg_price=average_price(filled_notional, filled_qty),
            status=status,
            market_time=market_time,
            bar_ts=bar_ts,
            realized_pl=realized_pl,
            epoch=epoch,
            at=at,
        )

    def cancel(self, reason: str, at: datetime) -> OrderCanceled:
        if self.status is OrderStatus.NEW:
            raise IllegalTransition(f"cannot cancel order {self.id}: it is not accepted yet")
        self._require(OrderStatus.CANCELED, "cancel")
        return OrderCanceled(**self._ids(), reason=reason, filled_qty=self.filled_qty, at=at)

    def expire(self, reason: str, at: datetime) -> OrderExpired:
        self._require(OrderStatus.EXPIRED, "expire")
        return OrderExpired(**self._ids(), reason=reason, filled_qty=self.filled_qty, at=at)

    def open_session(self, session: date, bar_ts: datetime, at: datetime) -> OrderSessionOpened:
        if not self.status.is_open or self.session is not None:
            raise IllegalTransition(f"order {self.id} cannot open a session now")
        return OrderSessionOpened(**self._ids(), session=session, bar_ts=bar_ts, at=at)

    def trigger_stop(
        self, market_time: datetime, bar_ts: datetime | None, at: datetime
    ) -> OrderStopTriggered:
        if not self.status.is_open or self.stop_triggered or self.stop_price is None:
            raise IllegalTransition(f"order {self.id} has no stop to trigger")
        return OrderStopTriggered(**self._ids(), market_time=market_time, bar_ts=bar_ts, at=at)

    def waits_for(self, bar_end: datetime) -> bool:
        """Whether a queued order still waits for its session: a bar that ends by the
        session's open belongs to an earlier one (a daily bar, stamped 00:00 UTC of its session's
        date, ends after the open of its session, so it counts as that session's)."""
        return self.queued_until is not None and bar_end <= self.queued_until

    def takes_bar(self, ts: datetime) -> bool:
        """Whether a bar starting at `ts` is news to this order: it began once the order's last
        known price was out, and after every bar that already acted on the order."""
        if self.as_of is not None and ts < self.as_of:
            return False
        return self.last_bar_ts is None or ts > self.last_bar_ts

    def _ids(self) -> dict[str, str]:
        return {"order_id": self.id, "account_id": self.account_id, "symbol": self.symbol}

    # -- the fold ------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> Order:
        at = event.at
        version = self.version + 1
        match event:
            case OrderAccepted():
                return self._with(
                    status=OrderStatus.ACCEPTED,
                    reserved_cash=event.reserved_cash,
                    reserved_qty=event.reserved_qty,
                    reserved_short_qty=event.reserved_short_qty,
                    queued_until=event.queued_until,
                    updated_at=at,
                    version=version,
                )
            case OrderRejected(reason=reason):
                return self._with(
                    status=OrderStatus.REJECTED,
                    reject_reason=reason,
                    rejected_at=at,
                    updated_at=at,
                    version=version,
                )
            case OrderFilled():
                notional = self.filled_notional + event.qty * event.price
                return self._with(
                    status=OrderStatus(event.status),
                    filled_qty=event.filled_qty,
                    filled_notional=notional,
                    filled_avg_price=event.filled_avg_price,
                    commission=self.commission + event.commission,
                    filled_at=at,
                    updated_at=at,
                    last_bar_ts=event.bar_ts or self.last_bar_ts,
                    version=version,
                )
            case OrderCanceled(reason=reason):
                return self._with(
                    status=OrderStatus.CANCELED,
                    cancel_reason=reason,
                    canceled_at=at,
                    updated_at=at,
                    version=version,
                )
            case OrderExpired(reason=reason):
                return self._with(
                    status=OrderStatus.EXPIRED,
                    cancel_reason=reason,
                    expired_at=at,
                    updated_at=at,
                    version=version,
                )
            case OrderSessionOpened(session=session):
                return self._with(session=session, last_bar_ts=event.bar_ts, updated_at=at, version=version)
            case OrderStopTriggered():
                last = event.bar_ts or self.last_bar_ts
                return self._with(stop_triggered=True, last_bar_ts=last, updated_at=at, version=version)
        raise TypeError(f"an order cannot apply {type(event).__name__}")

    def _with(self, **changes: object) -> Order:
        return self.model_copy(update=changes)

    @classmethod
    def placed(cls, event: OrderPlaced) -> Order:
        return cls(
            id=event.order_id,
            client_order_id=event.client_order_id,
            account_id=event.account_id,
            symbol=event.symbol,
            side=event.side,
            type=event.type,
            time_in_force=event.time_in_force,
            qty=event.qty,
            notional=event.notional,
            limit_price=event.limit_price,
            stop_price=event.stop_price,
            oco_group=event.oco_group,
            # orders placed before quantity steps existed were fractional to 9 places
            qty_step=event.qty_step or FRACTIONAL_QTY_STEP,
            status=OrderStatus.NEW,
            created_at=event.at,
            updated_at=event.at,
            submitted_at=event.at,
            as_of=event.as_of,
            fingerprint=event.fingerprint,
            version=1,
        )

    @classmethod
    def from_events(cls, events: list[OrderEvent]) -> Order:
        return replay(events, OrderPlaced, cls.placed, "an order")
