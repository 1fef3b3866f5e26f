"""When a trading day ends, for Trading: the market calendar whose close marks the accounts,
when a day order's session closes (its symbol's calendar, or the market's for a symbol that has
none), whether a symbol's market is closed when an order arrives (the one place Trading decides
it), and which session a bar belongs to. Calendars come from Market Data
(market_data/calendars.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from trading_system.market_data.calendars import ExchangeCalendar, OutsideCalendar, Session, calendar_for
from trading_system.market_data.domain import Listing

MARKET_CALENDAR = "XNYS"  # the platform's trading day ends at the US equity close
CLOSE_WINDOW = timedelta(hours=1)  # the schedule's period: a close is acted on by the next run
# How far around a closed moment the sessions before and after it are looked for: longer than
# any run of days without a session (a weekend and a holiday, or a few days' national closure).
_LOOK_BACK = timedelta(days=14)
_DAY = timedelta(days=1)


def market_calendar() -> ExchangeCalendar:
    return calendar_for(MARKET_CALENDAR)


def session_closed_before(now: datetime, calendar: ExchangeCalendar | None = None) -> date | None:
    """The session (its label: the exchange's local date) of the market's calendar that closed
    in the hour up to `now`, if any. The label is looked for around the UTC date: a session may
    close on another UTC date than the one it is named by."""
    calendar = calendar or market_calendar()
    day = now.astimezone(UTC).date()
    for found in calendar.sessions_in(day - _DAY, day + _DAY):
        if found.close <= now < found.close + CLOSE_WINDOW:
            return found.day
    return None


def day_order_expires_at(listing: Listing | None, submitted_at: datetime) -> datetime:
    """A day order lives until the close of the session it was placed in (early closes
    included), or of the next session when it was placed while the market was closed."""
    calendar = (listing.session_calendar() if listing else None) or market_calendar()
    return calendar.next_close(submitted_at)


@dataclass(frozen=True)
class MarketClosed:
    """A symbol's market is closed at `at`: the session that opens next, and the one that closed
    last before it (None when the calendar's table starts later)."""

    calendar: ExchangeCalendar
    at: datetime
    next: Session
    last: Session | None

    @property
    def next_open(self) -> datetime:
        return self.next.open

    @property
    def reason(self) -> str:
        """Why, with the session times in the exchange's time and in UTC: "XNYS is closed: the
        next session opens 2024-12-02 09:30 America/New_York (14:30 UTC), the last closed
        2024-11-29 13:00 America/New_York (18:00 UTC)"."""
        said = f"{self.calendar.code} is closed: the next session opens {self._shown(self.next.open)}"
        return said if self.last is None else f"{said}, the last closed {self._shown(self.last.close)}"

    def _shown(self, moment: datetime) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only a refusal needs local time

        utc = moment.astimezone(UTC)
        try:
            local = moment.astimezone(ZoneInfo(self.calendar.tz))
        except ZoneInfoNotFoundError:  # a machine without the time-zone database: UTC alone
            return f"{utc:%Y-%m-%d %H:%M} UTC"
        return f"{local:%Y-%m-%d %H:%M} {self.calendar.tz} ({utc:%H:%M} UTC)"


def market_closed(listing: Listing | None, at: datetime) -> MarketClosed | None:
    """The symbol's market is closed at `at` (a weekend, a holiday, before the open or after the
    close, early closes included), or None: open, a 24/7 calendar, or no calendar at all (a
    symbol registered without an exchange: its hours are unknown, so it is never outside them;
    nor is a moment beyond the calendar's table, which is not guessed)."""
    return calendar_closed(listing.session_calendar() if listing else None, at)


def calendar_closed(calendar: ExchangeCalendar | None, at: datetime) -> MarketClosed | None:
    """`market_closed` for a calendar (None: a symbol without one)."""
    if calendar is None or calendar.is_always_open():
        return None
    # A session is named by its local date, within a day of the UTC date.
    day = at.astimezone(UTC).date()
    try:
        if calendar.session_of(at) is not None:
            return None
        before = [s for s in calendar.sessions_in(day - _LOOK_BACK, day + _DAY) if s.close <= at]
        after = [s for s in calendar.sessions_in(day - _DAY, day + _LOOK_BACK) if s.open > at]
    except OutsideCalendar:
        return None
    if not after:  # the table ends within the look-ahead
        return None
    return MarketClosed(calendar, at, after[0], before[-1] if before else None)


def bar_session(calendar: ExchangeCalendar | None, ts: datetime, end: datetime) -> date:
    """The trading session a bar starting at `ts` and ending at `end` belongs to, by its label
    (the session's date in the exchange's calendar, which need not be the UTC date of the bar: a
    session may open the evening before in UTC).

    - No calendar (a symbol without an exchange), a 24/7 one, or a bar beyond the calendar's
      table: the bar's UTC date.
    - A daily bar (a day long or more) is stamped with its session's date at 00:00 UTC
      (Listing.bar_of): that date, when it is a session.
    - An intraday bar: the session it starts in.
    - A bar that starts while the market is closed (kept from before bars were checked against
      the calendar, one not aligned to the session's open, or a daily bar on a day without a
      session): the session the market opens next (`calendar_closed`); so a day order's session,
      closed by then, is over."""
    day = ts.astimezone(UTC).date()
    if calendar is None or calendar.is_always_open():
        return day
    try:
        if end - ts >= _DAY and calendar.is_session(day):
            return day
        session = calendar.session_of(ts)
        if session is not None:
            return session.day
    except OutsideCalendar:
        return day
    closed = calendar_closed(calendar, ts)
    if closed is None:  # the table ends before the next session
        return day
    return closed.next.day
