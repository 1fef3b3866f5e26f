"""When a trading day ends, for Trading: the market calendar whose close marks the accounts, and
when a day order's session closes (its symbol's calendar, or the market's for a symbol that has
none). Calendars come from Market Data (market_data/calendars.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from trading_system.market_data.calendars import ExchangeCalendar, calendar_for
from trading_system.market_data.domain import Listing

MARKET_CALENDAR = "XNYS"  # the platform's trading day ends at the US equity close
CLOSE_WINDOW = timedelta(hours=1)  # the schedule's period: a close is acted on by the next run


def market_calendar() -> ExchangeCalendar:
    return calendar_for(MARKET_CALENDAR)


def session_closed_before(now: datetime, calendar: ExchangeCalendar | None = None) -> date | None:
    """The session of the market's calendar that closed in the hour up to `now`, if any."""
    calendar = calendar or market_calendar()
    if not calendar.is_session(now.date()):
        return None
    close = calendar.session(now.date()).close
    return now.date() if close <= now < close + CLOSE_WINDOW else None


def day_order_expires_at(listing: Listing | None, submitted_at: datetime) -> datetime:
    """A day order lives until the close of the session it was placed in (early closes
    included), or of the next session when it was placed while the market was closed."""
    calendar = (listing.session_calendar() if listing else None) or market_calendar()
    return calendar.next_close(submitted_at)
