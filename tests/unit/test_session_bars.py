"""Bars of a symbol with an exchange calendar align to its sessions, not to 00:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from trading_system.kernel.errors import Problem
from trading_system.market_data import bar_batch
from trading_system.market_data.calendars import calendar_for
from trading_system.market_data.commands import BarRow, RegisterSymbol
from trading_system.market_data.domain import (
    EPOCH,
    FOREVER,
    BarLimits,
    Listing,
    Timeframe,
    session_ceil,
    session_end_exclusive,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
XNYS = calendar_for("XNYS")


def problems(
    stamps: list[str], timeframe: Timeframe, exchange: str | None = "XNYS", symbol: str = "AAPL"
) -> list[Problem]:
    rows = [BarRow(ts=t, open=10, high=11, low=9, close=10.5, volume=100) for t in stamps]  # type: ignore[arg-type]
    parsed = bar_batch.columns_from_rows(rows, symbol, timeframe)
    calendars = {symbol: calendar_for(exchange)} if exchange else {}
    found, total = bar_batch.find_problems(parsed.columns, timeframe, {symbol}, BarLimits(), NOW, calendars)
    assert total == len(found)
    return found


def rows_of(found: list[Problem]) -> list[int | None]:
    return [p.row for p in found]


def test_hourly_bars_start_at_the_new_york_open_on_both_sides_of_dst() -> None:
    # Friday 2024-03-08 is on EST (open 14:30 UTC); Monday 2024-03-11 on EDT (open 13:30 UTC).
    before = [f"2024-03-08T{h}:30:00Z" for h in range(14, 21)]
    after = [f"2024-03-11T{h}:30:00Z" for h in range(13, 20)]
    autumn = ["2024-11-01T13:30:00Z", "2024-11-01T19:30:00Z", "2024-11-04T14:30:00Z", "2024-11-04T20:30:00Z"]
    assert problems(before + after + autumn, Timeframe.H1) == []


def test_local_timestamps_are_accepted_as_the_instants_they_name() -> None:
    assert problems(["2024-03-11T09:30:00-04:00", "2024-03-08T10:30:00-05:00"], Timeframe.H1) == []


def test_an_hourly_bar_on_the_utc_grid_names_the_session_alignment() -> None:
    found = problems(["2024-03-11T14:00:00Z", "2024-03-11T14:30:00Z"], Timeframe.H1)
    assert rows_of(found) == [1]
    assert found[0].field == "ts"
    assert found[0].value == "2024-03-11T14:00:00Z"
    assert "session's open (2024-03-11T13:30:00Z) plus multiples of 1h" in found[0].reason
    assert "nearest earlier start is 2024-03-11T13:30:00Z" in found[0].reason


def test_last_year_dst_offset_is_not_used_after_the_change() -> None:
    # 13:30 UTC is the open in summer but 08:30 New York, before the open, in winter.
    found = problems(["2024-11-04T13:30:00Z", "2024-03-08T13:30:00Z"], Timeframe.H1)
    assert rows_of(found) == [1, 2]
    assert all("outside the XNYS sessions" in p.reason for p in found)


def test_intraday_bars_lie_inside_the_session_and_early_closes_end_it() -> None:
    ok = [
        "2024-11-29T14:30:00Z",
        "2024-11-29T17:30:00Z",  # 12:30-13:00 New York: the short last bar of an early close
        "2024-07-03T16:30:00Z",
    ]
    assert problems(ok, Timeframe.H1) == []
    late = [
        "2024-11-29T18:30:00Z",  # 13:30 New York: after the 13:00 close
        "2024-07-03T17:30:00Z",
        "2024-03-11T20:30:00Z",  # 16:30 New York: after hours
        "2024-03-11T12:30:00Z",  # 08:30: pre-market
    ]
    assert rows_of(problems(late, Timeframe.H1)) == [1, 2, 3, 4]


def test_minute_bars_need_a_session_and_the_minute_grid() -> None:
    good = ["2024-03-11T13:30:00Z", "2024-03-11T19:59:00Z", "2024-11-29T17:59:00Z"]
    assert problems(good, Timeframe.M1) == []
    bad = [
        "2024-07-04T15:00:00Z",  # Independence Day
        "2024-03-29T15:00:00Z",  # Good Friday
        "2024-03-09T15:00:00Z",  # Saturday
        "2024-03-11T20:00:00Z",  # the close is exclusive
        "2024-11-29T18:00:00Z",  # the early close
        "2024-03-11T13:30:30Z",  # off the minute grid
    ]
    found = problems(bad, Timeframe.M1)
    assert rows_of(found) == [1, 2, 3, 4, 5, 6]
    assert "not aligned to the 1m timeframe of the XNYS session" in found[5].reason


def test_fifteen_minute_bars_of_the_session() -> None:
    assert problems(["2024-03-11T13:30:00Z", "2024-03-11T13:45:00Z"], Timeframe.M15) == []
    assert rows_of(problems(["2024-03-11T13:40:00Z"], Timeframe.M15)) == [1]


def test_a_daily_bar_is_a_session_stamped_at_its_date() -> None:
    sessions = ["2024-03-08T00:00:00Z", "2024-03-11", "2024-11-29", "2024-07-03T00:00:00-04:00"]
    assert problems(sessions, Timeframe.D1) == []
    not_sessions = ["2024-07-04", "2024-03-29", "2024-03-09", "2024-12-25"]
    found = problems(not_sessions, Timeframe.D1)
    assert rows_of(found) == [1, 2, 3, 4]
    assert all(p.reason == "ts is not a XNYS session (a weekend or holiday)" for p in found)
    found = problems(["2024-03-11T13:30:00Z"], Timeframe.D1)
    assert rows_of(found) == [1]
    assert "stamped with the session's date at 00:00 UTC" in found[0].reason


def test_bars_outside_the_calendars_table_are_refused() -> None:
    found = problems(["1985-06-03", "2024-03-11", "1989-12-29T15:00:00Z"], Timeframe.D1)
    assert rows_of(found) == [1, 3]
    assert "outside the XNYS calendar's table (1990-01-02 .. 2035-12-31)" in found[0].reason


def test_without_a_calendar_bars_keep_the_utc_grid() -> None:
    assert problems(["2024-03-11T14:00:00Z", "2024-07-04T15:00:00Z"], Timeframe.H1, exchange=None) == []
    found = problems(["2024-03-11T13:30:00Z"], Timeframe.H1, exchange=None)
    assert "counted from 00:00 UTC" in found[0].reason
    # 24/7 sessions start at 00:00 UTC, so crypto keeps the UTC grid and trades every day.
    assert problems(["2024-07-04T15:00:00Z", "2024-03-10T07:00:00Z"], Timeframe.H1, exchange="24/7") == []
    assert rows_of(problems(["2024-03-10T07:30:00Z"], Timeframe.H1, exchange="CRYPTO")) == [1]


def test_a_mixed_batch_checks_each_symbol_against_its_own_calendar() -> None:
    rows = [
        BarRow(symbol="AAPL", ts="2024-03-11T13:30:00Z", open=1, high=1, low=1, close=1, volume=1),  # type: ignore[arg-type]
        BarRow(symbol="BTCUSD", ts="2024-03-11T13:30:00Z", open=1, high=1, low=1, close=1, volume=1),  # type: ignore[arg-type]
        BarRow(symbol="AAPL", ts="2024-03-11T14:00:00Z", open=1, high=1, low=1, close=1, volume=1),  # type: ignore[arg-type]
        BarRow(symbol="BTCUSD", ts="2024-03-11T14:00:00Z", open=1, high=1, low=1, close=1, volume=1),  # type: ignore[arg-type]
    ]
    parsed = bar_batch.columns_from_rows(rows, None, Timeframe.H1)
    found, total = bar_batch.find_problems(
        parsed.columns, Timeframe.H1, {"AAPL", "BTCUSD"}, BarLimits(), NOW, {"AAPL": XNYS}
    )
    assert (rows_of(found), total) == ([2, 3], 2)


def test_many_misaligned_rows_are_counted_but_only_some_are_listed() -> None:
    stamps = [f"2024-03-11T{13 + i // 60:02d}:{i % 60:02d}:30Z" for i in range(300)]
    rows = [BarRow(ts=t, open=1, high=1, low=1, close=1, volume=1) for t in stamps]  # type: ignore[arg-type]
    parsed = bar_batch.columns_from_rows(rows, "AAPL", Timeframe.M1)
    found, total = bar_batch.find_problems(
        parsed.columns, Timeframe.M1, {"AAPL"}, BarLimits(), NOW, {"AAPL": XNYS}
    )
    assert total == 300
    assert len(found) == bar_batch.MAX_PROBLEMS


@pytest.mark.parametrize(
    ("given", "stored"), [("nasdaq", "NASDAQ"), (" XNYS ", "XNYS"), ("", ""), ("crypto", "CRYPTO")]
)
def test_register_symbol_accepts_known_exchanges(given: str, stored: str) -> None:
    assert RegisterSymbol(symbol="AAPL", exchange=given).exchange == stored


def test_register_symbol_refuses_an_unknown_exchange_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError) as raised:
        RegisterSymbol(symbol="AAPL", exchange="Moon Exchange")
    error: dict[str, Any] = raised.value.errors()[0]
    assert error["loc"] == ("exchange",)
    assert "unknown exchange 'MOON EXCHANGE'" in error["msg"]
    assert "XNYS" in error["msg"]
    assert "NASDAQ" in error["msg"]


def test_a_listing_knows_its_calendar() -> None:
    listing = Listing(symbol="AAPL", exchange="NASDAQ", registered_at=NOW)
    assert listing.session_calendar() is XNYS
    assert listing.model_dump()["calendar"] == "XNYS"
    assert Listing(symbol="BTCUSD", exchange="CRYPTO", registered_at=NOW).calendar == "24/7"
    assert Listing(symbol="AAPL", registered_at=NOW).session_calendar() is None
    # A listing stored before exchanges were checked keeps loading, without a calendar.
    legacy = Listing.model_validate(
        {"symbol": "VOD", "exchange": "LSE", "registered_at": NOW, "calendar": "?"}
    )
    assert legacy.session_calendar() is None
    assert legacy.calendar is None


def test_sessions_to_follow_are_those_of_the_bars_held() -> None:
    listing = Listing(symbol="AAPL", exchange="NYSE", registered_at=NOW).covering(
        Timeframe.M1, datetime(2024, 3, 8, 14, 30, tzinfo=UTC), datetime(2024, 3, 11, 19, 59, tzinfo=UTC), 780
    )
    windows = listing.sessions_to_follow(Timeframe.H1, EPOCH, FOREVER)
    assert windows is not None
    assert [d.date().isoformat() for d in windows.days] == ["2024-03-07", "2024-03-08", "2024-03-11"]
    assert windows.opens[1:] == (
        datetime(2024, 3, 8, 14, 30, tzinfo=UTC),
        datetime(2024, 3, 11, 13, 30, tzinfo=UTC),
    )
    assert windows.closes[2] == datetime(2024, 3, 11, 20, tzinfo=UTC)
    assert (
        Listing(symbol="BTCUSD", exchange="CRYPTO", registered_at=NOW).sessions_to_follow(
            Timeframe.H1, EPOCH, FOREVER
        )
        is None
    )


def test_session_ranges_of_a_read() -> None:
    # The first hourly bar at or after a moment, and what a read up to a moment stops before.
    assert session_ceil(XNYS, Timeframe.H1, datetime(2024, 3, 11, 13, 31, tzinfo=UTC)) == datetime(
        2024, 3, 11, 14, 30, tzinfo=UTC
    )
    assert session_ceil(XNYS, Timeframe.H1, datetime(2024, 3, 8, 20, 31, tzinfo=UTC)) == datetime(
        2024, 3, 11, 13, 30, tzinfo=UTC
    )
    assert session_ceil(XNYS, Timeframe.H1, datetime(2024, 3, 11, 13, 30, tzinfo=UTC)) == datetime(
        2024, 3, 11, 13, 30, tzinfo=UTC
    )
    assert session_end_exclusive(XNYS, Timeframe.H1, datetime(2024, 3, 11, 13, 45, tzinfo=UTC)) == datetime(
        2024, 3, 11, 14, 30, tzinfo=UTC
    )
    after_hours = datetime(2024, 3, 11, 22, tzinfo=UTC)
    assert session_end_exclusive(XNYS, Timeframe.H1, after_hours) == after_hours + timedelta(microseconds=1)
    assert session_end_exclusive(XNYS, Timeframe.H1, None) == FOREVER
