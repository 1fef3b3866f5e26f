from __future__ import annotations

from datetime import datetime

import pytest

from trading_system.kernel.schedule import Schedule, ScheduleError


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", datetime(2026, 11, 24, 7, 3), datetime(2026, 11, 24, 7, 8)),
        ("rate(1 hour)", datetime(2026, 11, 24, 7, 3), datetime(2026, 11, 24, 8, 3)),
        ("rate(2 days)", datetime(2026, 11, 24, 7, 3), datetime(2026, 11, 26, 7, 3)),
        ("cron(30 0 * * ? *)", datetime(2026, 11, 24, 7, 0), datetime(2026, 11, 25, 0, 30)),
        # AWS counts days of the week 1-7 from Sunday; 2026-11-28 is a Saturday.
        ("cron(0 21 ? * MON-FRI *)", datetime(2026, 11, 28, 7, 0), datetime(2026, 11, 30, 21, 0)),
        ("cron(0 21 ? * 2-6 *)", datetime(2026, 11, 28, 7, 0), datetime(2026, 11, 30, 21, 0)),
        ("cron(0 12 ? * 1 *)", datetime(2026, 11, 24, 7, 0), datetime(2026, 11, 29, 12, 0)),
        ("cron(0/15 * * * ? *)", datetime(2026, 11, 24, 7, 1), datetime(2026, 11, 24, 7, 15)),
    ],
)
def test_expressions_mean_what_eventbridge_means(
    expression: str, after: datetime, expected: datetime
) -> None:
    assert Schedule(expression).next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("every 5 minutes", "is not a schedule"),
        ("rate(0 minutes)", "at least 1"),
        ("cron(0 12 * *)", "6 fields"),
        ("cron(0 12 L * ? *)", "not supported"),
        ("cron(0 12 * * ? 2027)", "year"),
    ],
)
def test_bad_expressions_are_refused_with_a_reason(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule(expression)
