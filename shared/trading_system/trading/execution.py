"""Executions: what a broker reports about an order (a session opened, a stop triggered, a fill,
a cancel, an expiry), turned into the order's and the account's events on a Change. The cash,
margin and position rules a fill must pass at the moment it settles live here, not in the
handlers, and so does the loss-limit check each fill's equity mark makes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading_system.kernel.clock import sortable_id
from trading_system.market_data.calendars import ExchangeCalendar
from trading_system.trading.accounts import Account, Position, position_event
from trading_system.trading.broker import (
    Cancel,
    Execution,
    Expire,
    Fill,
    MarketBar,
    SessionOpened,
    StopTriggered,
)
from trading_system.trading.events import FillSettled, FundsReleased, OrderFilled
from trading_system.trading.ledger import Change
from trading_system.trading.orders import Order, OrderSide
from trading_system.trading.precision import decimal_from_float, money, shown_fill


def execute(
    change: Change, order_id: str, executions: list[Execution], now: datetime, bar_ts: datetime | None
) -> None:
    was_open = change.orders[order_id].status.is_open
    for execution in executions:
        order = change.orders[order_id]
        if not order.status.is_open:
            break
        match execution:
            case SessionOpened(session=session):
                assert bar_ts is not None
                change.on_order(order.open_session(session, bar_ts, now))
            case StopTriggered(market_time=market_time):
                change.on_order(order.trigger_stop(market_time, bar_ts, now))
            case Fill():
                settle_fill(change, order, execution, now, bar_ts)
            case Cancel(reason=reason):
                change.on_order(order.cancel(reason, now))
            case Expire(reason=reason):
                change.on_order(order.expire(reason, now))
    order = change.orders[order_id]
    if was_open and not order.status.is_open:
        change.on_account(
            FundsReleased(
                account_id=order.account_id,
                order_id=order_id,
                symbol=order.symbol,
                side=order.side.value,
                cash=order.held_cash,
                qty=order.held_qty,
                at=now,
            )
        )


def settle_fill(change: Change, order: Order, fill: Fill, now: datetime, bar_ts: datetime | None) -> None:
    account = change.account
    marks = {**change.marks, order.symbol: fill.price}  # the fill is the latest price of its symbol
    before = account.positions.get(order.symbol) or Position(symbol=order.symbol)
    settled = FillSettled(
        account_id=account.account_id,
        order_id=order.id,
        fill_id=f"fil_{sortable_id()}",
        symbol=order.symbol,
        side=order.side.value,
        qty=fill.qty,
        price=fill.price,
        commission=fill.commission,
        market_time=fill.market_time,
        amount=money(fill.qty * fill.price),  # the cash moves in cents, rounded once here
        at=now,
    )
    refused = refusal(account, order, settled, marks)
    if refused is not None:
        change.on_order(order.cancel(refused, now))
        return
    after = before.after(settled, account.settings.shorting)
    filled = order.fill(
        settled.fill_id,
        fill.qty,
        fill.price,
        fill.commission,
        fill.market_time,
        now,
        bar_ts=bar_ts,
        realized_pl=after.realized_pl - before.realized_pl,
        epoch=account.epoch,
    )
    after_fill = change.on_order(filled)
    used = {
        "held_cash_used": order.held_cash - after_fill.held_cash,
        "held_qty_used": order.held_qty - after_fill.held_qty,
    }
    equity = account.apply(settled).equity(marks)
    change.on_account(settled.model_copy(update={**used, "equity": equity}))
    change.marks[order.symbol] = fill.price
    change.publish(position_event(before, after, account.account_id, now))
    change.fills.append(fill_record(filled, account.epoch, now))
    halted = change.account.limit_crossed(equity, now)
    if halted is not None:
        change.on_account(halted)


def refusal(account: Account, order: Order, fill: FillSettled, marks: Mapping[str, Decimal]) -> str | None:
    """Why a fill cannot settle now (its order is then canceled with the reason), or None.

    A fill that only reduces a position (closes a long, covers a short) always settles, unless
    a sale's commission exceeds its proceeds and there is no buying power for the difference.
    A fill that opens or adds to a position must leave the buying power not held back by other
    orders (the order's own holding counts as available) at zero or more: cash after the fill,
    less what other open orders hold back, less the margin of the shorts marked at `marks`."""
    buy = order.side is OrderSide.BUY
    held = account.held(order.symbol)
    reducing = min(fill.qty, max(-held if buy else held, Decimal(0)))
    opening = fill.qty - reducing
    if not buy and opening and not account.settings.shorting:
        return f"insufficient position at fill: {held} {order.symbol} held"
    if buy and not opening:
        return None  # covering a short is always allowed
    after = account.apply(fill)
    available = after.cash - (account.reserved_cash - order.held_cash) - after.short_margin(marks)
    if available >= 0:
        return None
    if buy:
        cost = fill.value + fill.commission
        return f"insufficient cash at fill: {cost:.2f} needed, {cost + available:.2f} available"
    if opening:
        pct = account.settings.short_margin_pct
        return (
            f"insufficient buying power at fill for a short sale: selling {opening} {order.symbol} short "
            f"at {fill.price} holds short_margin_pct {pct}% of its value, {-available:.2f} more than "
            "is available"
        )
    if fill.commission > fill.value:
        return f"commission {fill.commission} exceeds the sale's proceeds and the cash available"
    return None


def fill_record(event: OrderFilled, epoch: int, recorded_at: datetime) -> dict[str, Any]:
    """One fill as the fills view and the lake keep it (decimals as text)."""
    return shown_fill(
        {
            "fill_id": event.fill_id,
            "order_id": event.order_id,
            "account_id": event.account_id,
            "epoch": epoch,
            "symbol": event.symbol,
            "side": event.side,
            "qty": str(event.qty),
            "price": str(event.price),
            "commission": str(event.commission),
            "realized_pl": str(event.realized_pl),
            "market_time": event.market_time.isoformat(),
            "recorded_at": recorded_at.isoformat(),
        }
    )


def market_bars(
    series: Any, length: timedelta, before: Decimal | None = None, calendar: ExchangeCalendar | None = None
) -> list[MarketBar]:
    """The bars, each knowing the close before it (`before` for the first: the last known price)
    and the symbol's calendar (`calendar`: which session each bar is of)."""
    out = []
    previous = before
    for i in range(len(series.ts_us)):
        ts = datetime.fromtimestamp(int(series.ts_us[i]) / 1_000_000, UTC)
        bar = MarketBar(
            ts=ts,
            end=ts + length,
            open=decimal_from_float(series.open[i]),
            high=decimal_from_float(series.high[i]),
            low=decimal_from_float(series.low[i]),
            close=decimal_from_float(series.close[i]),
            volume=decimal_from_float(series.volume[i]),
            previous_close=previous,
            calendar=calendar,
        )
        out.append(bar)
        previous = bar.close
    return out
