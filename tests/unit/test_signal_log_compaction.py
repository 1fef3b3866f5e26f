"""The nightly CompactSignalLog compacts the signal log's days that are over, once the last scans
of a day have surely written their files (the log's own contract: tests/contract/test_signal_lake.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.fakes.clock import MovableClock
from trading_system.bootstrap import all_handlers
from trading_system.catalog import Every, by_name
from trading_system.kernel.schedule import Schedule
from trading_system.scanning.commands import CompactSignalLog
from trading_system.scanning.handlers import SIGNAL_LOG_SETTLE, compact_signal_log
from trading_system.scanning.ports import SignalLogCompaction

REPORT = SignalLogCompaction(days=1, days_left=0, files_merged=3, files_written=1, files_deleted=3)


class RecordingCompactor:
    def __init__(self) -> None:
        self.asked: list[tuple[date, float]] = []

    def compact(self, before: date, budget_s: float) -> SignalLogCompaction:
        self.asked.append((before, budget_s))
        return REPORT


@pytest.mark.parametrize(
    ("now", "before"),
    [
        # When the schedule fires: the 25th is over, and has been for longer than any scan runs.
        (datetime(2026, 11, 26, 1, 15, tzinfo=UTC), date(2026, 11, 26)),
        # Half an hour after midnight: a scan of the 25th may still be writing its files.
        (datetime(2026, 11, 26, 0, 30, tzinfo=UTC), date(2026, 11, 25)),
        # An evening in New York is the next day in UTC, whose days the log keeps.
        (datetime(2026, 11, 25, 22, 0, tzinfo=timezone(timedelta(hours=-5))), date(2026, 11, 26)),
    ],
)
def test_it_compacts_the_utc_days_over_for_longer_than_a_scan_runs(now: datetime, before: date) -> None:
    compactor = RecordingCompactor()
    handled = compact_signal_log(CompactSignalLog(budget_s=30), compactor, MovableClock(now))
    assert compactor.asked == [(before, 30)]
    assert handled.result == REPORT and handled.events == ()


def test_the_bus_sends_the_command_to_it_and_the_schedule_fires_once_yesterday_settled() -> None:
    assert all_handlers().command(CompactSignalLog) is compact_signal_log
    trigger = by_name()["compact_signal_log_nightly"].trigger
    assert isinstance(trigger, Every) and trigger.command == "CompactSignalLog" and trigger.timezone == "UTC"
    midnight = datetime(2026, 11, 26)
    fires = Schedule(trigger.expression).next_after(midnight)
    assert SIGNAL_LOG_SETTLE < fires - midnight < timedelta(days=1)
    # Its merges stop in time for the function to report before its timeout.
    assert CompactSignalLog().budget_s < by_name()["compact_signal_log_nightly"].timeout_s - 60
