"""The runtime exchange calendars (compact tables, no pandas) against exchange-calendars itself."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars
import pytest

from trading_system.entrypoints import calendars as generator
from trading_system.market_data.calendars import (
    ALWAYS_OPEN,
    OutsideCalendar,
    UnknownCalendar,
    calendar_for,
    canonical_code,
    known_exchanges,
)

# exchange-calendars on pandas 3 warns about its own use of pandas; nothing this project can act on.
pytestmark = pytest.mark.filterwarnings("ignore:.*drops timezone information")

DATA = Path(generator.__file__).resolve().parents[1] / "market_data" / "calendar_data"
NEW_YORK = ZoneInfo("America/New_York")
XNYS = calendar_for("XNYS")


def ny(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture(scope="module")
def library() -> exchange_calendars.ExchangeCalendar:
    return exchange_calendars.get_calendar(
        "XNYS", start=generator.FIRST_DAY.isoformat(), end=generator.LAST_DAY.isoformat()
    )


def test_every_session_opens_and_closes_as_the_library_says(
    library: exchange_calendars.ExchangeCalendar,
) -> None:
    expected = [
        (label.date(), row["open"].to_pydatetime(), row["close"].to_pydatetime())
        for label, row in library.schedule.iterrows()
    ]
    ours = [(s.day, s.open, s.close) for s in XNYS.sessions_in(generator.FIRST_DAY, generator.LAST_DAY)]
    assert len(expected) > 11_000
    assert ours == expected
    assert (XNYS.first_session, XNYS.last_session) == (expected[0][0], expected[-1][0])


def test_every_day_is_a_session_exactly_when_the_library_says(
    library: exchange_calendars.ExchangeCalendar,
) -> None:
    sessions = {label.date() for label in library.sessions}
    day, wrong = XNYS.first_session, []
    while day <= XNYS.last_session:
        if XNYS.is_session(day) != (day in sessions):
            wrong.append(day)
        day += timedelta(days=1)
    assert wrong == []


def test_open_moments_and_next_open_close_agree_with_the_library(
    library: exchange_calendars.ExchangeCalendar,
) -> None:
    # Every 37 minutes over 2024, across DST changes, early closes and holidays.
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    while moment < datetime(2025, 1, 1, tzinfo=UTC):
        stamp = moment.replace(tzinfo=None)
        assert XNYS.is_open(moment) == library.is_open_on_minute(stamp, ignore_breaks=True), moment
        assert XNYS.next_open(moment) == library.next_open(stamp).to_pydatetime(), moment
        assert XNYS.next_close(moment) == library.next_close(stamp).to_pydatetime(), moment
        moment += timedelta(minutes=37)


def test_the_checked_in_tables_are_what_the_generator_makes_now() -> None:
    generated = generator.generate()
    checked_in = {p.name: p.read_text() for p in DATA.glob("*.json")}
    assert checked_in == generated, (
        "calendar tables are stale: run `python -m trading_system.entrypoints.calendars "
        "shared/trading_system/market_data/calendar_data`"
    )


def test_the_generator_writes_the_tables_to_a_folder(tmp_path: Path) -> None:
    assert generator.main([str(tmp_path)]) == 0
    assert (tmp_path / "XNYS.json").read_text() == (DATA / "XNYS.json").read_text()
    assert generator.main([]) == 2


@pytest.mark.parametrize(
    ("day", "opens", "closes"),
    [
        # The Friday before and the Monday after the spring change (2024-03-10): 14:30 -> 13:30 UTC.
        ("2024-03-08", "2024-03-08T14:30:00+00:00", "2024-03-08T21:00:00+00:00"),
        ("2024-03-11", "2024-03-11T13:30:00+00:00", "2024-03-11T20:00:00+00:00"),
        # Around the autumn change (2024-11-03): 13:30 -> 14:30 UTC.
        ("2024-11-01", "2024-11-01T13:30:00+00:00", "2024-11-01T20:00:00+00:00"),
        ("2024-11-04", "2024-11-04T14:30:00+00:00", "2024-11-04T21:00:00+00:00"),
        # Early closes at 13:00 New York: the day after Thanksgiving and the eve of July 4th.
        ("2024-11-29", "2024-11-29T14:30:00+00:00", "2024-11-29T18:00:00+00:00"),
        ("2024-07-03", "2024-07-03T13:30:00+00:00", "2024-07-03T17:00:00+00:00"),
        ("2024-12-24", "2024-12-24T14:30:00+00:00", "2024-12-24T18:00:00+00:00"),
    ],
)
def test_session_open_and_close_in_utc(day: str, opens: str, closes: str) -> None:
    assert XNYS.session_open_close(date.fromisoformat(day)) == (
        datetime.fromisoformat(opens),
        datetime.fromisoformat(closes),
    )


@pytest.mark.parametrize(
    "day",
    [
        "2024-07-04",  # Independence Day
        "2024-03-29",  # Good Friday
        "2024-12-25",
        "2024-03-09",  # a Saturday
        "2024-03-10",  # the Sunday of the DST change
        "2001-09-11",  # unscheduled closures are in the library, so in the table
        "2012-10-29",  # Hurricane Sandy
    ],
)
def test_no_session_on_holidays_weekends_and_closures(day: str) -> None:
    assert not XNYS.is_session(date.fromisoformat(day))
    with pytest.raises(ValueError, match="is not a XNYS session"):
        XNYS.session(date.fromisoformat(day))


def test_sessions_in_a_range_skip_holidays() -> None:
    days = [s.day.isoformat() for s in XNYS.sessions_in(date(2024, 7, 1), date(2024, 7, 8))]
    assert days == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]
    assert [s.day for s in XNYS.sessions_in(date(2024, 3, 28), date(2024, 4, 1))] == [
        date(2024, 3, 28),
        date(2024, 4, 1),
    ]


def test_session_of_a_moment_respects_dst_and_early_closes() -> None:
    assert XNYS.session_of(ny("2024-03-11", "09:29:59")) is None
    opened = XNYS.session_of(ny("2024-03-11", "09:30"))
    assert opened is not None
    assert opened.day == date(2024, 3, 11)
    assert opened.open == datetime(2024, 3, 11, 13, 30, tzinfo=UTC)
    assert XNYS.is_open(ny("2024-11-29", "12:59"))
    assert not XNYS.is_open(ny("2024-11-29", "13:00"))  # closes are exclusive
    assert not XNYS.is_open(ny("2024-07-04", "11:00"))
    assert XNYS.is_open(datetime(2024, 11, 4, 14, 30))  # naive moments are UTC


def test_next_open_and_close_cross_weekends_holidays_and_early_closes() -> None:
    # Wednesday 2024-07-03 after its 13:00 close: Thursday is a holiday, Friday opens at 09:30.
    assert XNYS.next_open(ny("2024-07-03", "14:00")) == ny("2024-07-05", "09:30")
    # A day order placed that morning expires at the early close.
    assert XNYS.next_close(ny("2024-07-03", "10:00")) == ny("2024-07-03", "13:00")
    # Friday before the spring change, after hours: Monday opens an hour earlier in UTC.
    assert XNYS.next_open(ny("2024-03-08", "17:00")) == datetime(2024, 3, 11, 13, 30, tzinfo=UTC)
    # At the open itself the next open is the following session's.
    assert XNYS.next_open(ny("2024-11-01", "09:30")) == datetime(2024, 11, 4, 14, 30, tzinfo=UTC)


def test_crypto_is_always_open() -> None:
    crypto = calendar_for("crypto")
    assert crypto is calendar_for(ALWAYS_OPEN)
    assert crypto.is_always_open()
    for moment in (
        datetime(2024, 7, 4, 12, 0, tzinfo=UTC),  # a US holiday
        datetime(2024, 3, 10, 7, 0, tzinfo=UTC),  # a Sunday, the night of the DST change
        datetime(2024, 12, 25, 23, 59, 59, tzinfo=UTC),
    ):
        assert crypto.is_open(moment)
    assert crypto.session_open_close(date(2024, 3, 10)) == (
        datetime(2024, 3, 10, tzinfo=UTC),
        datetime(2024, 3, 11, tzinfo=UTC),
    )
    assert len(crypto.sessions_in(date(2024, 1, 1), date(2024, 12, 31))) == 366
    assert crypto.next_close(datetime(2024, 3, 10, 5, tzinfo=UTC)) == datetime(2024, 3, 11, tzinfo=UTC)


def test_crypto_matches_the_library_24_7_calendar() -> None:
    library = exchange_calendars.get_calendar("24/7", start="2024-01-01", end="2024-12-31")
    crypto = calendar_for(ALWAYS_OPEN)
    expected = [(label.date(), row["open"], row["close"]) for label, row in library.schedule.iterrows()]
    assert [(s.day, s.open, s.close) for s in crypto.sessions_in(date(2024, 1, 1), date(2024, 12, 31))] == [
        (d, o.to_pydatetime(), c.to_pydatetime()) for d, o, c in expected
    ]


def test_aliases_name_the_same_calendar() -> None:
    for alias in ("NYSE", "nasdaq", " XNAS ", "ARCA", "BATS", "AMEX"):
        assert calendar_for(alias) is XNYS
    assert canonical_code("nasdaq") == "XNYS"
    assert canonical_code("Crypto") == ALWAYS_OPEN


def test_an_unknown_exchange_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownCalendar) as raised:
        calendar_for("LSE")
    message = str(raised.value)
    assert "'LSE'" in message
    for code in ("XNYS", "24/7", "NASDAQ"):
        assert code in message
    assert set(known_exchanges()) >= {"XNYS", "24/7", "NYSE", "NASDAQ", "XNAS", "CRYPTO"}


def test_dates_outside_the_table_are_refused_not_guessed() -> None:
    with pytest.raises(
        OutsideCalendar, match=r"outside the XNYS calendar's table \(1990-01-02 .. 2035-12-31\)"
    ):
        XNYS.is_session(date(2036, 1, 2))
    with pytest.raises(OutsideCalendar):
        XNYS.session_of(datetime(1989, 6, 1, 15, tzinfo=UTC))
    with pytest.raises(OutsideCalendar):
        XNYS.next_open(datetime(2035, 12, 31, 22, tzinfo=UTC))
    # A range overlapping the table is clipped to it.
    assert XNYS.sessions_in(date(2035, 12, 30), date(2036, 1, 10))[-1].day == date(2035, 12, 31)


def test_the_runtime_module_needs_neither_pandas_nor_a_time_zone_database() -> None:
    probe = (
        "import sys; from datetime import date; "
        "from trading_system.market_data.calendars import calendar_for; "
        "calendar_for('XNYS').session(date(2024, 7, 3)); "
        "print(sorted(m for m in ('pandas', 'exchange_calendars', 'numpy', 'zoneinfo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
