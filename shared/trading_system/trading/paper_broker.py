"""The paper broker: fills orders from market data, the way a simple backtester would.

- Market orders fill at once at the last known price when there is one, otherwise at the next
  bar's open.
- An order placed while its symbol's market was closed (Order.queued_until: a market order on
  an account whose outside_hours queues, every limit and stop order) rests until the session it
  waits for: the last price, an earlier session's, neither fills nor triggers it, nor does a
  bar that ends by that session's open. The session's first bar then acts on it by the rules
  below: a market order fills at its open, a limit order at the open if the open is already
  better (a gap) else at the limit if the bar trades through it, a stop triggers at the open if
  the bar gapped through it.
- A limit order fills when a bar trades through its price: at the open if the open is already
  better, else at the limit. A stop order triggers when a bar reaches its stop and then fills
  like a market order: at the open if the bar gapped through, else at the stop. A stop-limit
  order becomes a limit order once triggered (within a bar the trigger is assumed to come
  first: OHLC cannot say more).
- Slippage moves market and stop fills against the trader; limit fills are never worse than
  the limit. Commission is per share (with a per-fill minimum) plus basis points of notional,
  rounded to the cent.
- With a participation cap, a bar fills at most that share of its volume; the rest waits for
  the next bar (partially_filled). ioc fills what it can at its first chance and cancels the
  rest; fok fills everything at its first chance or nothing.
- A day order lives through the session of the first bar it sees and expires when a bar of a
  later session arrives, or at the scheduled close. A bar's session is its label in the
  symbol's exchange calendar (sessions.bar_session: the exchange's local date, which may differ
  from the bar's UTC date); a 24/7 symbol's, or one's without an exchange, is the UTC date.
- A fill more than the account's `max_price_jump` (10x by default) away from the symbol's
  previous close is refused: the order is canceled with the reason (a bad tick is not a price).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.broker import (
    Cancel,
    Execution,
    Expire,
    Fill,
    MarketBar,
    SessionOpened,
    StopTriggered,
)
from trading_system.trading.orders import Order, OrderSide, OrderType, TimeInForce
from trading_system.trading.precision import quantity
from trading_system.trading.quotes import Quote


@dataclass(frozen=True)
class PaperBroker:
    settings: AccountSettings

    def on_submit(self, order: Order, quote: Quote | None) -> list[Execution]:
        if quote is None or order.queued_until is not None:
            return []  # fills with the first bar that arrives (of its session, when queued)
        # the bar the last price closed: a fill at it is dated by that bar, like a fill on a bar
        at_last = MarketBar(
            ts=quote.bar_start,
            end=quote.market_time,
            open=quote.price,
            high=quote.price,
            low=quote.price,
            close=quote.price,
            volume=quote.volume,
        )
        return self._evaluate(order, at_last, in_session=False)

    def on_bar(self, order: Order, bar: MarketBar) -> list[Execution]:
        if order.waits_for(bar.end):
            return []  # a bar of an earlier session (a late one, or one ingested again)
        return self._evaluate(order, bar, in_session=True)

    def on_cancel(self, order: Order) -> list[Execution]:
        return [Cancel("canceled by request")]

    # -- the simulation ------------------------------------------------------------------

    def _evaluate(self, order: Order, bar: MarketBar, *, in_session: bool) -> list[Execution]:
        out: list[Execution] = []
        if in_session and order.time_in_force is TimeInForce.DAY:
            if order.session is None:
                out.append(SessionOpened(bar.session))
            elif bar.session > order.session:
                return [Expire(f"day order expired at the end of session {order.session}")]
        last_chance = order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)

        start: Decimal | None = None  # where a stop triggered within this bar
        if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not order.stop_triggered:
            start = self._trigger(order, bar)
            if start is None:
                return (
                    [*out, Cancel(f"{order.time_in_force} stop order not triggered")] if last_chance else out
                )
            out.append(StopTriggered(bar.ts))  # a capped or unfilled rest stays triggered

        price = self._fill_price(order, bar, start)
        if price is None:
            return [*out, Cancel(f"{order.time_in_force} order not marketable")] if last_chance else out
        jumped = self._jumped(price, bar)
        if jumped is not None:
            return [*out, Cancel(jumped)]

        wanted = order.remaining_qty(price)
        available = wanted
        if self.settings.participation_cap is not None:
            cap = quantity(bar.volume * self.settings.participation_cap, order.qty_step)
            available = min(wanted, cap)
        if order.time_in_force is TimeInForce.FOK and available < wanted:
            return [*out, Cancel(f"fok: only {available} of {wanted} could be filled")]
        if available > 0:
            out.append(Fill(available, price, self.commission(available, price), bar.ts))
        if order.time_in_force is TimeInForce.IOC and available < wanted:
            out.append(Cancel(f"ioc: {wanted - available} unfilled"))
        return out

    def _jumped(self, price: Decimal, bar: MarketBar) -> str | None:
        """Why a fill at `price` is refused: it is further from the previous close than the
        account's max_price_jump allows (a bad tick, not a market)."""
        limit, previous = self.settings.max_price_jump, bar.previous_close
        if limit is None or previous is None or previous <= 0 or price <= 0:
            return None
        if max(price / previous, previous / price) <= limit:
            return None
        return (
            f"not filled at {price}: more than {limit}x away from the previous close {previous} "
            "(the account's max_price_jump; null allows any price)"
        )

    def _trigger(self, order: Order, bar: MarketBar) -> Decimal | None:
        stop = order.stop_price
        assert stop is not None
        if order.side is OrderSide.BUY:
            return bar.open if bar.open >= stop else stop if bar.high >= stop else None
        return bar.open if bar.open <= stop else stop if bar.low <= stop else None

    def _fill_price(self, order: Order, bar: MarketBar, start: Decimal | None) -> Decimal | None:
        buy = order.side is OrderSide.BUY
        if order.type is OrderType.MARKET:
            return self.settings.slipped(bar.open, buy)
        if order.type is OrderType.STOP:
            return self.settings.slipped(start if start is not None else bar.open, buy)
        limit = order.limit_price
        assert limit is not None
        first = start if start is not None else bar.open
        if buy:
            return first if first <= limit else limit if bar.low <= limit else None
        return first if first >= limit else limit if bar.high >= limit else None

    def commission(self, qty: Decimal, price: Decimal) -> Decimal:
        return self.settings.commission(qty, price)
