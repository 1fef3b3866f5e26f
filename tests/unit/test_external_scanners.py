"""External scanners: a kind with no rules and no schedule, whose signals come from outside, each
of the bar its moment falls in, aligned as the symbol's bars are (its session's, or the UTC grid)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from trading_system.market_data.domain import Listing, Timeframe
from trading_system.scanning.domain import ScannerDefinition

NOW = datetime(2026, 12, 6, tzinfo=UTC)
NYSE = Listing(symbol="AAPL", exchange="NYSE", registered_at=NOW)
COIN = Listing(symbol="BTCUSD", exchange="CRYPTO", registered_at=NOW)
PLAIN = Listing(symbol="XYZ", registered_at=NOW)


def test_an_external_scanner_has_no_rules_no_schedule_and_never_runs_on_a_refresh() -> None:
    external = ScannerDefinition(name="tv", kind="external")
    assert external.is_external and external.rules == [] and external.run_on_refresh is False
    with pytest.raises(ValidationError, match="an external scanner has none"):
        ScannerDefinition(name="tv", kind="external", rules=["close > 1"])
    with pytest.raises(ValidationError, match="an external scanner is never run"):
        ScannerDefinition(name="tv", kind="external", schedule="rate(5 minutes)")


def test_a_rules_scanner_still_needs_a_rule() -> None:
    assert ScannerDefinition(name="x", rules=["close > 1"]).kind == "rules"
    with pytest.raises(ValidationError, match="a rules scanner needs at least one rule"):
        ScannerDefinition(name="x")
    with pytest.raises(ValidationError, match="kind"):
        ScannerDefinition.model_validate({"name": "x", "kind": "webhook"})


@pytest.mark.parametrize(
    ("moment", "timeframe", "bar"),
    [
        # Winter: New York is UTC-5, the session opens 14:30 UTC; hourly bars start at :30.
        ("2026-12-04T15:10:00+00:00", Timeframe.H1, "2026-12-04T14:30:00+00:00"),
        ("2026-12-04T16:29:59+00:00", Timeframe.H1, "2026-12-04T15:30:00+00:00"),
        ("2026-12-04T14:44:00+00:00", Timeframe.M15, "2026-12-04T14:30:00+00:00"),
        # Summer (DST): the open is 13:30 UTC.
        ("2026-07-15T13:45:00+00:00", Timeframe.H1, "2026-07-15T13:30:00+00:00"),
        # A daily bar is the session, stamped with its date.
        ("2026-12-04T20:59:00+00:00", Timeframe.D1, "2026-12-04T00:00:00+00:00"),
        # Outside the session (a Saturday, after the close): the UTC grid, as such bars are.
        ("2026-12-05T15:10:00+00:00", Timeframe.H1, "2026-12-05T15:00:00+00:00"),
        ("2026-12-04T22:10:00+00:00", Timeframe.H1, "2026-12-04T22:00:00+00:00"),
    ],
)
def test_a_moment_falls_in_the_symbols_session_aligned_bar(
    moment: str, timeframe: Timeframe, bar: str
) -> None:
    assert NYSE.bar_of(timeframe, datetime.fromisoformat(moment)) == datetime.fromisoformat(bar)


def test_around_the_clock_and_calendar_less_symbols_use_the_utc_grid() -> None:
    moment = datetime(2026, 12, 5, 15, 10, 42, tzinfo=UTC)
    for listing in (COIN, PLAIN):
        assert listing.bar_of(Timeframe.H1, moment) == datetime(2026, 12, 5, 15, tzinfo=UTC)
        assert listing.bar_of(Timeframe.M5, moment) == datetime(2026, 12, 5, 15, 10, tzinfo=UTC)
        assert listing.bar_of(Timeframe.D1, moment) == datetime(2026, 12, 5, tzinfo=UTC)
