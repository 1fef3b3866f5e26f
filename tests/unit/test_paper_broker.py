"""The paper broker's fill simulation, against prices and charges worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.broker import (
    Cancel,
    Execution,
    Expire,
    Fill,
    MarketBar,
    Quote,
    SessionOpened,
    StopTriggered,
)
from trading_system.trading.events import OrderPlaced
from trading_system.trading.orders import Order, OrderStatus
from trading_system.trading.paper_broker import PaperBroker

D = Decimal
PLACED_AT = datetime(2024, 1, 2, 14, 0, tzinfo=UTC)
T1 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # the first bar's start
MINUTE = timedelta(minutes=1)
NEXT_DAY = datetime(2024, 1, 3, 0, 0, tzinfo=UTC)


def order(
    type: str = "market",
    side: str = "buy",
    qty: str | None = "100",
    *,
    tif: str = "gtc",
    limit: str | None = None,
    stop: str | None = None,
    notional: str | None = None,
) -> Order:
    """An accepted order."""
    placed = Order.placed(
        OrderPlaced(
            order_id="ord-1",
            account_id="acct",
            symbol="AAPL",
            client_order_id="c-1",
            side=side,  # type: ignore[arg-type]
            type=type,  # type: ignore[arg-type]
            time_in_force=tif,  # type: ignore[arg-type]
            qty=D(qty) if qty is not None else None,
            notional=D(notional) if notional is not None else None,
            limit_price=D(limit) if limit is not None else None,
            stop_price=D(stop) if stop is not None else None,
            as_of=None,
            fingerprint="fp",
            at=PLACED_AT,
        )
    )
    return placed.apply(placed.accept(PLACED_AT))


def bar(
    o: str,
    h: str | None = None,
    low: str | None = None,
    c: str | None = None,
    v: str = "1000000",
    ts: datetime = T1,
) -> MarketBar:
    op = D(o)
    close = D(c) if c is not None else op
    high = D(h) if h is not None else max(op, close)
    low_ = D(low) if low is not None else min(op, close)
    return MarketBar(ts=ts, end=ts + MINUTE, open=op, high=high, low=low_, close=close, volume=D(v))


def broker(**terms: Any) -> PaperBroker:
    return PaperBroker(AccountSettings(**terms))


PAPER = broker()


def settle(order: Order, executions: list[Execution], bar_ts: datetime | None) -> Order:
    """Apply executions to the order through its methods, as the application does."""
    for n, execution in enumerate(executions):
        if not order.status.is_open:
            break
        match execution:
            case SessionOpened(session=session):
                assert bar_ts is not None
                order = order.apply(order.open_session(session, bar_ts, T1))
            case StopTriggered(market_time=market_time):
                order = order.apply(order.trigger_stop(market_time, bar_ts, T1))
            case Fill(qty=qty, price=price, commission=commission, market_time=market_time):
                event = order.fill(
                    f"f{order.version}-{n}", qty, price, commission, market_time, T1, bar_ts=bar_ts
                )
                order = order.apply(event)
            case Cancel(reason=reason):
                order = order.apply(order.cancel(reason, T1))
            case Expire(reason=reason):
                order = order.apply(order.expire(reason, T1))
    return order


def fills(executions: list[Execution]) -> list[Fill]:
    return [e for e in executions if isinstance(e, Fill)]


def others(executions: list[Execution]) -> list[Execution]:
    """What is not a fill nor the bookkeeping of a triggered stop."""
    return [e for e in executions if not isinstance(e, Fill | StopTriggered)]


def filled_at(price: str, qty: str = "100", commission: str = "0", ts: datetime = T1) -> Fill:
    return Fill(D(qty), D(price), D(commission), ts)


# -- fill prices, bar by bar -------------------------------------------------------------------


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_market_order_fills_at_the_next_bars_open(side: str) -> None:
    executions = PAPER.on_bar(order(side=side), bar("100.25", h="101", low="99", c="100.5"))
    assert executions == [filled_at("100.25")]


@pytest.mark.parametrize(
    ("side", "the_bar", "price"),
    [
        ("buy", bar("99.50", h="100.40", low="99.10"), "99.50"),  # the open is already better
        ("buy", bar("101", h="101.5", low="99.90"), "100"),  # trades through the limit
        ("buy", bar("101", h="101.5", low="100"), "100"),  # touches it
        ("buy", bar("101", h="101.5", low="100.01"), None),  # never gets there
        ("sell", bar("100.50", h="100.90", low="100.10"), "100.50"),
        ("sell", bar("99", h="100.10", low="98.50"), "100"),
        ("sell", bar("99", h="100", low="98.50"), "100"),
        ("sell", bar("99", h="99.99", low="98.50"), None),
    ],
)
def test_a_limit_order_fills_at_the_open_or_the_limit(
    side: str, the_bar: MarketBar, price: str | None
) -> None:
    executions = PAPER.on_bar(order("limit", side, limit="100"), the_bar)
    assert executions == ([filled_at(price)] if price else [])


@pytest.mark.parametrize(
    ("side", "the_bar", "price"),
    [
        ("buy", bar("99", h="100.50", low="98.80"), "100"),  # reaches the stop: fills at the stop
        ("buy", bar("101.20", h="101.90", low="100.70"), "101.20"),  # gapped through: at the open
        ("buy", bar("100", h="100.20", low="99.50"), "100"),  # opens at the stop
        ("buy", bar("99", h="99.99", low="98.50"), None),  # not triggered
        ("sell", bar("101", h="101.20", low="99.50"), "100"),
        ("sell", bar("98.70", h="99.40", low="98.10"), "98.70"),
        ("sell", bar("101", h="101.50", low="100.01"), None),
    ],
)
def test_a_stop_order_triggers_then_fills_like_a_market_order(
    side: str, the_bar: MarketBar, price: str | None
) -> None:
    executions = PAPER.on_bar(order("stop", side, stop="100"), the_bar)
    assert fills(executions) == ([filled_at(price)] if price else [])
    assert others(executions) == []


@pytest.mark.parametrize(
    ("side", "limit", "the_bar", "price"),
    [
        ("buy", "101", bar("99", h="102", low="98"), "100"),  # triggered at the stop, below the limit
        ("buy", "101", bar("100.50", h="102", low="100.20"), "100.50"),  # gapped, open within the limit
        ("buy", "101", bar("102", h="103", low="100.80"), "101"),  # gapped past it; trades back to it
        ("buy", "101", bar("102", h="103", low="101.50"), None),  # triggered, but the limit is not met
        ("sell", "99", bar("101", h="101.50", low="98"), "100"),
        ("sell", "99", bar("99.50", h="99.80", low="98"), "99.50"),
        ("sell", "99", bar("98", h="99.20", low="97.50"), "99"),
        ("sell", "99", bar("98", h="98.50", low="97.50"), None),
    ],
)
def test_a_stop_limit_order_becomes_a_limit_order_once_triggered(
    side: str, limit: str, the_bar: MarketBar, price: str | None
) -> None:
    executions = PAPER.on_bar(order("stop_limit", side, stop="100", limit=limit), the_bar)
    assert executions == [StopTriggered(T1)] + ([filled_at(price)] if price else [])


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_untriggered_stop_limit_order_waits(side: str) -> None:
    the_bar = bar("99", h="99.99", low="98") if side == "buy" else bar("101", h="102", low="100.01")
    assert PAPER.on_bar(order("stop_limit", side, stop="100", limit="100"), the_bar) == []


def test_a_triggered_stop_limit_order_no_longer_needs_the_stop() -> None:
    stop_limit = order("stop_limit", "buy", stop="100", limit="101")
    first = PAPER.on_bar(stop_limit, bar("102", h="103", low="101.50"))
    assert first == [StopTriggered(T1)]
    triggered = settle(stop_limit, first, T1)
    assert triggered.stop_triggered and triggered.status is OrderStatus.ACCEPTED
    # below the stop now, which would not trigger it; as a limit order it fills at the open
    later = T1 + MINUTE
    executions = PAPER.on_bar(triggered, bar("100.70", h="100.90", low="100.50", ts=later))
    assert executions == [filled_at("100.70", ts=later)]


# -- on submit, at the last known price --------------------------------------------------------

QUOTE_TIME = datetime(2024, 1, 2, 14, 29, tzinfo=UTC)  # the end of the bar that closed at it
QUOTE_BAR = QUOTE_TIME - MINUTE  # that bar's start: a fill at the last price is dated by it
QUOTE = Quote(symbol="AAPL", price=D("187.13"), volume=D(5000), market_time=QUOTE_TIME, bar_ts=QUOTE_BAR)


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("tif", ["day", "gtc", "ioc", "fok"])
def test_a_market_order_fills_at_once_at_the_last_price(side: str, tif: str) -> None:
    executions = PAPER.on_submit(order(side=side, tif=tif), QUOTE)
    assert executions == [filled_at("187.13", ts=QUOTE_BAR)]  # no session opened: no bar seen yet


@pytest.mark.parametrize(("side", "limit"), [("buy", "190"), ("buy", "187.13"), ("sell", "180")])
def test_a_marketable_limit_order_fills_at_the_quote(side: str, limit: str) -> None:
    executions = PAPER.on_submit(order("limit", side, limit=limit), QUOTE)
    assert executions == [filled_at("187.13", ts=QUOTE_BAR)]


@pytest.mark.parametrize(("side", "limit"), [("buy", "187.12"), ("sell", "187.14")])
def test_a_limit_order_that_is_not_marketable_rests(side: str, limit: str) -> None:
    assert PAPER.on_submit(order("limit", side, limit=limit, tif="gtc"), QUOTE) == []
    assert PAPER.on_submit(order("limit", side, limit=limit, tif="day"), QUOTE) == []
    for tif in ("ioc", "fok"):
        executions = PAPER.on_submit(order("limit", side, limit=limit, tif=tif), QUOTE)
        assert executions == [Cancel(f"{tif} order not marketable")]


def test_a_stop_through_the_last_price_triggers_at_once() -> None:
    assert fills(PAPER.on_submit(order("stop", "buy", stop="185"), QUOTE)) == [
        filled_at("187.13", ts=QUOTE_BAR)
    ]
    assert PAPER.on_submit(order("stop", "buy", stop="190"), QUOTE) == []
    assert PAPER.on_submit(order("stop", "sell", stop="185"), QUOTE) == []


@pytest.mark.parametrize(
    "submitted",
    [
        order(),
        order(side="sell"),
        order(tif="ioc"),
        order(tif="fok"),
        order("limit", limit="1000"),
        order(qty=None, notional="1000", tif="day"),
    ],
)
def test_without_a_quote_nothing_happens_until_a_bar(submitted: Order) -> None:
    assert PAPER.on_submit(submitted, None) == []


def test_a_notional_order_fills_what_the_amount_buys() -> None:
    executions = PAPER.on_submit(order(qty=None, notional="1000", tif="day"), QUOTE)
    # 1000 / 187.13 = 5.34387858713... shares, rounded down to 9 places
    assert executions == [Fill(D("5.343878587"), D("187.13"), D(0), QUOTE_BAR)]
    assert D("5.343878587") * D("187.13") <= 1000 < D("5.343878588") * D("187.13")
    assert settle(order(qty=None, notional="1000", tif="day"), executions, None).status is OrderStatus.FILLED


# -- time in force -----------------------------------------------------------------------------


def test_a_day_order_opens_its_session_on_the_first_bar_and_expires_on_a_later_date() -> None:
    day = order("limit", "buy", limit="100", tif="day")
    first = PAPER.on_bar(day, bar("101", h="101.5", low="100.5"))
    assert first == [SessionOpened(date(2024, 1, 2))]
    day = settle(day, first, T1)
    assert day.session == date(2024, 1, 2)
    # the same session: no second SessionOpened, and it fills when it can
    late = datetime(2024, 1, 2, 23, 59, tzinfo=UTC)
    assert PAPER.on_bar(day, bar("101", low="100.5", ts=late)) == []
    assert PAPER.on_bar(day, bar("99.5", ts=late)) == [filled_at("99.5", ts=late)]
    # a bar of a later UTC date: expired, not filled, however good its price
    expired = PAPER.on_bar(day, bar("90", ts=NEXT_DAY))
    assert expired == [Expire("day order expired at the end of session 2024-01-02")]
    assert settle(day, expired, NEXT_DAY).status is OrderStatus.EXPIRED


def test_a_day_order_session_is_the_utc_date() -> None:
    """MarketBar.session is documented as the bar's UTC date, whatever zone its ts is in."""
    day = settle(order(tif="day", limit="100", type="limit"), [SessionOpened(date(2024, 1, 2))], T1)
    new_york = timezone(timedelta(hours=-5))
    evening = datetime(2024, 1, 2, 20, 0, tzinfo=new_york)  # 2024-01-03 01:00 UTC
    assert PAPER.on_bar(day, bar("99", ts=evening)) == [
        Expire("day order expired at the end of session 2024-01-02")
    ]


def test_a_day_market_order_opens_its_session_and_fills_on_the_first_bar() -> None:
    assert PAPER.on_bar(order(tif="day"), bar("100")) == [SessionOpened(date(2024, 1, 2)), filled_at("100")]


def test_a_partly_filled_day_order_expires_with_its_session() -> None:
    capped = broker(participation_cap=D("0.1"))
    day = order(tif="day")
    first = capped.on_bar(day, bar("100", v="300"))
    assert first == [SessionOpened(date(2024, 1, 2)), filled_at("100", qty="30")]
    day = settle(day, first, T1)
    assert day.status is OrderStatus.PARTIALLY_FILLED
    assert capped.on_bar(day, bar("100", v="300", ts=NEXT_DAY)) == [
        Expire("day order expired at the end of session 2024-01-02")
    ]


def test_a_gtc_order_does_not_expire() -> None:
    gtc = order("limit", "buy", limit="100")
    assert PAPER.on_bar(gtc, bar("101")) == []
    later = NEXT_DAY + timedelta(days=30)
    assert PAPER.on_bar(gtc, bar("99", ts=later)) == [filled_at("99", ts=later)]


def cancel_reason(execution: Execution) -> str:
    assert isinstance(execution, Cancel), execution
    reason: str = execution.reason
    return reason


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    capped = broker(participation_cap=D("0.1"))
    first, rest = capped.on_bar(order(tif="ioc"), bar("100", v="250"))
    assert first == filled_at("100", qty="25")
    reason = cancel_reason(rest)
    assert reason.startswith("ioc: ") and D(reason.split()[1]) == 75
    assert capped.on_bar(order(tif="ioc"), bar("100", v="1000")) == [filled_at("100")]
    [nothing] = capped.on_bar(order(tif="ioc"), bar("100", v="0"))
    assert D(cancel_reason(nothing).split()[1]) == 100


def test_fok_fills_everything_or_nothing() -> None:
    capped = broker(participation_cap=D("0.1"))
    [canceled] = capped.on_bar(order(tif="fok"), bar("100", v="999"))
    assert cancel_reason(canceled).startswith("fok: only 99.9")
    assert capped.on_bar(order(tif="fok"), bar("100", v="1000")) == [filled_at("100")]


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_that_cannot_fill_now_are_canceled(tif: str) -> None:
    assert PAPER.on_bar(order("limit", limit="100", tif=tif), bar("101", low="100.5")) == [
        Cancel(f"{tif} order not marketable")
    ]
    assert PAPER.on_bar(order("stop", stop="100", tif=tif), bar("99", h="99.5")) == [
        Cancel(f"{tif} stop order not triggered")
    ]
    assert PAPER.on_bar(order("stop_limit", stop="100", limit="101", tif=tif), bar("102", low="101.5")) == [
        StopTriggered(T1),
        Cancel(f"{tif} order not marketable"),
    ]


# -- participation cap -------------------------------------------------------------------------


def test_a_bar_fills_at_most_its_share_of_volume_and_the_rest_waits() -> None:
    capped = broker(participation_cap=D("0.1"))
    gtc = order()
    volumes_and_fills = [("250", "25"), ("400", "40"), ("0", None), ("10000", "35")]
    for n, (volume, expected) in enumerate(volumes_and_fills):
        ts = T1 + n * MINUTE
        executions = capped.on_bar(gtc, bar("100", v=volume, ts=ts))
        assert executions == ([filled_at("100", qty=expected, ts=ts)] if expected else [])
        gtc = settle(gtc, executions, ts)
        if n < len(volumes_and_fills) - 1:
            assert gtc.status is OrderStatus.PARTIALLY_FILLED
    assert (gtc.status, gtc.filled_qty) == (OrderStatus.FILLED, D(100))


@pytest.mark.parametrize(
    ("cap", "volume", "qty"),
    [("0.1", "333", "33.3"), ("0.15", "1", "0.15"), ("0.3", "0.000000005", "0.000000001"), ("1", "7", "7")],
)
def test_the_cap_is_a_share_of_volume_rounded_down_to_a_fractional_share(
    cap: str, volume: str, qty: str
) -> None:
    executions = broker(participation_cap=D(cap)).on_bar(order(), bar("100", v=volume))
    assert executions == [filled_at("100", qty=qty)]


def test_the_cap_applies_to_the_last_price_volume_on_submit() -> None:
    quote = Quote(symbol="AAPL", price=D(50), volume=D(400), market_time=QUOTE_TIME, bar_ts=QUOTE_BAR)
    assert broker(participation_cap=D("0.1")).on_submit(order(), quote) == [
        filled_at("50", qty="40", ts=QUOTE_BAR)
    ]


def test_a_triggered_stop_keeps_filling_after_a_capped_first_fill() -> None:
    """A stop order becomes a market order when it triggers. If the cap leaves part of it for
    the next bar, that part must fill on the next bar even if the price is back on the other
    side of the stop; the trigger is not asked for again."""
    capped = broker(participation_cap=D("0.1"))
    stop = order("stop", "buy", stop="100")
    first = capped.on_bar(stop, bar("99", h="101", low="98.5", v="500"))
    assert fills(first) == [filled_at("100", qty="50")]
    stop = settle(stop, first, T1)
    assert stop.status is OrderStatus.PARTIALLY_FILLED
    later = T1 + MINUTE
    second = capped.on_bar(stop, bar("99.50", h="99.80", low="99.20", v="5000", ts=later))
    assert fills(second) == [filled_at("99.50", qty="50", ts=later)]


# -- slippage ----------------------------------------------------------------------------------

SLIPPY = broker(slippage_bps=D(25))


@pytest.mark.parametrize(
    ("submitted", "the_bar", "price"),
    [
        (order(side="buy"), bar("100"), "100.25"),  # 100 x 1.0025
        (order(side="sell"), bar("100"), "99.75"),  # 100 x 0.9975
        (order("stop", "buy", stop="100"), bar("99", h="100.5"), "100.25"),
        (order("stop", "buy", stop="100"), bar("101.20", h="101.9"), "101.4530"),  # 101.453
        (order("stop", "sell", stop="100"), bar("101", low="99"), "99.75"),
        (order("stop", "sell", stop="100"), bar("98.70", low="98"), "98.4533"),  # 98.45325 half up
    ],
)
def test_slippage_moves_market_and_stop_fills_against_the_trader(
    submitted: Order, the_bar: MarketBar, price: str
) -> None:
    assert fills(SLIPPY.on_bar(submitted, the_bar)) == [filled_at(price)]


def test_slippage_is_rounded_to_four_places_half_up() -> None:
    seven = broker(slippage_bps=D(7))
    # 123.45 x 1.0007 = 123.536415; 123.45 x 0.9993 = 123.363585
    assert seven.on_bar(order(side="buy"), bar("123.45")) == [filled_at("123.5364")]
    assert seven.on_bar(order(side="sell"), bar("123.45")) == [filled_at("123.3636")]


def test_slippage_applies_at_the_last_price_too() -> None:
    # 187.13 x 1.0025 = 187.597825
    assert SLIPPY.on_submit(order(), QUOTE) == [filled_at("187.5978", ts=QUOTE_BAR)]


@pytest.mark.parametrize(
    ("submitted", "the_bar", "price"),
    [
        (order("limit", "buy", limit="100"), bar("99.90"), "99.90"),
        (order("limit", "buy", limit="100"), bar("101", low="99"), "100"),
        (order("limit", "sell", limit="100"), bar("100.10"), "100.10"),
        (order("limit", "sell", limit="100"), bar("99", h="101"), "100"),
        (order("stop_limit", "buy", stop="100", limit="101"), bar("102", low="99"), "101"),
        (order("stop_limit", "sell", stop="100", limit="99"), bar("101", low="98"), "100"),
    ],
)
def test_limit_fills_take_no_slippage(submitted: Order, the_bar: MarketBar, price: str) -> None:
    assert fills(SLIPPY.on_bar(submitted, the_bar)) == [filled_at(price)]


PRICES = st.integers(1, 100_000).map(lambda n: D(n) / 100)  # 0.01 .. 1000.00


@st.composite
def bars(draw: st.DrawFn) -> MarketBar:
    o, c, a, b = (draw(PRICES) for _ in range(4))
    return MarketBar(
        ts=T1, end=T1 + MINUTE, open=o, high=max(o, c, a, b), low=min(o, c, a, b), close=c, volume=D(10**6)
    )


@settings(max_examples=300, deadline=None)
@given(the_bar=bars(), limit=PRICES, buy=st.booleans(), bps=st.integers(0, 500))
def test_a_limit_fill_is_never_worse_than_the_limit(
    the_bar: MarketBar, limit: Decimal, buy: bool, bps: int
) -> None:
    side = "buy" if buy else "sell"
    executions = broker(slippage_bps=D(bps)).on_bar(order("limit", side, limit=str(limit)), the_bar)
    reached = the_bar.low <= limit if buy else the_bar.high >= limit
    assert len(executions) == (1 if reached else 0)
    for fill in fills(executions):
        assert (fill.price <= limit) if buy else (fill.price >= limit)
        assert the_bar.low <= fill.price <= the_bar.high
        better_open = the_bar.open <= limit if buy else the_bar.open >= limit
        assert fill.price == (the_bar.open if better_open else limit)


@settings(max_examples=300, deadline=None)
@given(the_bar=bars(), stop=PRICES, buy=st.booleans(), bps=st.integers(0, 500))
def test_a_stop_fill_slips_against_the_trader(the_bar: MarketBar, stop: Decimal, buy: bool, bps: int) -> None:
    side = "buy" if buy else "sell"
    executions = broker(slippage_bps=D(bps)).on_bar(order("stop", side, stop=str(stop)), the_bar)
    reached = the_bar.high >= stop if buy else the_bar.low <= stop
    assert len(fills(executions)) == (1 if reached else 0)
    for fill in fills(executions):
        gapped = the_bar.open >= stop if buy else the_bar.open <= stop
        start = the_bar.open if gapped else stop
        factor = 1 + D(bps) / 10_000 if buy else 1 - D(bps) / 10_000
        assert abs(fill.price - start * factor) <= D("0.00005")
        assert (fill.price >= start) if buy else (fill.price <= start)


# -- commission --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "qty", "price", "commission"),
    [
        ({}, "100", "50", "0"),
        ({"commission_per_share": "0.005", "commission_min": "1"}, "100", "50", "1.00"),  # 0.50 -> min
        ({"commission_per_share": "0.005", "commission_min": "1"}, "1000", "50", "5.00"),
        (
            {"commission_per_share": "0.005", "commission_min": "1", "commission_bps": "1"},
            "100",
            "50",
            "1.50",
        ),
        # 1.665 per share, + 333 x 12.345 x 0.0001 = 0.4110885 -> 2.0760885
        (
            {"commission_per_share": "0.005", "commission_min": "1", "commission_bps": "1"},
            "333",
            "12.345",
            "2.08",
        ),
        ({"commission_min": "1", "commission_bps": "10"}, "10", "10", "0.10"),  # no per-share charge: no min
        ({"commission_per_share": "0.005"}, "301", "10", "1.51"),  # 1.505, half up
        ({"commission_per_share": "0.005"}, "299", "10", "1.50"),  # 1.495, half up
        ({"commission_bps": "2.5"}, "7", "3.21", "0.01"),  # 0.00561750
        ({"commission_bps": "2.5"}, "1", "3.21", "0.00"),  # 0.00080250
    ],
)
def test_commission_is_per_share_with_a_minimum_plus_bps_in_cents(
    terms: dict[str, str], qty: str, price: str, commission: str
) -> None:
    paper = broker(**{k: D(v) for k, v in terms.items()})
    assert paper.commission(D(qty), D(price)) == D(commission)
    assert paper.on_bar(order(qty=qty), bar(price)) == [filled_at(price, qty=qty, commission=commission)]


def test_each_partial_fill_pays_its_own_commission() -> None:
    paper = broker(participation_cap=D("0.1"), commission_per_share=D("0.005"), commission_min=D(1))
    executions = paper.on_bar(order(qty="1000"), bar("20", v="3000"))
    assert executions == [filled_at("20", qty="300", commission="1.50")]
    executions = paper.on_bar(order(qty="1000"), bar("20", v="1000"))
    assert executions == [filled_at("20", qty="100", commission="1.00")]  # 0.50, the minimum


def test_commission_is_on_the_slipped_price() -> None:
    paper = broker(slippage_bps=D(100), commission_bps=D(10))
    # 100 -> 101.00; 10 x 101 x 0.001 = 1.01
    assert paper.on_bar(order(qty="10"), bar("100")) == [filled_at("101", qty="10", commission="1.01")]


def test_cancel_on_request() -> None:
    assert PAPER.on_cancel(order()) == [Cancel("canceled by request")]
