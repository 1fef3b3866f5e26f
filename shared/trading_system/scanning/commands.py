from __future__ import annotations

from typing import Literal

from pydantic import Field

from trading_system.kernel.messages import Command
from trading_system.scanning.domain import ExternalSignal, ScannerDefinition


class CreateScanner(Command):
    definition: ScannerDefinition


class UpdateScanner(Command):
    scanner_id: str = Field(min_length=1, max_length=64)
    definition: ScannerDefinition


class DeleteScanner(Command):
    scanner_id: str = Field(min_length=1, max_length=64)


class RunScanner(Command):
    scanner_id: str = Field(min_length=1, max_length=64)
    trigger: Literal["manual", "schedule", "refresh"] = "manual"


class RunScheduledScanner(Command):
    """A scanner's own schedule fired (catalog: run_scheduled_scanner)."""

    scanner_id: str = Field(min_length=1, max_length=64)


class SyncScannerSchedules(Command):
    """Make the timetable hold exactly the schedules of the enabled, scheduled scanners: after a
    restore of the table, or for scanners made before schedules lived in a timetable."""


class CompactSignalLog(Command):
    """Merge the signal log's files of the days that are over (catalog: compact_signal_log_nightly)."""

    # No merge starts after this long, well within the function's 15 minutes: a long backlog (a
    # log older than its compaction) is worked off night after night instead of timing out.
    budget_s: float = Field(default=600, gt=0, le=840)


class RaiseSignal(Command):
    """A signal of an external scanner, from outside: a webhook's alert, or a user's own tool."""

    scanner_id: str = Field(min_length=1, max_length=64)
    signal: ExternalSignal
