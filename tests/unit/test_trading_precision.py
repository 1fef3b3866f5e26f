"""Numbers a trader can read: money on the currency's minor unit, quantities on the asset's
step, bar prices without float noise, plain notation in JSON, and events stored before these
rules replaying to the state they were decided with."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.trading_factories import ACCOUNT, T0, D, created, market_order_placed
from trading_system.kernel.errors import ValidationFailed
from trading_system.kernel.messages import Event
from trading_system.trading.accounts import Account
from trading_system.trading.broker import Quote
from trading_system.trading.events import AccountEvent, FillSettled, FundsReserved, OrderPlaced
from trading_system.trading.execution import execute, fill_record
from trading_system.trading.ledger import Change
from trading_system.trading.orders import Order, OrderRequest
from trading_system.trading.paper_broker import PaperBroker
from trading_system.trading.precision import (
    decimal_from_float,
    money,
    qty_step,
    quantity,
)
from trading_system.trading.views import account_view, position_views

PRICE = D("187.13")
QUOTE_END = datetime(2024, 1, 6, tzinfo=UTC)  # a Friday's daily bar ends on Saturday at 00:00 UTC
QUOTE = Quote(
    symbol="AAPL",
    price=PRICE,
    volume=D(1_000_000),
    market_time=QUOTE_END,
    bar_ts=QUOTE_END - timedelta(days=1),
)
EXPONENT = re.compile(r'"-?\d+(\.\d+)?E[+-]?\d+"')  # no JSON figure may read like "1E-8" or "0E-11"


def placed(
    side: str, *, qty: str | None = None, notional: str | None = None, step: str | None = None
) -> OrderPlaced:
    return market_order_placed(
        side, qty, f"ord-{side}", notional=notional, time_in_force="day", as_of=QUOTE_END, qty_step=step
    )


def trade(change: Change, event: OrderPlaced) -> Order:
    """Place, accept and fill at once at the last price, as place_order does."""
    order = change.on_order(event)
    change.on_order(order.accept(T0))
    change.on_account(
        FundsReserved(
            account_id=ACCOUNT, order_id=order.id, symbol="AAPL", side=event.side, cash=D(0), qty=D(0), at=T0
        )
    )
    execute(
        change,
        order.id,
        PaperBroker(change.account.settings).on_submit(change.orders[order.id], QUOTE),
        T0,
        None,
    )
    return change.orders[order.id]


def dumped(value: Any) -> str:
    return json.dumps(value if isinstance(value, (dict, list)) else value.model_dump(mode="json"))


# -- the rules -----------------------------------------------------------------------------------


def test_money_is_rounded_half_up_to_the_minor_unit_of_its_currency() -> None:
    assert money(D("39865.60000003324")) == D("39865.60")
    assert str(money(D("0E-11"))) == "0.00"
    assert str(money(D("-0.001"))) == "0.00"  # no "-0.00"
    assert (money(D("0.005")), money(D("-0.005")), money(D("0.015"))) == (D("0.01"), D("-0.01"), D("0.02"))
    assert str(money(D("1234.5"), "JPY")) == "1235"  # no minor unit
    assert str(money(D("1.2345"), "KWD")) == "1.235"  # three places
    assert str(money(D("1.234"), "XYZ")) == "1.23"  # a currency the table does not know: two


def test_quantities_are_whole_steps_of_the_asset() -> None:
    assert qty_step("us_equity") == D("0.000000001")  # fractional shares, as Alpaca trades them
    assert qty_step("crypto") == D("0.00000001")
    assert qty_step("us_equity", D(1)) == D(1)  # a listing that trades whole shares only
    assert str(quantity(D("5.3438785871"), D("0.00000001"))) == "5.34387858"  # down: never more
    assert str(quantity(D("5.99"), D(1))) == "5"
    assert str(quantity(D("0E-9"))) == "0"
    request = OrderRequest(symbol="BTCUSD", side="buy", qty=D("0.123456789"))  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed) as refused:
        request.check(qty_step("crypto"))
    assert refused.value.problems[0].field == "qty"
    assert "quantity step 0.00000001" in refused.value.problems[0].reason
    OrderRequest(symbol="BTCUSD", side="buy", qty=D("0.12345678")).check(qty_step("crypto"))  # type: ignore[arg-type]


def test_bar_prices_become_decimals_without_float_noise() -> None:
    assert decimal_from_float(187.13) == D("187.13")
    assert decimal_from_float(0.1 + 0.2) == D("0.3")
    assert decimal_from_float(1.08345) == D("1.08345")
    assert format(decimal_from_float(1e-8), "f") == "0.00000001"
    assert str(decimal_from_float(12345.0)) == "12345"


# -- a notional order through the domain -------------------------------------------------------------


def test_a_notional_buy_leaves_every_figure_readable() -> None:
    """$1,000 of AAPL at 187.13 is 5.343878587 shares; they cost 999.99999998531, which is
    1000.00 in cash. Sold at the same price, the P&L is 0.00, not 0E-11."""
    change = Change.of(Account.created(created("100000")), {})
    bought = trade(change, placed("buy", notional="1000"))
    assert bought.filled_qty == D("5.343878587")
    account = change.account
    assert (str(account.cash), str(account.positions["AAPL"].cost_basis)) == ("99000.00", "1000.00")

    sold = trade(change, placed("sell", qty="5.343878587"))
    assert sold.status == "filled"
    account = change.account
    assert (str(account.cash), str(account.realized_pl), account.positions) == ("100000.00", "0.00", {})
    filled = [e for e in change.order_events[sold.id] if e.event_type() == "OrderFilled"]
    assert dumped(filled[0]).count('"realized_pl": "0.00"') == 1
    for shown in (account_view(account, {}), *change.account_events, *change.published, *change.fills):
        assert not EXPONENT.search(dumped(shown)), dumped(shown)


def test_the_same_figure_reads_the_same_in_the_account_the_position_and_the_fill() -> None:
    """Three buys at prices that do not share a cent, then a partial sale: the realized P&L
    is booked once, in cents, and every view shows that figure."""
    change = Change.of(Account.created(created("100000")), {})
    for i, price in enumerate(("100.01", "100.02", "100.04")):
        quote = Quote(symbol="AAPL", price=D(price), volume=D(1_000_000), market_time=QUOTE_END)
        order = change.on_order(placed("buy", qty="1").model_copy(update={"order_id": f"b{i}"}))
        change.on_order(order.accept(T0))
        execute(
            change,
            order.id,
            PaperBroker(change.account.settings).on_submit(change.orders[order.id], quote),
            T0,
            None,
        )
    sale = change.on_order(placed("sell", qty="2"))
    change.on_order(sale.accept(T0))
    high = Quote(symbol="AAPL", price=D("164.7183"), volume=D(1_000_000), market_time=QUOTE_END)
    execute(
        change,
        sale.id,
        PaperBroker(change.account.settings).on_submit(change.orders[sale.id], high),
        T0,
        None,
    )

    account = change.account
    (position,) = position_views(account, {"AAPL": high})
    fill = change.fills[-1]
    # (164.7183 - 100.02333...) x 2 = 129.3899333...: booked as 129.39, and read as such everywhere
    assert fill["realized_pl"] == "129.39"
    assert str(account_view(account, {"AAPL": high}).realized_pl) == "129.39"
    assert str(position.realized_pl) == "129.39"
    assert fill_record(change.order_events[sale.id][-1], 0, T0)["realized_pl"] == "129.39"  # type: ignore[arg-type]
    assert str(position.cost_basis) == "100.02"  # 300.07 paid, 200.05 of it sold
    assert str(position.avg_entry_price) == "100.02"


# -- P&L day of a fill at the last price ---------------------------------------------------------------


def test_a_fill_at_the_last_daily_close_is_dated_by_that_bar_not_the_saturday_after() -> None:
    """A Friday's daily bar ends Saturday 00:00 UTC; a market order placed on the weekend fills
    at its close, and that fill belongs to Friday's session."""
    change = Change.of(Account.created(created("100000")), {})
    trade(change, placed("buy", qty="10"))
    (fill,) = change.fills
    assert fill["market_time"] == "2024-01-05T00:00:00+00:00"  # the Friday bar's start
    legacy = Quote(symbol="AAPL", price=PRICE, volume=D(1), market_time=QUOTE_END)  # kept without bar_ts
    assert legacy.bar_start.date().isoformat() == "2024-01-05"


# -- events stored before these rules --------------------------------------------------------------


def test_fills_stored_before_money_was_rounded_replay_to_the_same_state() -> None:
    """FillSettled events as they were stored (no `amount`): the fold gives the exact figures it
    gave then, so a view stored at that version and a replay agree."""
    stored: list[dict[str, Any]] = [
        {"type": "AccountCreated", "data": created("100000").model_dump(mode="json")},
        {
            "type": "FillSettled",
            "data": {
                "account_id": ACCOUNT,
                "order_id": "o1",
                "fill_id": "f1",
                "symbol": "AAPL",
                "side": "buy",
                "qty": "5.343862555",
                "price": "187.13",
                "commission": "0",
                "market_time": "2024-01-06T00:00:00+00:00",
                "held_cash_used": "0",
                "held_qty_used": "0",
                "equity": None,
                "at": "2024-01-06T00:00:00+00:00",
            },
        },
        {
            "type": "FillSettled",
            "data": {
                "account_id": ACCOUNT,
                "order_id": "o2",
                "fill_id": "f2",
                "symbol": "AAPL",
                "side": "sell",
                "qty": "2",
                "price": "200",
                "commission": "0",
                "market_time": "2024-01-07T00:00:00+00:00",
                "at": "2024-01-07T00:00:00+00:00",
            },
        },
    ]
    events = [Event.registry[e["type"]].model_validate(e["data"]) for e in stored]
    assert all(isinstance(e, AccountEvent) for e in events)
    account = Account.from_events(events)  # type: ignore[arg-type]
    cost = D("5.343862555") * PRICE
    removed = (cost * 2 / D("5.343862555")).quantize(D("1e-15"))
    assert account.cash == D(100000) - cost + 400
    assert account.positions["AAPL"].cost_basis == cost - removed
    assert account.realized_pl == 400 - removed
    # the stored view (the state as JSON) reads back as the same state
    assert Account.model_validate(json.loads(account.model_dump_json())) == account
    # and what the account shows is money
    view = account_view(account, {})
    assert (str(view.cash), str(view.realized_pl)) == ("99400.00", "25.74")


def test_an_order_placed_before_quantity_steps_existed_stays_fractional() -> None:
    order = Order.placed(placed("buy", notional="1000"))
    assert order.qty_step == D("0.000000001")
    assert order.remaining_qty(PRICE) == D("5.343878587")
    whole = Order.placed(placed("buy", notional="1000", step="1"))
    assert whole.remaining_qty(PRICE) == D(5)


def test_json_never_carries_an_exponent() -> None:
    settled = FillSettled(
        account_id=ACCOUNT,
        order_id="o1",
        fill_id="f1",
        symbol="BTCUSD",
        side="buy",
        qty=D("1E-8"),
        price=D("1E+5"),
        commission=D("0E-2"),
        market_time=T0,
        amount=D("0.00"),
        at=T0,
    )
    text = settled.model_dump_json()
    assert not EXPONENT.search(text), text
    assert '"qty":"0.00000001"' in text and '"price":"100000"' in text
    assert Decimal(json.loads(text)["qty"]) == D("1E-8")  # lossless
