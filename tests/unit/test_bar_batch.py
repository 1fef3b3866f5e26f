"""The bar rules, checked on columns without any I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest

from trading_system.market_data.bar_batch import (
    MAX_PROBLEMS,
    BarColumns,
    bar_start,
    columns_from_rows,
    find_problems,
    ranges_by_symbol,
)
from trading_system.market_data.commands import BarRow
from trading_system.market_data.domain import BarLimits, Timeframe

DAY_US = 86_400_000_000
T0 = int(datetime(2024, 1, 2, tzinfo=UTC).timestamp()) * 1_000_000

LIMITS = BarLimits()
NOW = datetime.now(UTC)  # the batches here are history: none starts in the future


def batch(n: int = 3, symbols: tuple[str, ...] = ("AAPL",), **overrides: object) -> BarColumns:
    base: dict[str, object] = {
        "row": np.arange(1, n + 1, dtype=np.int64),
        "symbols": symbols,
        "symbol_code": np.zeros(n, dtype=np.int64),
        "ts_us": T0 + np.arange(n, dtype=np.int64) * DAY_US,
        "ts_valid": np.ones(n, dtype=np.bool_),
        "open": np.full(n, 10.0),
        "high": np.full(n, 11.0),
        "low": np.full(n, 9.0),
        "close": np.full(n, 10.5),
        "volume": np.full(n, 100.0),
    }
    base.update(overrides)
    return BarColumns(**base)  # type: ignore[arg-type]


def reasons(
    columns: BarColumns, timeframe: Timeframe = Timeframe.D1, known: set[str] | None = None
) -> list[tuple[int | None, str | None, str]]:
    symbols = known if known is not None else {"AAPL", "MSFT"}
    problems, _ = find_problems(columns, timeframe, symbols, LIMITS, NOW)
    return [(p.row, p.field, p.reason) for p in problems]


def test_a_clean_batch_has_no_problems() -> None:
    assert reasons(batch()) == []


def test_an_empty_batch_is_rejected() -> None:
    assert reasons(batch(0)) == [(None, None, "the batch has no bars")]


@pytest.mark.parametrize(
    ("field", "values", "row", "expected"),
    [
        ("high", [11.0, 10.2, 11.0], 2, "high is below max(open, close)"),
        ("low", [9.0, 9.0, 10.4], 3, "low is above min(open, close)"),
        ("volume", [100.0, -1.0, 100.0], 2, "volume must not be negative"),
        ("open", [0.0, 10.0, 10.0], 1, "open must be greater than 0"),
        ("close", [10.5, np.inf, 10.5], 2, "close is not finite"),
    ],
)
def test_each_price_rule_names_the_row_and_field(
    field: str, values: list[float], row: int, expected: str
) -> None:
    found = reasons(batch(**{field: np.array(values)}))
    assert (row, field, expected) in found


def test_high_below_low_is_reported() -> None:
    found = reasons(batch(high=np.array([11.0, 8.0, 11.0]), low=np.array([9.0, 9.0, 9.0])))
    assert (2, "high", "high is below low") in found


def test_timestamps_must_be_aligned_to_the_timeframe() -> None:
    ts = T0 + np.array([0, 3_600_000_000 * 14 + 1_800_000_000, DAY_US * 2], dtype=np.int64)
    found = reasons(batch(ts_us=ts), Timeframe.D1)
    assert [(r, f) for r, f, _ in found] == [(2, "ts")]
    assert "not aligned to the 1d timeframe" in found[0][2]
    hourly = T0 + np.array([0, 3_600_000_000, 3_600_000_000 * 2 + 60_000_000], dtype=np.int64)
    assert [r for r, _, _ in reasons(batch(ts_us=hourly), Timeframe.H1)] == [3]
    assert reasons(batch(2, ts_us=hourly[:2]), Timeframe.H1) == []


def test_duplicates_name_both_rows() -> None:
    ts = np.array([T0, T0 + DAY_US, T0], dtype=np.int64)
    found = reasons(batch(ts_us=ts))
    assert found == [(3, "ts", "duplicate bar for AAPL at 2024-01-02T00:00:00Z (same as row 1)")]


def test_the_same_timestamp_for_two_symbols_is_not_a_duplicate() -> None:
    columns = batch(2, ("AAPL", "MSFT"), symbol_code=np.array([0, 1]), ts_us=np.array([T0, T0]))
    assert reasons(columns) == []


def test_unknown_symbols_are_reported_once_with_their_first_row() -> None:
    columns = batch(3, ("AAPL", "ZZZ"), symbol_code=np.array([0, 1, 1]))
    found = reasons(columns, known={"AAPL"})
    assert len(found) == 1
    row, field, reason = found[0]
    assert (row, field) == (2, "symbol")
    assert "unknown symbol 'ZZZ' (2 rows)" in reason


def test_rows_that_failed_parsing_are_not_checked_again() -> None:
    columns = batch(
        ts_valid=np.array([True, False, True]),
        ts_us=np.array([T0, 0, T0 + DAY_US]),
        high=np.array([11.0, np.nan, 11.0]),
    )
    assert reasons(columns) == []


def test_problems_are_capped_but_counted() -> None:
    n = 500
    columns = batch(n, volume=np.full(n, -1.0), ts_us=T0 + np.arange(n, dtype=np.int64) * DAY_US)
    problems, total = find_problems(columns, Timeframe.D1, {"AAPL"}, LIMITS, NOW)
    assert len(problems) == MAX_PROBLEMS
    assert total == n


def test_many_duplicates_are_counted() -> None:
    n = 300
    columns = batch(n, ts_us=np.full(n, T0, dtype=np.int64))
    problems, total = find_problems(columns, Timeframe.D1, {"AAPL"}, LIMITS, NOW)
    assert total == n - 1
    assert len(problems) == MAX_PROBLEMS


def test_ranges_by_symbol() -> None:
    columns = batch(
        4, ("AAPL", "MSFT"), symbol_code=np.array([1, 0, 1, 1]), ts_us=T0 + np.array([3, 1, 0, 5]) * DAY_US
    )
    ranges = {r.symbol: (r.first, r.last, r.rows) for r in ranges_by_symbol(columns)}
    day0 = datetime(2024, 1, 2, tzinfo=UTC)
    assert ranges == {
        "AAPL": (day0 + timedelta(days=1), day0 + timedelta(days=1), 1),
        "MSFT": (day0, day0 + timedelta(days=5), 3),
    }


@pytest.mark.parametrize(
    ("value", "timeframe", "expected"),
    [
        (date(2024, 1, 2), Timeframe.D1, datetime(2024, 1, 2, tzinfo=UTC)),
        (
            datetime(2024, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
            Timeframe.D1,
            datetime(2024, 1, 2, tzinfo=UTC),
        ),
        (
            datetime(2024, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
            Timeframe.H1,
            datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
        ),
        (
            datetime(2024, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
            Timeframe.H1,
            datetime(2024, 1, 2, 5, 0, tzinfo=UTC),
        ),
        (datetime(2024, 1, 2, 14, 0), Timeframe.H1, datetime(2024, 1, 2, 14, 0, tzinfo=UTC)),
    ],
)
def test_bar_start_reads_vendor_conventions(
    value: datetime | date, timeframe: Timeframe, expected: datetime
) -> None:
    assert bar_start(value, timeframe) == expected


def test_columns_from_rows_uses_the_batch_symbol_and_flags_rows_without_one() -> None:
    rows = [
        BarRow(ts="2024-01-02", open=1, high=2, low=0.5, close=1.5, volume=1),
        BarRow(symbol="msft", ts="2024-01-03", open=1, high=2, low=0.5, close=1.5, volume=1),
    ]
    parsed = columns_from_rows(rows, "AAPL", Timeframe.D1)
    assert parsed.columns.symbols == ("AAPL", "MSFT")
    assert parsed.problem_count == 0
    unnamed = columns_from_rows(rows, None, Timeframe.D1)
    assert [(p.row, p.field) for p in unnamed.problems] == [(1, "symbol")]


def test_a_bar_later_than_now_plus_the_allowance_starts_in_the_future() -> None:
    columns = batch(3)  # days T0, T0+1, T0+2
    now = datetime.fromtimestamp((T0 + DAY_US) / 1e6, UTC)  # the second bar starts now
    problems, total = find_problems(columns, Timeframe.D1, {"AAPL"}, BarLimits(max_clock_skew_s=60), now)
    assert total == 1 and (problems[0].row, problems[0].field) == (3, "ts")
    assert "starts in the future" in problems[0].reason and "60 s" in problems[0].reason
    generous = BarLimits(max_clock_skew_s=86_400)
    assert find_problems(columns, Timeframe.D1, {"AAPL"}, generous, now)[1] == 0


def test_a_price_outside_the_configured_range_names_each_field() -> None:
    columns = batch(2, high=np.array([11.0, 2e9]), low=np.array([9.0, 1e-9]))
    found = reasons(columns)
    assert (2, "high", "high must be between 1e-08 and 1e+09 (min_bar_price, max_bar_price)") in found
    assert (2, "low", "low must be between 1e-08 and 1e+09 (min_bar_price, max_bar_price)") in found
    wide = BarLimits(min_price=1e-12, max_price=1e12)
    problems, _ = find_problems(columns, Timeframe.D1, {"AAPL"}, wide, NOW)
    assert not [p for p in problems if "between" in p.reason]
