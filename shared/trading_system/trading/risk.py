"""Pre-trade risk checks: an order either passes and holds back what it may cost, or is
rejected with the first reason that applies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_system.trading.accounts import Account
from trading_system.trading.broker import Quote
from trading_system.trading.orders import Order, OrderSide, OrderType

ZERO = Decimal(0)


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: the order may go
    cash: Decimal = ZERO  # held back from buying power (buys)
    qty: Decimal = ZERO  # held back from the sellable position (sells)


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


def check(order: Order, account: Account, quote: Quote | None, halted: str | None) -> Verdict:
    settings = account.settings
    if halted is not None:
        return Verdict(f"trading is halted: {halted}")
    if order.symbol in settings.restricted_symbols:
        return Verdict(f"{order.symbol} is restricted on account {account.account_id}")
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
    notional = order.notional if order.notional is not None else (qty * price if qty and price else None)
    needs_price = settings.max_order_notional is not None or (
        buy and settings.max_position_notional is not None
    )
    if qty is None or (notional is None and needs_price):
        return Verdict(f"no price is known for {order.symbol} yet to check this order; use a limit order")

    if not buy:
        assert qty is not None
        held = account.held(order.symbol)
        sellable = held - account.reserved_qty(order.symbol, "sell")
        if qty > sellable:
            return Verdict(
                f"insufficient position: {order.symbol} holds {held}, of which {sellable} is not held "
                f"by open sell orders; this order sells {qty} (short selling is not supported)"
            )
    if (
        notional is not None
        and settings.max_order_notional is not None
        and notional > settings.max_order_notional
    ):
        return Verdict(
            f"order notional {notional:.2f} exceeds max_order_notional {settings.max_order_notional}"
        )
    if not buy:
        if price is not None:
            shortfall = settings.commission(qty, price) - qty * price
            if shortfall > account.buying_power:
                return Verdict(
                    f"the commission on this sale exceeds its proceeds by {shortfall:.2f}, "
                    f"more than the buying power {account.buying_power:.2f}"
                )
        return Verdict(None, qty=qty or ZERO)

    if notional is None:
        return Verdict(None)  # an unpriced market buy: its fill is checked against cash instead
    assert price is not None
    if settings.max_position_notional is not None:
        after = (account.held(order.symbol) + account.reserved_qty(order.symbol, "buy")) * price + notional
        if after > settings.max_position_notional:
            return Verdict(
                f"position in {order.symbol} would reach {after:.2f}, above max_position_notional "
                f"{settings.max_position_notional}"
            )
    cost = notional + settings.commission(qty or order.remaining_qty(price), price)
    if cost > account.buying_power:
        return Verdict(
            f"insufficient buying power: the order needs {cost:.2f}, "
            f"buying power is {account.buying_power:.2f}"
        )
    return Verdict(None, cash=cost, qty=qty or ZERO)
