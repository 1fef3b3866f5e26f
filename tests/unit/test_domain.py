from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trading_system.kernel.errors import ValidationFailed
from trading_system.market_data.domain import Listing, Period, Timeframe, check_range, parse_symbol


@pytest.mark.parametrize(
    ("text", "expected"), [("aapl", "AAPL"), (" brk.b ", "BRK.B"), ("BTC-USD", "BTC-USD")]
)
def test_symbols_are_normalised(text: str, expected: str) -> None:
    assert parse_symbol(text) == expected


@pytest.mark.parametrize("text", ["", "../etc", "A//B", "A B", "-X", "X" * 21, "AAPL'; DROP"])
def test_symbols_that_could_not_be_a_path_segment_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid symbol"):
        parse_symbol(text)


def test_timeframe_arithmetic() -> None:
    ts = datetime(2024, 1, 2, 14, 37, 12, tzinfo=UTC)
    assert Timeframe.H1.floor(ts) == datetime(2024, 1, 2, 14, tzinfo=UTC)
    assert Timeframe.H1.ceil(ts) == datetime(2024, 1, 2, 15, tzinfo=UTC)
    assert Timeframe.M15.floor(ts) == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert Timeframe.D1.ceil(datetime(2024, 1, 2, tzinfo=UTC)) == datetime(2024, 1, 2, tzinfo=UTC)
    assert Timeframe.M5.is_aligned(datetime(2024, 1, 2, 14, 35, tzinfo=UTC))
    assert not Timeframe.M5.is_aligned(datetime(2024, 1, 2, 14, 36, tzinfo=UTC))


def test_finer_timeframes_come_coarsest_first() -> None:
    assert Timeframe.D1.finer() == [Timeframe.H1, Timeframe.M15, Timeframe.M5, Timeframe.M1]
    assert Timeframe.M1.finer() == []


def test_partitions_keep_files_large() -> None:
    ts = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    assert Timeframe.M1.period.of(ts) == "2026-11"
    assert Timeframe.H1.period.of(ts) == "2026-11"
    assert Timeframe.D1.period.of(ts) == "2026"


def test_coverage_widens_and_counts() -> None:
    listing = Listing(symbol="AAPL", registered_at=datetime(2026, 1, 1, tzinfo=UTC))
    day = datetime(2024, 1, 2, tzinfo=UTC)
    later = datetime(2024, 3, 1, tzinfo=UTC)
    earlier = datetime(2023, 12, 1, tzinfo=UTC)
    covered = listing.covering(Timeframe.D1, day, later, 40).covering(Timeframe.D1, earlier, day, 20)
    coverage = covered.coverage[Timeframe.D1]
    assert (coverage.first, coverage.last, coverage.bars_ingested) == (earlier, later, 60)
    assert listing.coverage == {}


def test_a_range_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValidationFailed, match="start is after end"):
        check_range(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    check_range(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("period", "key", "first", "after"),
    [
        (Period.MONTH, "2024-12", datetime(2024, 12, 1), datetime(2025, 1, 1)),
        (Period.MONTH, "2024-02", datetime(2024, 2, 1), datetime(2024, 3, 1)),
        (Period.DAY, "2024-02-29", datetime(2024, 2, 29), datetime(2024, 3, 1)),
        (Period.YEAR, "2024", datetime(2024, 1, 1), datetime(2025, 1, 1)),
    ],
)
def test_a_period_key_spans_from_its_first_instant_to_the_next_periods(
    period: Period, key: str, first: datetime, after: datetime
) -> None:
    assert period.span(key) == (first.replace(tzinfo=UTC), after.replace(tzinfo=UTC))
    assert period.of(first) == key and period.of(after) != key
