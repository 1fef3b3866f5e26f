"""Exchange calendars: when a market trades, in UTC. Pure standard library (no pandas, no tz database).

The tables in `calendar_data/` are derived at build time from the `exchange-calendars` library by
`python -m trading_system.entrypoints.calendars` (tests/unit/test_calendars.py compares every
session with the library and the files with a fresh generation). At run time a table is read once
per process, on first use.

    cal = calendar_for("XNYS")             # or an alias: NYSE, NASDAQ, ...; "24/7" for crypto
    cal.is_session(date(2024, 7, 4))       # False: Independence Day
    cal.session_open_close(date(2024, 11, 29))  # 14:30 UTC .. 18:00 UTC (early close, 13:00 New York)
    cal.session_of(moment)                 # the session open at `moment`, or None
    cal.next_open(moment), cal.next_close(moment)

A session is named by its date (the exchange's local date); its open and close are aware UTC
datetimes, the close exclusive: a market closing at 16:00 is closed at 16:00:00.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

_DAY = timedelta(days=1)
ALWAYS_OPEN = "24/7"
# Other names for the calendars, as data providers and users write exchanges. The library treats
# NASDAQ, NYSE Arca, Cboe BZX (BATS), NYSE American and OTC as trading on XNYS hours.
ALIASES = {
    "NYSE": "XNYS",
    "NASDAQ": "XNYS",
    "XNAS": "XNYS",
    "ARCA": "XNYS",
    "ARCX": "XNYS",
    "NYSEARCA": "XNYS",
    "AMEX": "XNYS",
    "XASE": "XNYS",
    "BATS": "XNYS",
    "CRYPTO": ALWAYS_OPEN,
}
_TABLES = ("XNYS",)


class UnknownCalendar(ValueError):
    """An exchange code no calendar answers to. A ValueError, so pydantic reports it per field."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown exchange {code!r}: use one of {', '.join(known_exchanges())}")


class OutsideCalendar(ValueError):
    """A date beyond the range the calendar's table covers: refused rather than guessed."""


@dataclass(frozen=True)
class Session:
    """One trading session: its local date, and its open and (exclusive) close in UTC."""

    day: date
    open: datetime
    close: datetime


class ExchangeCalendar:
    """The sessions of one exchange. Build with `calendar_for`."""

    code: str
    name: str
    tz: str  # the exchange's IANA time zone, for display
    first_session: date
    last_session: date

    def is_session(self, day: date) -> bool:
        raise NotImplementedError

    def session(self, day: date) -> Session:
        """The session of `day`; ValueError when the market does not trade that day."""
        raise NotImplementedError

    def sessions_in(self, start: date, end: date) -> list[Session]:
        """The sessions whose dates lie in [start, end], both inclusive, in order."""
        raise NotImplementedError

    def session_of(self, moment: datetime) -> Session | None:
        """The session trading at `moment` (open <= moment < close), or None when closed."""
        raise NotImplementedError

    def is_always_open(self) -> bool:
        return False

    def session_open_close(self, day: date) -> tuple[datetime, datetime]:
        found = self.session(day)
        return found.open, found.close

    def is_open(self, moment: datetime) -> bool:
        return self.session_of(moment) is not None

    def next_open(self, moment: datetime) -> datetime:
        """The first session open strictly after `moment`."""
        return self._first_after(moment, lambda s: s.open)

    def next_close(self, moment: datetime) -> datetime:
        """The first session close strictly after `moment`: the current session's close while
        open (what a `day` order expires at), else the next session's."""
        return self._first_after(moment, lambda s: s.close)

    def _first_after(self, moment: datetime, edge: Callable[[Session], datetime]) -> datetime:
        moment = _utc(moment)
        # A session is named by its local date, which is within a day of the UTC date.
        day = moment.date() - _DAY
        while True:
            for found in self.sessions_in(day, day + timedelta(days=13)):
                if edge(found) > moment:
                    return edge(found)
            day += timedelta(days=14)

    def __repr__(self) -> str:
        return f"<ExchangeCalendar {self.code}>"


class _AlwaysOpen(ExchangeCalendar):
    """Crypto: every day is a session from 00:00 to 24:00 UTC (as the library's 24/7 calendar)."""

    code = ALWAYS_OPEN
    name = "24/7 (crypto)"
    tz = "UTC"
    first_session = date(1970, 1, 1)
    last_session = date(2099, 12, 31)

    def is_always_open(self) -> bool:
        return True

    def is_session(self, day: date) -> bool:
        return True

    def session(self, day: date) -> Session:
        start = datetime.combine(day, time(0), UTC)
        return Session(day, start, start + _DAY)

    def sessions_in(self, start: date, end: date) -> list[Session]:
        return [self.session(start + timedelta(days=i)) for i in range((end - start).days + 1)]

    def session_of(self, moment: datetime) -> Session | None:
        return self.session(_utc(moment).date())


class _TableCalendar(ExchangeCalendar):
    """A calendar read from a table generated from exchange-calendars."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.code = table["code"]
        self.name = table["name"]
        self.tz = table["tz"]
        self.first_session = date.fromisoformat(table["first_session"])
        self.last_session = date.fromisoformat(table["last_session"])
        self._open = time.fromisoformat(table["open"])
        self._close = time.fromisoformat(table["close"])
        self._weekmask = tuple(c == "1" for c in table["weekmask"])
        self._holidays = frozenset(date.fromisoformat(d) for d in table["holidays"])
        self._early_closes = {
            date.fromisoformat(d): time.fromisoformat(t) for d, t in table["early_closes"].items()
        }
        self._late_opens = {
            date.fromisoformat(d): time.fromisoformat(t) for d, t in table["late_opens"].items()
        }
        # Each session as first made: a session-following read of two years makes 500 of them on
        # every request (the table is fixed, a session never changes; the whole table is 11,000).
        self._made: dict[date, Session] = {}
        self._offset_days = [date.fromisoformat(d) for d, _ in table["utc_offsets"]]
        self._offsets = [timedelta(minutes=m) for _, m in table["utc_offsets"]]

    def is_session(self, day: date) -> bool:
        self._check_range(day)
        return self._weekmask[day.weekday()] and day not in self._holidays

    def session(self, day: date) -> Session:
        if not self.is_session(day):
            raise ValueError(f"{day.isoformat()} is not a {self.code} session (a weekend or holiday)")
        return self._session(day)

    def sessions_in(self, start: date, end: date) -> list[Session]:
        # Clipped to the table: asking for a wide range (next_open near the end) is not an error.
        first, last = max(start, self.first_session), min(end, self.last_session)
        if start > self.last_session or end < self.first_session:
            self._check_range(start if start > self.last_session else end)
        days = (first + timedelta(days=i) for i in range((last - first).days + 1))
        return [self._session(d) for d in days if self._weekmask[d.weekday()] and d not in self._holidays]

    def session_of(self, moment: datetime) -> Session | None:
        moment = _utc(moment)
        self._check_range(moment.date())
        for day in (moment.date() - _DAY, moment.date(), moment.date() + _DAY):
            if self.first_session <= day <= self.last_session and self.is_session(day):
                found = self._session(day)
                if found.open <= moment < found.close:
                    return found
        return None

    def _session(self, day: date) -> Session:
        made = self._made.get(day)
        if made is None:
            offset = self._offsets[bisect_right(self._offset_days, day) - 1]
            opens = datetime.combine(day, self._late_opens.get(day, self._open), UTC) - offset
            closes = datetime.combine(day, self._early_closes.get(day, self._close), UTC) - offset
            made = self._made[day] = Session(day, opens, closes)
        return made

    def _check_range(self, day: date) -> None:
        if not self.first_session <= day <= self.last_session:
            raise OutsideCalendar(
                f"{day.isoformat()} is outside the {self.code} calendar's table "
                f"({self.first_session.isoformat()} .. {self.last_session.isoformat()})"
            )


def known_exchanges() -> tuple[str, ...]:
    """Every code and alias `calendar_for` accepts, calendars first."""
    return (*_TABLES, ALWAYS_OPEN, *sorted(ALIASES))


def canonical_code(code: str) -> str:
    """The calendar code an exchange name stands for (case and spaces ignored); UnknownCalendar
    for one no calendar answers to."""
    key = code.strip().upper()
    key = ALIASES.get(key, key)
    if key not in _TABLES and key != ALWAYS_OPEN:
        raise UnknownCalendar(code)
    return key


@cache
def calendar_for(code: str) -> ExchangeCalendar:
    """The calendar of an exchange code (XNYS, 24/7) or alias (NYSE, NASDAQ, CRYPTO, ...)."""
    key = canonical_code(code)
    if key != code:
        return calendar_for(key)  # one instance per calendar, whatever it was asked as
    if key == ALWAYS_OPEN:
        return _AlwaysOpen()
    # A plain file beside this module (package data): importlib.resources would cost the cold
    # import of every function a few milliseconds for nothing.
    text = (Path(__file__).with_name("calendar_data") / f"{key}.json").read_text()
    return _TableCalendar(json.loads(text))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # naive timestamps are UTC throughout the platform
    return moment.astimezone(UTC)
