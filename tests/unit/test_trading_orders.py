"""Orders: request validation, fingerprints, the Order state machine and its fold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from trading_system.kernel.errors import Conflict, ValidationFailed
from trading_system.trading.events import (
    OrderAccepted,
    OrderEvent,
    OrderFilled,
    OrderPlaced,
)
from trading_system.trading.orders import (
    TRANSITIONS,
    IllegalTransition,
    Order,
    OrderRequest,
    OrderStatus,
)

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
D = Decimal


def request(**body: Any) -> OrderRequest:
    return OrderRequest.model_validate({"symbol": "AAPL", "side": "buy", **body})


def placed(**changes: Any) -> OrderPlaced:
    fields: dict[str, Any] = {
        "order_id": "ord-1",
        "account_id": "acct",
        "symbol": "AAPL",
        "client_order_id": "c-1",
        "side": "buy",
        "type": "market",
        "time_in_force": "gtc",
        "qty": D(100),
        "notional": None,
        "limit_price": None,
        "stop_price": None,
        "as_of": None,
        "fingerprint": "fp",
        "at": T0,
    }
    fields.update(changes)
    return OrderPlaced(**fields)


def new_order(**changes: Any) -> Order:
    return Order.placed(placed(**changes))


def accepted(reserved_cash: str = "0", reserved_qty: str = "0", **changes: Any) -> Order:
    order = new_order(**changes)
    return order.apply(order.accept(T0, D(reserved_cash), D(reserved_qty)))


def fill(order: Order, qty: Decimal | str, price: Decimal | str = "10", commission: str = "0") -> OrderFilled:
    at = T0 + timedelta(minutes=1)
    return order.fill(f"fill-{order.version}", D(qty), D(price), D(commission), at, at)


# -- request validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "limit", "qty": "1"}, "limit_price"),  # limit without limit_price
        ({"type": "stop_limit", "qty": "1", "stop_price": "9"}, "limit_price"),
        ({"qty": "1", "notional": "100"}, "notional"),  # qty and notional together
        ({}, "qty"),  # neither qty nor notional
        ({"type": "limit", "notional": "100", "limit_price": "10"}, "notional"),  # notional, not market
        ({"notional": "100", "time_in_force": "gtc"}, "time_in_force"),  # notional must be day
        ({"type": "stop", "qty": "1"}, "stop_price"),  # stop without stop_price
        ({"type": "stop_limit", "qty": "1", "limit_price": "10"}, "stop_price"),
        ({"qty": "1", "limit_price": "10"}, "limit_price"),  # market with a limit_price
        ({"qty": "1", "stop_price": "10"}, "stop_price"),  # market with a stop_price
        ({"type": "stop", "qty": "1", "stop_price": "10", "limit_price": "11"}, "limit_price"),
        ({"type": "limit", "qty": "1", "limit_price": "10", "stop_price": "9"}, "stop_price"),
    ],
)
def test_each_invalid_combination_is_refused_naming_its_field(body: dict[str, Any], field: str) -> None:
    order_request = request(**body)
    assert [p.field for p in order_request.problems()] == [field]
    with pytest.raises(ValidationFailed) as raised:
        order_request.check()
    assert raised.value.status == 422
    assert [p.field for p in raised.value.problems] == [field]
    assert raised.value.detail == raised.value.problems[0].reason


def test_every_problem_is_reported_not_just_the_first() -> None:
    order_request = request(type="stop_limit", qty="1", notional="5")
    assert [p.field for p in order_request.problems()] == [
        "notional",
        "notional",
        "limit_price",
        "stop_price",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"qty": "1"},
        {"qty": "0.000000001"},
        {"notional": "100.50"},
        {"notional": "100", "side": "sell"},
        {"type": "limit", "qty": "5", "limit_price": "187.13", "time_in_force": "gtc"},
        {"type": "stop", "qty": "5", "stop_price": "180", "time_in_force": "ioc"},
        {"type": "stop_limit", "qty": "5", "stop_price": "180", "limit_price": "179", "time_in_force": "fok"},
        {"qty": "1", "client_order_id": "x" * 48},
    ],
)
def test_valid_requests_have_no_problems(body: dict[str, Any]) -> None:
    order_request = request(**body)
    assert order_request.problems() == []
    order_request.check()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"qty": "-1"}, "qty"),
        ({"qty": "0"}, "qty"),
        ({"qty": "0.0000000001"}, "qty"),  # finer than fractional shares go
        ({"notional": "0"}, "notional"),
        ({"notional": "-5"}, "notional"),
        ({"notional": "1.001"}, "notional"),  # notional is money: cents
        ({"type": "limit", "qty": "1", "limit_price": "0"}, "limit_price"),
        ({"type": "stop", "qty": "1", "stop_price": "-1"}, "stop_price"),
        ({"qty": "1", "client_order_id": "x" * 49}, "client_order_id"),
        ({"qty": "1", "client_order_id": ""}, "client_order_id"),
        ({"qty": "1", "client_order_id": "has space"}, "client_order_id"),
        ({"qty": "1", "type": "trailing_stop"}, "type"),
        ({"qty": "1", "time_in_force": "opg"}, "time_in_force"),
        ({"qty": "1", "side": "short"}, "side"),
        ({"qty": "1", "symbol": "../etc"}, "symbol"),
        ({"qty": "1", "account_id": "a/b"}, "account_id"),
        ({"qty": "1", "extra": "x"}, "extra"),
    ],
)
def test_field_types_are_checked_by_pydantic(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(**body)
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_the_fingerprint_is_the_same_for_the_same_body() -> None:
    one = request(qty="10", type="limit", limit_price="187.13", client_order_id="a", account_id="x")
    # client_order_id and account_id identify the order; they are not part of its body
    two = request(qty="10", type="limit", limit_price="187.13", client_order_id="b", account_id="y")
    assert one.fingerprint() == two.fingerprint()
    # defaults spelled out, and a symbol that normalises to the same one, are the same body
    assert (
        request(qty="1").fingerprint()
        == request(qty="1", symbol=" aapl ", type="market", time_in_force="day").fingerprint()
    )
    assert len(one.fingerprint()) == 64


@pytest.mark.parametrize(
    "other",
    [
        {"qty": "11"},
        {"side": "sell"},
        {"symbol": "MSFT"},
        {"limit_price": "187.14"},
        {"time_in_force": "gtc"},
        {"type": "stop_limit", "stop_price": "190"},
    ],
)
def test_the_fingerprint_differs_for_a_different_body(other: dict[str, Any]) -> None:
    body: dict[str, Any] = {"qty": "10", "type": "limit", "limit_price": "187.13"}
    assert request(**body).fingerprint() != request(**{**body, **other}).fingerprint()


def test_the_fingerprint_does_not_depend_on_how_a_number_is_written() -> None:
    """A retry whose body spells 10 as "10.0" or 187.1 as "187.10" is the same order (JSON does
    not tell these numbers apart), so it must replay, not conflict."""
    assert request(qty="10").fingerprint() == request(qty="10.0").fingerprint()
    as_text = '{"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 5, "limit_price": "187.10"}'
    as_number = '{"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 5, "limit_price": 187.1}'
    one = OrderRequest.model_validate_json(as_text)
    two = OrderRequest.model_validate_json(as_number)
    assert one.limit_price == two.limit_price  # equal as numbers
    assert one.fingerprint() == two.fingerprint()


# -- the state machine -------------------------------------------------------------------------

S = OrderStatus
LEGAL = {
    (S.NEW, S.ACCEPTED),
    (S.NEW, S.REJECTED),
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.CANCELED),
    (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
}


def test_the_transition_table_is_the_documented_one() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL
    assert set(TRANSITIONS) == set(OrderStatus)
    assert all(TRANSITIONS[s] == frozenset() for s in OrderStatus if s.is_terminal)
    assert {s for s in OrderStatus if s.is_open} == {S.ACCEPTED, S.PARTIALLY_FILLED}


def reach(status: OrderStatus) -> Order:
    """An order of 100 in `status`, brought there through the methods."""
    order = new_order()
    if status is S.NEW:
        return order
    if status is S.REJECTED:
        return order.apply(order.reject("no", T0))
    order = order.apply(order.accept(T0))
    if status is S.PARTIALLY_FILLED:
        order = order.apply(fill(order, "40"))
    elif status is S.FILLED:
        order = order.apply(fill(order, "100"))
    elif status is S.CANCELED:
        order = order.apply(order.cancel("by request", T0))
    elif status is S.EXPIRED:
        order = order.apply(order.expire("day over", T0))
    assert order.status is status
    return order


def act(order: Order, target: OrderStatus) -> OrderEvent:
    """Ask `order` to move to `target` through the method that does that."""
    left = order.qty - order.filled_qty if order.qty is not None else D(0)
    if target is S.ACCEPTED:
        return order.accept(T0)
    if target is S.REJECTED:
        return order.reject("no", T0)
    if target is S.PARTIALLY_FILLED:
        return fill(order, "10")
    if target is S.FILLED:
        return fill(order, left if left > 0 else D(1))
    if target is S.CANCELED:
        return order.cancel("by request", T0)
    assert target is S.EXPIRED
    return order.expire("day over", T0)


ACTIONS = [s for s in OrderStatus if s is not S.NEW]  # nothing goes back to new


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_every_legal_transition_is_taken(source: OrderStatus, target: OrderStatus) -> None:
    order = reach(source)
    after = order.apply(act(order, target))
    assert after.status is target
    assert after.version == order.version + 1
    assert order.status is source  # the method did not mutate


@pytest.mark.parametrize(
    ("source", "target"), [(a, b) for a in OrderStatus for b in ACTIONS if (a, b) not in LEGAL]
)
def test_every_illegal_transition_is_refused(source: OrderStatus, target: OrderStatus) -> None:
    order = reach(source)
    with pytest.raises(IllegalTransition) as raised:
        act(order, target)
    assert isinstance(raised.value, Conflict)
    assert raised.value.status == 409
    assert "ord-1" in raised.value.detail


@pytest.mark.parametrize(
    ("source", "attempt", "message"),
    [
        (S.FILLED, lambda o: o.cancel("x", T0), "cannot cancel order ord-1: it is filled"),
        (S.CANCELED, lambda o: fill(o, "1"), "cannot fill order ord-1: it is canceled"),
        (S.ACCEPTED, lambda o: o.accept(T0), "cannot accept order ord-1: it is accepted"),
        (S.PARTIALLY_FILLED, lambda o: fill(o, "61"), "cannot fill 61 of order ord-1: only 60 is left"),
        (S.REJECTED, lambda o: o.expire("x", T0), "cannot expire order ord-1: it is rejected"),
        (S.NEW, lambda o: o.cancel("x", T0), "cannot cancel order ord-1: it is not accepted yet"),
        (S.NEW, lambda o: fill(o, "1"), "cannot fill order ord-1: it is new"),
        (S.ACCEPTED, lambda o: o.reject("x", T0), "cannot reject order ord-1: it is accepted"),
        (S.EXPIRED, lambda o: o.cancel("x", T0), "cannot cancel order ord-1: it is expired"),
    ],
)
def test_illegal_transitions_say_why(source: OrderStatus, attempt: Any, message: str) -> None:
    with pytest.raises(IllegalTransition) as raised:
        attempt(reach(source))
    assert raised.value.detail == message
    assert raised.value.status == 409


def test_a_fill_needs_a_positive_qty() -> None:
    order = reach(S.ACCEPTED)
    for qty in ("0", "-1"):
        with pytest.raises(ValueError, match="positive qty"):
            fill(order, qty)


def test_a_session_opens_once_and_only_on_an_open_order() -> None:
    order = reach(S.ACCEPTED)
    session = T0.date()
    opened = order.apply(order.open_session(session, T0, T0))
    assert (opened.session, opened.last_bar_ts) == (session, T0)
    with pytest.raises(IllegalTransition):
        opened.open_session(session, T0, T0)
    with pytest.raises(IllegalTransition):
        reach(S.NEW).open_session(session, T0, T0)
    with pytest.raises(IllegalTransition):
        reach(S.FILLED).open_session(session, T0, T0)


def test_a_stop_triggers_once_and_only_on_a_stop_order() -> None:
    order = accepted(type="stop_limit", stop_price=D(100), limit_price=D(101))
    triggered = order.apply(order.trigger_stop(T0, T0, T0))
    assert triggered.stop_triggered and triggered.last_bar_ts == T0
    with pytest.raises(IllegalTransition):
        triggered.trigger_stop(T0, T0, T0)
    with pytest.raises(IllegalTransition):
        reach(S.ACCEPTED).trigger_stop(T0, T0, T0)  # a market order has no stop
    canceled = order.apply(order.cancel("x", T0))
    with pytest.raises(IllegalTransition):
        canceled.trigger_stop(T0, T0, T0)


# -- the fold ----------------------------------------------------------------------------------


def test_folding_the_events_reproduces_the_state() -> None:
    order = new_order(qty=D(10))
    events: list[OrderEvent] = [placed(qty=D(10))]
    steps: list[Callable[[Order], OrderEvent]] = [
        lambda o: o.accept(T0, D("104.00"), D(10)),
        lambda o: fill(o, "3", "10.00", "1.00"),
        lambda o: fill(o, "4", "10.01", "1.25"),
        lambda o: fill(o, "3", "10.05", "0.99"),
    ]
    for step in steps:
        event = step(order)
        events.append(event)
        order = order.apply(event)
        if isinstance(event, OrderFilled):
            assert order.status is (S.FILLED if order.filled_qty == 10 else S.PARTIALLY_FILLED)

    folded = Order.from_events(events)
    assert folded == order
    assert folded.status is S.FILLED
    assert folded.filled_qty == D(10)
    assert folded.commission == D("3.24")
    assert folded.filled_notional == D("100.19")  # 30.00 + 40.04 + 30.15
    assert folded.filled_avg_price == D("10.019")
    assert folded.version == 5
    assert folded.filled_at == T0 + timedelta(minutes=1)
    assert (folded.reserved_cash, folded.reserved_qty) == (D("104.00"), D(10))
    assert (folded.held_cash, folded.held_qty) == (D("0.57"), D(0))  # 104 - 100.19 - 3.24


def test_filled_avg_price_is_the_weighted_average_to_six_places() -> None:
    order = accepted(qty=D(3))
    first = fill(order, "1", "10")
    order = order.apply(first)
    assert (order.status, order.filled_avg_price) == (S.PARTIALLY_FILLED, D(10))
    second = fill(order, "2", "10.01")
    order = order.apply(second)
    exact = (Fraction(1) * 10 + Fraction(2) * Fraction("10.01")) / 3  # 10.00666...
    expected = D(exact.numerator) / D(exact.denominator)
    assert order.filled_avg_price == expected.quantize(D("0.000001"), rounding=ROUND_HALF_EVEN)
    assert order.filled_avg_price == D("10.006667")
    assert (order.status, order.filled_qty) == (S.FILLED, D(3))
    assert second.filled_qty == D(3) and second.filled_avg_price == D("10.006667")


def test_a_history_starts_with_order_placed() -> None:
    with pytest.raises(TypeError):
        Order.from_events([OrderAccepted(order_id="ord-1", account_id="acct", symbol="AAPL", at=T0)])


def test_cancel_and_expire_keep_what_was_filled_and_why() -> None:
    order = reach(S.PARTIALLY_FILLED)
    canceled_event = order.cancel("by request", T0)
    assert canceled_event.filled_qty == D(40)
    canceled = order.apply(canceled_event)
    assert (canceled.cancel_reason, canceled.canceled_at, canceled.filled_qty) == ("by request", T0, D(40))
    expired = order.apply(order.expire("day over", T0))
    assert (expired.status, expired.cancel_reason, expired.expired_at) == (S.EXPIRED, "day over", T0)
    rejected = reach(S.REJECTED)
    assert (rejected.reject_reason, rejected.rejected_at) == ("no", T0)


def test_takes_bar_only_bars_after_the_known_price_and_the_last_bar() -> None:
    as_of = T0
    order = accepted(as_of=as_of)
    minute = timedelta(minutes=1)
    assert not order.takes_bar(as_of - minute)  # its close was already the known price
    assert order.takes_bar(as_of)
    opened = order.apply(order.open_session(as_of.date(), as_of + minute, T0))
    assert not opened.takes_bar(as_of + minute)  # that bar already acted on it
    assert opened.takes_bar(as_of + 2 * minute)
    at = T0
    filled = opened.apply(
        opened.fill("f", D(1), D(1), D(0), at, at, bar_ts=as_of + 5 * minute)  # bar_ts moves on
    )
    assert not filled.takes_bar(as_of + 5 * minute)
    assert filled.takes_bar(as_of + 6 * minute)
    assert accepted().takes_bar(datetime(2000, 1, 1, tzinfo=UTC))  # nothing known: every bar


# -- notional orders ---------------------------------------------------------------------------


def test_a_notional_order_has_a_remaining_qty_at_a_price() -> None:
    order = accepted(qty=None, notional=D(1000), time_in_force="day")
    assert order.remaining_qty(D(40)) == D(25)
    assert order.remaining_qty(D(30)) == D("33.333333333")  # rounded down to 9 places
    assert order.remaining_qty(D(3000)) == D("0.333333333")


def test_filling_the_computed_qty_completes_a_notional_order() -> None:
    order = accepted(qty=None, notional=D(1000), time_in_force="day")
    qty = order.remaining_qty(D(30))
    event = fill(order, qty, "30")
    done = order.apply(event)
    assert event.status == "filled" and done.status is S.FILLED
    assert done.filled_qty == D("33.333333333")
    assert done.filled_notional == D("999.99999999")
    assert done.remaining_qty(D(30)) == D(0)
    with pytest.raises(IllegalTransition):
        fill(done, "0.000000001", "30")


def test_a_notional_order_fills_in_parts_at_different_prices() -> None:
    order = accepted(qty=None, notional=D(1000), time_in_force="day")
    order = order.apply(fill(order, "10", "40"))  # 400 spent, 600 left
    assert order.status is S.PARTIALLY_FILLED
    assert order.remaining_qty(D(60)) == D(10)
    with pytest.raises(IllegalTransition, match=r"only 10 is left"):
        fill(order, "10.000000001", "60")
    order = order.apply(fill(order, "5", "60"))
    assert order.status is S.PARTIALLY_FILLED and order.remaining_qty(D(60)) == D(5)
    order = order.apply(fill(order, "5", "60"))
    assert order.status is S.FILLED
    assert (order.filled_qty, order.filled_notional, order.filled_avg_price) == (D(20), D(1000), D(50))


# -- what an order holds back -------------------------------------------------------------------


def test_accepting_records_what_the_order_holds_back() -> None:
    order = new_order(qty=D(10), type="limit", limit_price=D(100))
    event = order.accept(T0, D("1001.10"), D(10))
    assert (event.reserved_cash, event.reserved_qty) == (D("1001.10"), D(10))
    accepted_ = order.apply(event)
    assert (accepted_.reserved_cash, accepted_.reserved_qty) == (D("1001.10"), D(10))
    assert (accepted_.held_cash, accepted_.held_qty) == (D("1001.10"), D(10))
    # before it is accepted, and when accepted holding nothing, it holds nothing
    assert (order.held_cash, order.held_qty) == (D(0), D(0))
    bare = order.apply(order.accept(T0))
    assert (bare.held_cash, bare.held_qty) == (D(0), D(0))
    rejected = order.apply(order.reject("no", T0))
    assert (rejected.held_cash, rejected.held_qty) == (D(0), D(0))


def test_a_buy_uses_up_its_holding_fill_by_fill_to_the_cent() -> None:
    """Buy 30 holding back 30 x 104.30 + 2 = 3131: each fill uses what it spent, commission
    included, and what is left when the order fills is what it gives back."""
    order = accepted("3131", "30", qty=D(30))
    order = order.apply(fill(order, "10", "100", "1.00"))
    assert (order.held_cash, order.held_qty) == (D(3131) - D(1001), D(20))
    assert order.held_cash == D(2130)
    order = order.apply(fill(order, "20", "106", "2.00"))
    assert order.status is S.FILLED
    assert (order.held_cash, order.held_qty) == (D(8), D(0))  # 2130 - 2122
    assert (order.reserved_cash, order.reserved_qty) == (D(3131), D(30))  # the reservation stays


def test_a_fill_dearer_than_the_holding_uses_it_up_without_going_negative() -> None:
    order = accepted("1000", "10", qty=D(10))
    order = order.apply(fill(order, "4", "105", "1"))  # 421 of 1000
    assert (order.held_cash, order.held_qty) == (D(579), D(6))
    order = order.apply(fill(order, "6", "105", "1"))  # 631 more: only 579 was left
    assert (order.held_cash, order.held_qty) == (D(0), D(0))
    assert order.filled_notional + order.commission == D(1052)


def test_a_closed_order_keeps_what_it_held_when_it_closed() -> None:
    order = accepted("2020", "20", qty=D(20))
    order = order.apply(fill(order, "5", "100", "1.25"))  # 501.25 used
    assert (order.held_cash, order.held_qty) == (D("1518.75"), D(15))
    for closed in (order.apply(order.cancel("by request", T0)), order.apply(order.expire("day over", T0))):
        assert not closed.status.is_open
        assert (closed.held_cash, closed.held_qty) == (D("1518.75"), D(15))  # what it gives back


def test_a_sell_holds_shares_and_no_cash() -> None:
    order = accepted("0", "30", side="sell", qty=D(30))
    assert (order.held_cash, order.held_qty) == (D(0), D(30))
    order = order.apply(fill(order, "12", "110", "1.50"))
    assert (order.held_cash, order.held_qty) == (D(0), D(18))  # the proceeds are not held
    order = order.apply(fill(order, "18", "101", "1.25"))
    assert (order.status, order.held_cash, order.held_qty) == (S.FILLED, D(0), D(0))


def test_a_notional_buy_filled_cheaper_than_estimated_holds_no_shares_below_zero() -> None:
    """Held back at 30 a share (33.333333333 shares, 1000.33 with commission) and filled at 25:
    it buys more shares than it held back, so the shares held back run out at zero."""
    order = accepted("1000.33", "33.333333333", qty=None, notional=D(1000), time_in_force="day")
    order = order.apply(fill(order, "20", "25", "0.20"))  # 500.20 used
    assert (order.held_cash, order.held_qty) == (D("500.13"), D("13.333333333"))
    order = order.apply(fill(order, "20", "25", "0.20"))
    assert order.status is S.FILLED and order.filled_qty == D(40)
    assert (order.held_cash, order.held_qty) == (D("0"), D(0))
    assert order.held_cash == max(D("1000.33") - D("1000.40"), D(0))


# -- property: any sequence of steps keeps the invariants ---------------------------------------

QTY = st.integers(1, 10**12).map(lambda n: D(n) / D(10**9))  # 1e-9 .. 1000, 9 places
STEP = st.one_of(
    st.tuples(st.just("fill"), QTY),
    st.tuples(st.just("cancel"), st.just(D(0))),
    st.tuples(st.just("expire"), st.just(D(0))),
    st.tuples(st.just("accept"), st.just(D(0))),
    st.tuples(st.just("reject"), st.just(D(0))),
)


@settings(max_examples=300, deadline=None)
@given(
    qty=QTY,
    accept_first=st.booleans(),
    reserve=st.integers(0, 10**8).map(lambda n: D(n) / 100),
    steps=st.lists(STEP, max_size=25),
)
def test_no_sequence_of_steps_breaks_the_invariants(
    qty: Decimal, accept_first: bool, reserve: Decimal, steps: list[tuple[str, Decimal]]
) -> None:
    order = new_order(qty=qty)
    if accept_first:
        order = order.apply(order.accept(T0, reserve, qty))
    history: list[OrderEvent] = [placed(qty=qty)] + ([order_accepted(reserve, qty)] if accept_first else [])
    for n, (kind, amount) in enumerate(steps):
        before = order
        assert before.qty is not None
        try:
            if kind == "fill":
                event: OrderEvent = order.fill(f"f{n}", amount, D(10), D("0.01"), T0, T0)
            elif kind == "cancel":
                event = order.cancel("x", T0)
            elif kind == "expire":
                event = order.expire("x", T0)
            elif kind == "accept":
                event = order.accept(T0, reserve, qty)
            else:
                event = order.reject("x", T0)
        except IllegalTransition:
            # refused only for a reason: a closed order, or more than is left
            assert (
                not before.status.is_open
                or kind in ("accept", "reject")
                or (kind == "fill" and amount > before.qty - before.filled_qty)
            )
            continue
        order = order.apply(event)
        history.append(event)
        assert not before.status.is_terminal, f"{before.status} was left for {order.status}"
        assert (before.status, order.status) in LEGAL
        assert order.qty is not None
        assert D(0) <= order.filled_qty <= order.qty
        assert (order.status is S.FILLED) == (order.filled_qty == order.qty)
        # what it holds back is its reservation less what its fills used, never below zero
        spent = order.filled_notional + order.commission
        assert order.held_cash == max(order.reserved_cash - spent, D(0)) >= 0
        assert order.held_qty == order.reserved_qty - order.filled_qty >= 0
        if before.status is S.NEW:
            reserved = (reserve, qty) if order.status is S.ACCEPTED else (D(0), D(0))
            assert (order.reserved_cash, order.reserved_qty) == reserved
        else:  # a fill uses up min(what is held, what it spent); nothing else changes the holding
            this_fill = spent - (before.filled_notional + before.commission)
            assert before.held_cash - order.held_cash == min(before.held_cash, this_fill)
            assert before.held_qty - order.held_qty == order.filled_qty - before.filled_qty
            assert (order.reserved_cash, order.reserved_qty) == (before.reserved_cash, before.reserved_qty)
    assert Order.from_events(history) == order


def order_accepted(reserved_cash: Decimal = D(0), reserved_qty: Decimal = D(0)) -> OrderAccepted:
    return OrderAccepted(
        order_id="ord-1",
        account_id="acct",
        symbol="AAPL",
        reserved_cash=reserved_cash,
        reserved_qty=reserved_qty,
        at=T0,
    )
