"""Market orders outside their symbol's trading hours (issue 11, "Trading uses the calendar"): when
the market is closed by the calendar the code uses for US equities (XNYS: weekends, holidays,
early closes, DST), an account refuses such an order, naming the session times, or queues it
for the next session's first bar; 24/7 symbols and symbols without an exchange are never
outside hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.unit.trading_factories import created, market_order_placed
from trading_system.market_data.domain import Listing
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account
from trading_system.trading.broker import Expire, Fill, MarketBar, Quote, SessionOpened
from trading_system.trading.events import OrderAccepted, OrderPlaced
from trading_system.trading.orders import Order
from trading_system.trading.paper_broker import PaperBroker
from trading_system.trading.risk import check
from trading_system.trading.sessions import MarketClosed, day_order_expires_at, market_closed

D = Decimal
NOW = datetime(2024, 1, 1, tzinfo=UTC)
NYSE = Listing(symbol="SPY", exchange="NYSE", registered_at=NOW)
CRYPTO = Listing(symbol="BTCUSD", exchange="CRYPTO", registered_at=NOW)
PLAIN = Listing(symbol="PLAIN", registered_at=NOW)  # no exchange: no known hours


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def closed_at(text: str) -> MarketClosed:
    found = market_closed(NYSE, utc(text))
    assert found is not None, f"XNYS should be closed at {text} UTC"
    return found


# -- when the market is closed ------------------------------------------------------------------


def test_a_weekend_is_closed_until_mondays_open_after_fridays_early_close() -> None:
    # Saturday after Thanksgiving; Friday closed early at 13:00 New York.
    closed = closed_at("2024-11-30T15:00:00")
    assert closed.next_open == utc("2024-12-02T14:30:00")
    assert closed.next.day == date(2024, 12, 2)
    assert closed.last is not None and closed.last.close == utc("2024-11-29T18:00:00")
    assert closed.reason == (
        "XNYS is closed: the next session opens 2024-12-02 09:30 America/New_York (14:30 UTC), "
        "the last closed 2024-11-29 13:00 America/New_York (18:00 UTC)"
    )


def test_a_holiday_is_closed_on_a_weekday() -> None:
    # Christmas, a Wednesday; Christmas Eve closed early.
    closed = closed_at("2024-12-25T15:00:00")
    assert closed.next_open == utc("2024-12-26T14:30:00")
    assert "the last closed 2024-12-24 13:00 America/New_York (18:00 UTC)" in closed.reason
    # Good Friday 2024 too, though no US federal holiday: the exchange's calendar, not a guess.
    assert closed_at("2024-03-29T15:00:00").next_open == utc("2024-04-01T13:30:00")


def test_an_early_close_closes_at_13_00_new_york_the_close_exclusive() -> None:
    assert market_closed(NYSE, utc("2024-11-29T17:59:59")) is None  # 12:59:59 New York: open
    closed = closed_at("2024-11-29T18:00:00")  # 13:00 New York on an early-close day
    assert closed.next_open == utc("2024-12-02T14:30:00")
    # On a regular day 13:00 is mid-session.
    assert market_closed(NYSE, utc("2024-11-27T18:00:00")) is None


def test_before_the_open_and_after_the_close_of_a_regular_day() -> None:
    before = closed_at("2024-12-02T14:29:00")
    assert before.next_open == utc("2024-12-02T14:30:00")  # the same day's session
    assert market_closed(NYSE, utc("2024-12-02T14:30:00")) is None
    assert market_closed(NYSE, utc("2024-12-02T20:59:59")) is None
    after = closed_at("2024-12-02T21:00:00")
    assert after.next_open == utc("2024-12-03T14:30:00")
    assert after.last is not None and after.last.day == date(2024, 12, 2)


def test_the_open_moves_with_new_yorks_clocks_on_dst_change_days() -> None:
    # Clocks went forward on Sunday 2024-03-10: Monday opens at 13:30 UTC, not 14:30.
    assert market_closed(NYSE, utc("2024-03-11T13:45:00")) is None  # 09:45 EDT: open
    monday = closed_at("2024-03-11T13:29:00")
    assert monday.next_open == utc("2024-03-11T13:30:00")
    assert monday.reason == (
        "XNYS is closed: the next session opens 2024-03-11 09:30 America/New_York (13:30 UTC), "
        "the last closed 2024-03-08 16:00 America/New_York (21:00 UTC)"
    )
    # Clocks went back on Sunday 2024-11-03: 14:00 UTC on Monday is 09:00 EST, before the open;
    # Friday closed at 16:00 EDT, 20:00 UTC.
    back = closed_at("2024-11-04T14:00:00")
    assert back.next_open == utc("2024-11-04T14:30:00")
    assert "the last closed 2024-11-01 16:00 America/New_York (20:00 UTC)" in back.reason
    assert market_closed(NYSE, utc("2024-11-04T20:30:00")) is None  # 15:30 EST: still open


def test_24_7_symbols_and_symbols_without_hours_are_never_outside_them() -> None:
    for moment in ("2024-11-30T15:00:00", "2024-12-25T03:00:00", "2024-11-29T18:00:00"):
        assert market_closed(CRYPTO, utc(moment)) is None
        assert market_closed(PLAIN, utc(moment)) is None
        assert market_closed(None, utc(moment)) is None


def test_a_moment_beyond_the_calendars_table_is_not_guessed() -> None:
    assert market_closed(NYSE, utc("2099-06-06T12:00:00")) is None


# -- the account's setting ----------------------------------------------------------------------


def test_outside_hours_defaults_to_queue_and_accounts_stored_before_it_read_so() -> None:
    assert AccountSettings().outside_hours == "queue"
    stored = {"commission_per_share": "0.005", "shorting": False}  # a settings record without it
    assert AccountSettings.model_validate(stored).outside_hours == "queue"
    assert AccountSettings(outside_hours="refuse").outside_hours == "refuse"
    with pytest.raises(ValueError, match="outside_hours"):
        AccountSettings(outside_hours="fill")  # type: ignore[arg-type]


def account(outside_hours: str) -> Account:
    return Account.created(created(outside_hours=outside_hours))


def order(type: str = "market", tif: str = "day", side: str = "buy") -> Order:
    placed = market_order_placed(side, "10", time_in_force=tif, as_of=utc("2024-11-29T18:00:00"))
    if type == "limit":
        placed = placed.model_copy(update={"type": "limit", "limit_price": D("100")})
    return Order.placed(placed)


QUOTE = Quote(
    symbol="AAPL",
    price=D("100"),
    volume=D("1000"),
    market_time=utc("2024-11-30T00:00:00"),
    bar_ts=utc("2024-11-29T00:00:00"),
)


def test_refuse_rejects_a_market_order_naming_the_session_times_and_the_setting() -> None:
    closed = closed_at("2024-11-30T15:00:00")
    verdict = check(order(), account("refuse"), QUOTE, None, closed=closed)
    assert verdict.code == "market_closed"
    assert verdict.reason is not None
    assert verdict.reason.startswith(
        "XNYS is closed: the next session opens 2024-12-02 09:30 America/New_York (14:30 UTC)"
    )
    assert "account acct refuses market orders outside hours (outside_hours=refuse)" in verdict.reason
    # The kill switch still speaks first.
    halted = check(order(), account("refuse"), QUOTE, "desk review", closed=closed)
    assert halted.code == "trading_halted"


def test_queue_passes_the_checks_and_open_markets_and_limit_orders_are_not_refused() -> None:
    closed = closed_at("2024-11-30T15:00:00")
    queued = check(order(), account("queue"), QUOTE, None, closed=closed)
    assert (queued.reason, queued.cash) == (None, D("1000.00"))  # held back as any market buy
    assert check(order(), account("refuse"), QUOTE, None, closed=None).reason is None
    assert check(order("limit"), account("refuse"), QUOTE, None, closed=closed).reason is None


# -- a queued order waits for its session -----------------------------------------------------------


def queued(tif: str = "day", until: str = "2024-12-02T14:30:00") -> Order:
    placed = order(tif=tif)
    accepted = placed.accept(utc("2024-11-30T15:00:00"), D("1000"), D("10"), queued_until=utc(until))
    assert isinstance(accepted, OrderAccepted) and accepted.queued_until == utc(until)
    return placed.apply(accepted)


def bar(ts: str, length: timedelta, open_: str = "101") -> MarketBar:
    start = utc(ts)
    p = D(open_)
    return MarketBar(start, start + length, p, p + 1, p - 1, p, D(100_000), previous_close=D("100"))


DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def test_a_queued_market_order_is_not_filled_at_the_last_price() -> None:
    broker = PaperBroker(AccountSettings())
    assert broker.on_submit(queued(), QUOTE) == []
    # the same order not queued fills at once at the last price: the test tells the two apart
    assert broker.on_submit(order(), QUOTE) == [Fill(D("10"), D("100"), D("0"), utc("2024-11-29T00:00:00"))]


def test_a_queued_market_order_skips_earlier_sessions_bars_and_fills_at_its_sessions_first() -> None:
    broker = PaperBroker(AccountSettings())
    waiting = queued()
    # Friday's daily bar and Friday's last minute, ingested late: an earlier session's.
    assert broker.on_bar(waiting, bar("2024-11-29T00:00:00", DAY)) == []
    assert broker.on_bar(waiting, bar("2024-11-29T17:59:00", MINUTE)) == []
    # Monday's first minute bar (09:30 New York) fills it at its open, in Monday's session.
    first = bar("2024-12-02T14:30:00", MINUTE, "102")
    assert broker.on_bar(waiting, first) == [
        SessionOpened(date(2024, 12, 2)),
        Fill(D("10"), D("102"), D("0"), utc("2024-12-02T14:30:00")),
    ]
    # Monday's daily bar (stamped 00:00 UTC, before the open) is Monday's session too.
    assert broker.on_bar(waiting, bar("2024-12-02T00:00:00", DAY, "103")) == [
        SessionOpened(date(2024, 12, 2)),
        Fill(D("10"), D("103"), D("0"), utc("2024-12-02T00:00:00")),
    ]


def test_a_queued_gtc_order_fills_at_its_sessions_first_bar_too() -> None:
    waiting = queued("gtc", "2024-03-11T13:30:00")  # the Monday after clocks went forward
    broker = PaperBroker(AccountSettings())
    assert broker.on_bar(waiting, bar("2024-03-08T20:59:00", MINUTE)) == []  # Friday's last minute
    assert broker.on_bar(waiting, bar("2024-03-11T13:30:00", MINUTE, "99")) == [
        Fill(D("10"), D("99"), D("0"), utc("2024-03-11T13:30:00"))
    ]


def test_a_day_order_queued_outside_hours_belongs_to_the_next_session() -> None:
    # placed on the Saturday, or after Friday's early close: it lives until Monday's close
    assert day_order_expires_at(NYSE, utc("2024-11-30T15:00:00")) == utc("2024-12-02T21:00:00")
    assert day_order_expires_at(NYSE, utc("2024-11-29T18:00:00")) == utc("2024-12-02T21:00:00")
    # Its session is Monday's, opened by Monday's first bar (1 share a bar: it stays open) ...
    broker = PaperBroker(AccountSettings(participation_cap=D("0.00001")))
    waiting = queued()
    first = bar("2024-12-02T14:30:00", MINUTE)
    assert broker.on_bar(waiting, first) == [
        SessionOpened(date(2024, 12, 2)),
        Fill(D("1"), D("101"), D("0"), first.ts),
    ]
    monday = waiting.apply(waiting.open_session(date(2024, 12, 2), first.ts, first.ts))
    assert broker.on_bar(monday, bar("2024-12-02T20:59:00", MINUTE))[0] == Fill(
        D("1"), D("101"), D("0"), utc("2024-12-02T20:59:00")
    )
    # ... and Tuesday's first bar finds it expired with Monday's session.
    assert broker.on_bar(monday, bar("2024-12-03T14:30:00", MINUTE)) == [
        Expire("day order expired at the end of session 2024-12-02")
    ]


def test_orders_accepted_before_queueing_existed_are_not_queued() -> None:
    placed: OrderPlaced = market_order_placed("buy", "10")
    stored = {"order_id": "ord-1", "account_id": "acct", "symbol": "AAPL", "at": NOW.isoformat()}
    accepted = OrderAccepted.model_validate(stored)
    assert Order.placed(placed).apply(accepted).queued_until is None
