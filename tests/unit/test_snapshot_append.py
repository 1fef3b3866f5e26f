"""The snapshot history's vectorised append (adapters/analytics_lake.py `_append`) against the
plain rule, one bar at a time: a bar after its row's latest shifts the row left and lands last, a
bar at the latest replaces it, anything older (or a repeat within the delta) refuses the delta."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_system.adapters.analytics_lake import _append

NAMES = ("ts_us", "open", "high", "low", "close", "volume")


def one_at_a_time(arrays: dict[str, np.ndarray], rows: list[int], bars: list[tuple[int, float]]) -> bool:
    for row, (ts, price) in zip(rows, bars, strict=True):
        latest = arrays["ts_us"][row, -1]
        if ts < latest:
            return False
        for name, matrix in arrays.items():
            value = ts if name == "ts_us" else price
            if ts > latest:
                matrix[row, :-1] = matrix[row, 1:].copy()
            matrix[row, -1] = value
    return True


def matrices(latest: list[int], width: int) -> dict[str, np.ndarray]:
    """Rows whose last `k` cells hold bars one apart, ending at each row's latest (0: empty row)."""
    arrays = {n: np.zeros((len(latest), width), dtype=np.int64) for n in ("ts_us",)}
    arrays |= {n: np.full((len(latest), width), np.nan) for n in NAMES[1:]}
    for row, last in enumerate(latest):
        if last:
            cells = min(width, last)
            arrays["ts_us"][row, width - cells :] = np.arange(last - cells + 1, last + 1)
            for name in NAMES[1:]:
                arrays[name][row, width - cells :] = np.arange(last - cells + 1, last + 1) / 10
    return arrays


@st.composite
def deltas(draw: st.DrawFn) -> tuple[list[int], int, list[int], list[tuple[int, float]]]:
    width = draw(st.integers(1, 6))
    latest = draw(st.lists(st.sampled_from([0, 3, 10, 20]), min_size=1, max_size=4))
    rows: list[int] = []
    bars: list[tuple[int, float]] = []
    for row in sorted(draw(st.sets(st.integers(0, len(latest) - 1)))):
        stamps = draw(st.lists(st.integers(0, 30), max_size=12, unique=True))
        for ts in sorted(stamps):
            rows.append(row)
            bars.append((ts, ts / 7))
    return latest, width, rows, bars


Case = tuple[list[int], int, list[int], list[tuple[int, float]]]  # latest per row, width, rows, bars


@settings(max_examples=300, deadline=None)
@given(deltas())
def test_the_vectorised_append_is_the_one_bar_at_a_time_rule(case: Case) -> None:
    assert_as_one_bar_at_a_time(case)


def assert_as_one_bar_at_a_time(case: Case) -> None:
    latest, width, rows, bars = case
    expected = matrices(latest, width)
    accepted = one_at_a_time(expected, rows, bars)
    actual = matrices(latest, width)
    values = {"ts_us": np.array([ts for ts, _ in bars], dtype=np.int64)}
    values |= {n: np.array([p for _, p in bars], dtype=np.float64) for n in NAMES[1:]}
    assert _append(actual, np.array(rows, dtype=np.int64), values) is accepted
    if accepted:
        for name in NAMES:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    else:
        untouched = matrices(latest, width)
        for name in NAMES:
            np.testing.assert_array_equal(actual[name], untouched[name], err_msg=name)


@st.composite
def even_deltas(draw: st.DrawFn) -> tuple[list[int], int, list[int], list[tuple[int, float]]]:
    """Deltas giving each row they touch the same number of new bars (as an end of day gives
    every symbol one), to every row or to some: the shift `_append` takes for them."""
    width = draw(st.integers(1, 6))
    latest = draw(st.lists(st.sampled_from([0, 3, 10, 20]), min_size=1, max_size=5))
    every = draw(st.booleans())
    touched = range(len(latest)) if every else sorted(draw(st.sets(st.integers(0, len(latest) - 1))))
    k = draw(st.integers(1, width + 1))
    rows: list[int] = []
    bars: list[tuple[int, float]] = []
    for row in touched:
        for ts in range(latest[row] + 1, latest[row] + 1 + k):
            rows.append(row)
            bars.append((ts, ts / 7))
    return latest, width, rows, bars


@settings(max_examples=200, deadline=None)
@given(even_deltas())
def test_rows_gaining_the_same_number_of_bars_shift_as_one_bar_at_a_time(case: Case) -> None:
    assert_as_one_bar_at_a_time(case)


def test_a_delta_repeating_a_bar_is_refused() -> None:
    arrays = matrices([3], 4)
    values = {"ts_us": np.array([5, 5], dtype=np.int64)} | {n: np.array([1.0, 2.0]) for n in NAMES[1:]}
    assert _append(arrays, np.array([0, 0]), values) is False


def test_ten_thousand_bars_of_one_symbol_keep_the_last_width() -> None:
    arrays = matrices([100, 50], 250)
    stamps = np.arange(101, 10_101, dtype=np.int64)
    values = {"ts_us": stamps} | dict.fromkeys(NAMES[1:], stamps / 10)
    assert _append(arrays, np.zeros(len(stamps), dtype=np.int64), values)
    np.testing.assert_array_equal(arrays["ts_us"][0], np.arange(9_851, 10_101))
    np.testing.assert_array_equal(arrays["close"][0], np.arange(9_851, 10_101) / 10)
    np.testing.assert_array_equal(arrays["ts_us"][1], matrices([100, 50], 250)["ts_us"][1])  # untouched
