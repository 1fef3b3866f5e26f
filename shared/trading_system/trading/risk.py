"""Pre-trade risk checks: an order either passes and holds back what it may cost, or is
rejected with the first reason that applies.

In this order: the platform's kill switch; a market order while its symbol's market is closed,
on an account that refuses those (settings.outside_hours; on one that queues them it passes
and waits for the open, see trading/sessions.py); the account's loss-limit halt (only orders
that reduce a position pass it); restricted symbols; a price to check the order at; sells beyond the
shares held (short selling off); max_order_notional; then, for a sell that sells short, a price,
max_position_notional on the short and the short's margin against buying power, for a buy
that opens or adds to a long, max_position_notional and its cost against buying power.

A sell first sells the long shares no other open sell holds back; the rest sells short. A buy
first covers the short shares no other open buy covers; the rest buys long. Reducing a position
(closing a long, covering a short) needs no buying power: it is always allowed, halted or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from trading_system.trading.accounts import HUNDRED, Account
from trading_system.trading.orders import Order, OrderSide, OrderType
from trading_system.trading.precision import money
from trading_system.trading.quotes import Quote

if TYPE_CHECKING:
    from trading_system.trading.sessions import MarketClosed

ZERO = Decimal(0)
# Alpaca values an opening short sale at the higher of its limit price and 3% above the market
# (the last price here), so a market that moves against it before the fill is covered.
SHORT_PRICE_BUFFER = Decimal("1.03")


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: the order may go
    code: str | None = None  # the reason's kind, a short stable word (a metric's label)
    cash: Decimal = ZERO  # held back from buying power (a buy's cost, a short sale's margin)
    qty: Decimal = ZERO  # held back from the sellable position (sells) or the position limit (buys)
    short_qty: Decimal = ZERO  # of a sell's qty, the part that sells short


def price_estimate(order: Order, quote: Quote | None) -> Decimal | None:
    """The price an order is checked at: its limit, else its stop, else the last price."""
    last = quote.price if quote else None
    if order.limit_price is not None:
        return order.limit_price
    if order.type is OrderType.STOP:
        assert order.stop_price is not None
        buy = order.side is OrderSide.BUY
        return max(order.stop_price, last) if buy and last else order.stop_price
    return last


def short_price(order: Order, quote: Quote | None) -> Decimal | None:
    """The price a short sale's margin is held at: the higher of its limit (or stop) price and
    the last price plus 3%."""
    candidates = [p for p in (order.limit_price, order.stop_price) if p is not None]
    if quote is not None:
        candidates.append(quote.price * SHORT_PRICE_BUFFER)
    return max(candidates) if candidates else None


def shared_qty(order: Order, group: Sequence[Order]) -> Decimal:
    """What the order's one-cancels-other group already holds on its side: shares it may use
    too, since only one order of the group will fill (the others are then canceled)."""
    return sum((o.held_qty for o in group if o.side is order.side), ZERO)


def split(order: Order, account: Account, qty: Decimal, shared: Decimal = ZERO) -> tuple[Decimal, Decimal]:
    """(the part that reduces a position, the part that opens or adds to one) of `qty`, after
    what the account's other open orders on the same side will do to the position (those of
    its one-cancels-other group excepted: `shared`)."""
    held = account.held(order.symbol)
    if order.side is OrderSide.BUY:
        room = max(-held, ZERO) - account.reserved_qty(order.symbol, "buy") + shared
    else:
        room = max(held, ZERO) - account.reserved_qty(order.symbol, "sell") + shared
    reducing = min(qty, max(room, ZERO))
    return reducing, qty - reducing


def check(
    order: Order,
    account: Account,
    quote: Quote | None,
    halted: str | None,
    marks: Mapping[str, Decimal] | None = None,
    shared: Decimal = ZERO,
    closed: MarketClosed | None = None,
) -> Verdict:
    """`halted`: the kill switch's reason, if on; `marks`: the latest prices of the account's
    positions, which value its shorts' margin (a short without one is valued at cost);
    `shared`: what the order's one-cancels-other group already holds (see shared_qty);
    `closed`: the order's market is closed now (sessions.market_closed), if it is."""
    settings = account.settings
    if halted is not None:
        return Verdict(f"trading is halted: {halted}", "trading_halted")
    if closed is not None and order.type is OrderType.MARKET and settings.outside_hours == "refuse":
        return Verdict(
            f"{closed.reason}; account {account.account_id} refuses market orders outside hours "
            "(outside_hours=refuse): place it when the market is open, or use a limit order",
            "market_closed",
        )
    price = price_estimate(order, quote)
    buy = order.side is OrderSide.BUY
    if price is not None:
        price = settings.slipped(price, buy) if order.limit_price is None else price
    if order.qty is not None:
        qty = order.qty
    elif price is not None:
        qty = order.remaining_qty(price)
    else:
        qty = None
    reducing, opening = split(order, account, qty, shared) if qty is not None else (ZERO, ZERO)
    if account.halt is not None and (qty is None or opening > 0):
        return Verdict(
            f"account {account.account_id} is halted: {account.halt.reason}; only orders that reduce "
            f"a position are accepted until an admin resumes it "
            f"(POST /v1/accounts/{account.account_id}/resume)",
            "account_halted",
        )
    if order.symbol in settings.restricted_symbols:
        return Verdict(f"{order.symbol} is restricted on account {account.account_id}", "symbol_restricted")
    notional = order.notional if order.notional is not None else (qty * price if qty and price else None)
    needs_price = settings.max_order_notional is not None or (
        buy and settings.max_position_notional is not None
    )
    if qty is None or (notional is None and needs_price):
        return Verdict(
            f"no price is known for {order.symbol} yet to check this order; use a limit order", "no_price"
        )

    if not buy and opening > 0 and not settings.shorting:
        held = account.held(order.symbol)
        return Verdict(
            f"insufficient position: {order.symbol} holds {held}, of which {reducing} is not held "
            f"by open sell orders; this order sells {qty} (short selling is off on account "
            f"{account.account_id})",
            "insufficient_position",
        )
    if (
        notional is not None
        and settings.max_order_notional is not None
        and notional > settings.max_order_notional
    ):
        return Verdict(
            f"order notional {notional:.2f} exceeds max_order_notional {settings.max_order_notional}",
            "max_order_notional",
        )
    if not buy:
        if opening > 0:
            return _short_sale(order, account, quote, price, qty, opening, marks or {})
        if price is not None:
            shortfall = settings.commission(qty, price) - qty * price
            buying_power = account.buying_power(marks or {})
            if shortfall > buying_power:
                return Verdict(
                    f"the commission on this sale exceeds its proceeds by {shortfall:.2f}, "
                    f"more than the buying power {buying_power:.2f}",
                    "commission_exceeds_proceeds",
                )
        return Verdict(None, qty=qty)

    if notional is None:
        return Verdict(None)  # an unpriced market buy: its fill is checked against cash instead
    assert price is not None
    if settings.max_position_notional is not None:
        after = (account.held(order.symbol) + account.reserved_qty(order.symbol, "buy")) * price + notional
        if after > settings.max_position_notional:
            return Verdict(
                f"position in {order.symbol} would reach {after:.2f}, above max_position_notional "
                f"{settings.max_position_notional}",
                "max_position_notional",
            )
    commission = settings.commission(qty or order.remaining_qty(price), price)
    if opening == 0:
        return Verdict(None, cash=commission, qty=qty)  # it only covers a short: always allowed
    cost = money(notional - reducing * price + commission)
    buying_power = account.buying_power(marks or {})
    if cost > buying_power:
        return Verdict(
            f"insufficient buying power: the order needs {cost:.2f}, buying power is {buying_power:.2f}",
            "insufficient_buying_power",
        )
    return Verdict(None, cash=cost, qty=qty or ZERO)


def _short_sale(
    order: Order,
    account: Account,
    quote: Quote | None,
    price: Decimal | None,
    qty: Decimal,
    short_qty: Decimal,
    marks: Mapping[str, Decimal],
) -> Verdict:
    """A sell that sells `short_qty` of its `qty` short, on an account that allows it."""
    settings = account.settings
    if order.notional is not None:
        return Verdict(
            f"a notional order cannot sell short ({order.symbol} holds {account.held(order.symbol)}); "
            "give a qty",
            "notional_short",
        )
    valued_at = short_price(order, quote)
    if price is None or valued_at is None:
        return Verdict(
            f"no price is known for {order.symbol} yet to check this order; use a limit order", "no_price"
        )
    limit = settings.max_position_notional
    if limit is not None:
        # the short it could come to: what is held, less every open sell and this one
        held = account.held(order.symbol)
        short = -(held - account.reserved_qty(order.symbol, "sell") - qty) * price
        if short > limit:
            return Verdict(
                f"short position in {order.symbol} would reach {short:.2f}, above "
                f"max_position_notional {limit}",
                "max_position_notional",
            )
    pct = settings.short_margin_pct
    value = short_qty * valued_at
    needed = money(value * (pct - HUNDRED) / HUNDRED + settings.commission(short_qty, valued_at))
    buying_power = account.buying_power(marks)
    if needed > buying_power:
        return Verdict(
            f"insufficient buying power for a short sale: selling {short_qty} {order.symbol} short, "
            f"valued at {valued_at:.2f} a share, holds short_margin_pct {pct}% of {value:.2f} "
            f"(its proceeds and {needed:.2f} more, commission included); buying power is "
            f"{buying_power:.2f}",
            "insufficient_buying_power",
        )
    return Verdict(None, cash=needed, qty=qty, short_qty=short_qty)
