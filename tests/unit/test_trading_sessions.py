"""The paper broker follows each symbol's exchange calendar (issue 11, "Trading uses the
calendar"): a bar's session is the calendar's session label, not its UTC date (the two differ
for a session that crosses UTC midnight), and limit and stop orders placed while the market is
closed rest until the next session's first bar instead of acting on the last, stale price.

The calendar tables hold no session crossing UTC midnight (XNYS lies within its UTC date), so
such calendars are built here from session tables in the same format: one like the NZX's
(10:00-16:45 Auckland, opening the evening before in UTC) and one west of UTC (09:00-16:00 at
UTC-10, closing after UTC midnight)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.unit.trading_factories import market_order_placed
from trading_system.market_data.calendars import ExchangeCalendar, _TableCalendar, calendar_for
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.broker import Expire, Fill, MarketBar, Quote, SessionOpened, StopTriggered
from trading_system.trading.events import OrderAccepted
from trading_system.trading.orders import Order
from trading_system.trading.paper_broker import PaperBroker
from trading_system.trading.sessions import bar_session, calendar_closed, session_closed_before

D = Decimal
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
XNYS = calendar_for("XNYS")
CRYPTO = calendar_for("CRYPTO")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(code: str, opens: str, closes: str, offsets: list[list[Any]], **more: Any) -> ExchangeCalendar:
    return _TableCalendar(
        {
            "format": 1,
            "code": code,
            "name": code,
            "tz": "UTC",
            "first_session": "2024-01-01",
            "last_session": "2024-12-31",
            "open": opens,
            "close": closes,
            "weekmask": "1111100",
            "holidays": more.get("holidays", []),
            "early_closes": more.get("early_closes", {}),
            "late_opens": {},
            "utc_offsets": offsets,
        }
    )


# NZX-like: UTC+13 in the southern summer, UTC+12 in winter; Waitangi Day (Tuesday 2024-02-06)
# a holiday; an early close at 12:45 on Christmas Eve.
NZ = table(
    "NZLIKE",
    "10:00",
    "16:45",
    [["2024-01-01", 780], ["2024-04-08", 720], ["2024-09-30", 780]],
    holidays=["2024-02-06"],
    early_closes={"2024-12-24": "12:45"},
)
# West of UTC: 09:00-16:00 at UTC-10 is 19:00-02:00 UTC.
WEST = table("WESTLIKE", "09:00", "16:00", [["2024-01-01", -600]])


def bar(
    ts: str, length: timedelta = MINUTE, open_: str = "100", calendar: ExchangeCalendar | None = None
) -> MarketBar:
    start, p = utc(ts), D(open_)
    return MarketBar(start, start + length, p, p + 1, p - 1, p, D(100_000), D("100"), calendar)


# -- a bar's session --------------------------------------------------------------------------------


def test_a_session_that_opens_the_evening_before_in_utc_is_named_by_its_local_date() -> None:
    monday = NZ.session(date(2024, 3, 4))
    assert (monday.open, monday.close) == (utc("2024-03-03T21:00:00"), utc("2024-03-04T03:45:00"))
    # Monday's first minute starts on Sunday in UTC: its session is Monday's.
    assert bar_session(NZ, utc("2024-03-03T21:00:00"), utc("2024-03-03T21:01:00")) == date(2024, 3, 4)
    assert bar("2024-03-03T21:00:00", calendar=NZ).session == date(2024, 3, 4)
    assert bar("2024-03-04T03:44:00", calendar=NZ).session == date(2024, 3, 4)
    # Monday's daily bar, stamped with the session's date at 00:00 UTC.
    assert bar("2024-03-04T00:00:00", DAY, calendar=NZ).session == date(2024, 3, 4)
    # Tuesday's first minute starts on Monday evening in UTC; in winter (UTC+12) an hour later.
    assert bar("2024-03-04T21:00:00", calendar=NZ).session == date(2024, 3, 5)
    assert bar("2024-06-03T22:00:00", calendar=NZ).session == date(2024, 6, 4)
    # Without the calendar the same bars are their UTC dates: the rule this replaces.
    assert bar("2024-03-03T21:00:00").session == date(2024, 3, 3)


def test_a_bar_outside_every_session_belongs_to_the_next_one() -> None:
    # Waitangi Day: the moment Tuesday would have opened is closed; Wednesday is next.
    assert calendar_closed(NZ, utc("2024-02-05T21:00:00")) is not None
    assert bar("2024-02-05T21:00:00", calendar=NZ).session == date(2024, 2, 7)
    # XNYS after Friday's early close (13:00 New York): Monday's session, past the weekend.
    assert bar("2024-11-29T17:59:00", calendar=XNYS).session == date(2024, 11, 29)
    assert bar("2024-11-29T18:00:00", calendar=XNYS).session == date(2024, 12, 2)
    # A daily bar on a day without a session (a Saturday) too.
    assert bar("2024-11-30T00:00:00", DAY, calendar=XNYS).session == date(2024, 12, 2)


def test_xnys_bars_24_7_bars_and_bars_without_a_calendar() -> None:
    assert bar("2024-12-02T14:30:00", calendar=XNYS).session == date(2024, 12, 2)
    assert bar("2024-12-02T20:59:00", calendar=XNYS).session == date(2024, 12, 2)
    assert bar("2024-12-02T00:00:00", DAY, calendar=XNYS).session == date(2024, 12, 2)
    for calendar in (CRYPTO, None):
        assert bar("2024-11-30T23:59:00", calendar=calendar).session == date(2024, 11, 30)
        assert bar("2024-12-01T00:00:00", calendar=calendar).session == date(2024, 12, 1)
    # beyond the table: not guessed, the UTC date
    assert bar("2099-06-06T15:00:00", calendar=XNYS).session == date(2099, 6, 6)


def test_the_close_that_marks_is_found_by_its_label_when_it_falls_on_the_next_utc_date() -> None:
    # WEST's Monday closes at 02:00 UTC on Tuesday: the run after it names Monday.
    assert WEST.session(date(2024, 3, 4)).close == utc("2024-03-05T02:00:00")
    assert session_closed_before(utc("2024-03-05T02:30:00"), WEST) == date(2024, 3, 4)
    assert session_closed_before(utc("2024-03-05T01:59:00"), WEST) is None
    assert session_closed_before(utc("2024-03-05T03:00:00"), WEST) is None  # an hour on: done
    # NZ: Monday closes at 03:45 UTC on its own date; XNYS's early close as before.
    assert session_closed_before(utc("2024-03-04T04:00:00"), NZ) == date(2024, 3, 4)
    assert session_closed_before(utc("2024-12-24T00:00:00"), NZ) == date(2024, 12, 24)  # 12:45 NZDT
    assert session_closed_before(utc("2024-11-29T18:30:00"), XNYS) == date(2024, 11, 29)
    assert session_closed_before(utc("2024-11-28T21:30:00"), XNYS) is None  # Thanksgiving


# -- a day order lives through its calendar session ---------------------------------------------------


def limit_order(price: str | None, tif: str = "day", side: str = "buy", stop: str | None = None) -> Order:
    """A limit order at `price`, or with `stop` a stop order (price None)."""
    placed = market_order_placed(side, "10", time_in_force=tif, as_of=utc("2024-01-01T00:00:00"))
    kind = "limit" if stop is None else "stop"
    limit = None if price is None else D(price)
    update = {"type": kind, "limit_price": limit, "stop_price": None if stop is None else D(stop)}
    return Order.placed(placed.model_copy(update=update))


def accepted(order: Order, queued_until: str | None = None) -> Order:
    until = utc(queued_until) if queued_until else None
    return order.apply(order.accept(utc("2024-01-01T00:00:00"), D("1000"), D("10"), queued_until=until))


def test_a_day_order_lives_through_a_session_that_crosses_utc_midnight() -> None:
    broker = PaperBroker(AccountSettings())
    waiting = accepted(limit_order("50"))  # far below the market: it rests
    first = bar("2024-03-03T21:00:00", calendar=NZ)
    assert broker.on_bar(waiting, first) == [SessionOpened(date(2024, 3, 4))]
    monday = waiting.apply(waiting.open_session(date(2024, 3, 4), first.ts, first.ts))
    # Midnight UTC is mid-session: by UTC dates it would have expired here.
    assert broker.on_bar(monday, bar("2024-03-04T00:00:00", calendar=NZ)) == []
    assert broker.on_bar(monday, bar("2024-03-04T03:44:00", calendar=NZ, open_="49")) == [
        Fill(D("10"), D("49"), D("0"), utc("2024-03-04T03:44:00"))
    ]
    # Tuesday's first bar, still Monday in UTC, finds it expired with Monday's session.
    assert broker.on_bar(monday, bar("2024-03-04T21:00:00", calendar=NZ)) == [
        Expire("day order expired at the end of session 2024-03-04")
    ]


def test_sessions_recorded_as_utc_dates_stay_valid_for_xnys() -> None:
    # An order whose session was recorded when it was the UTC date: an XNYS bar of that session
    # (intraday or daily) does not expire it, the next session's bar does.
    broker = PaperBroker(AccountSettings())
    order = accepted(limit_order("50"))
    recorded = order.apply(
        order.open_session(date(2024, 12, 2), utc("2024-12-02T14:30:00"), utc("2024-12-02T14:30:00"))
    )
    assert broker.on_bar(recorded, bar("2024-12-02T20:59:00", calendar=XNYS)) == []
    assert broker.on_bar(recorded, bar("2024-12-02T00:00:00", DAY, calendar=XNYS)) == []
    assert broker.on_bar(recorded, bar("2024-12-03T14:30:00", calendar=XNYS)) == [
        Expire("day order expired at the end of session 2024-12-02")
    ]


# -- limit and stop orders placed while the market is closed ------------------------------------------

SATURDAY_QUOTE = Quote(
    symbol="AAPL",
    price=D("100"),
    volume=D("1000"),
    market_time=utc("2024-11-30T00:00:00"),
    bar_ts=utc("2024-11-29T00:00:00"),
)
MONDAY_OPEN = "2024-12-02T14:30:00"


def test_a_limit_order_is_queued_as_a_market_order_is() -> None:
    order = limit_order("105")
    event = order.accept(utc("2024-11-30T15:00:00"), D("1050"), D("10"), queued_until=utc(MONDAY_OPEN))
    assert isinstance(event, OrderAccepted) and event.queued_until == utc(MONDAY_OPEN)
    assert order.apply(event).queued_until == utc(MONDAY_OPEN)


def test_a_queued_buy_limit_above_the_last_price_does_not_fill_at_it() -> None:
    broker = PaperBroker(AccountSettings())
    # Not queued (placed in session), the last price fills it at once: the test tells them apart.
    assert broker.on_submit(accepted(limit_order("105")), SATURDAY_QUOTE) == [
        Fill(D("10"), D("100"), D("0"), utc("2024-11-29T00:00:00"))
    ]
    waiting = accepted(limit_order("105", "gtc"), MONDAY_OPEN)
    assert broker.on_submit(waiting, SATURDAY_QUOTE) == []
    # Friday's bars, arriving late, are an earlier session's: no fill though they trade below.
    assert broker.on_bar(waiting, bar("2024-11-29T00:00:00", DAY, "99", XNYS)) == []
    assert broker.on_bar(waiting, bar("2024-11-29T17:59:00", MINUTE, "99", XNYS)) == []
    # Monday's first bar: the open (103) is better than the limit, so the open.
    assert broker.on_bar(waiting, bar(MONDAY_OPEN, MINUTE, "103", XNYS)) == [
        Fill(D("10"), D("103"), D("0"), utc(MONDAY_OPEN))
    ]
    # Had Monday opened above the limit and stayed there (low 106), nothing.
    assert broker.on_bar(waiting, bar(MONDAY_OPEN, MINUTE, "107", XNYS)) == []
    # A sell limit gapped through at the open fills at the open too, by the same rule.
    sell = accepted(limit_order("95", "gtc", side="sell"), MONDAY_OPEN)
    assert broker.on_submit(sell, SATURDAY_QUOTE) == []
    assert broker.on_bar(sell, bar(MONDAY_OPEN, MINUTE, "97", XNYS)) == [
        Fill(D("10"), D("97"), D("0"), utc(MONDAY_OPEN))
    ]


def test_a_queued_stop_is_not_triggered_by_the_stale_price_but_by_the_sessions_first_bar() -> None:
    broker = PaperBroker(AccountSettings())
    # A buy stop at 99, below the last price: in session it triggers at once.
    live = broker.on_submit(accepted(limit_order(None, "gtc", stop="99")), SATURDAY_QUOTE)
    assert [type(e) for e in live] == [StopTriggered, Fill]
    waiting = accepted(limit_order(None, "gtc", stop="99"), MONDAY_OPEN)
    assert broker.on_submit(waiting, SATURDAY_QUOTE) == []
    assert broker.on_bar(waiting, bar("2024-11-29T17:59:00", MINUTE, "100", XNYS)) == []
    # Monday opens at 103, through the stop: triggered at the open, filled at the open.
    assert broker.on_bar(waiting, bar(MONDAY_OPEN, MINUTE, "103", XNYS)) == [
        StopTriggered(utc(MONDAY_OPEN)),
        Fill(D("10"), D("103"), D("0"), utc(MONDAY_OPEN)),
    ]
    # Monday below the stop all bar long (high 98): not triggered.
    assert broker.on_bar(waiting, bar(MONDAY_OPEN, MINUTE, "97", XNYS)) == []


def test_a_queued_day_limit_order_opens_the_session_it_waited_for() -> None:
    broker = PaperBroker(AccountSettings())
    waiting = accepted(limit_order("90"), MONDAY_OPEN)
    assert broker.on_bar(waiting, bar(MONDAY_OPEN, MINUTE, "100", XNYS)) == [SessionOpened(date(2024, 12, 2))]
