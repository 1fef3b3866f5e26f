"""The record of scheduled runs: each attempt of a catalog schedule (`Every`) or of a timetable's
schedule (`Timetabled`), and each function's status, so that a failing schedule is seen (the
dashboard's Schedules panel, `GET /v1/schedules`) rather than only logged.

Kept in the write store (SQLite locally, DynamoDB in AWS): adapters/schedule_runs.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ScheduleRun(BaseModel):
    """One attempt of a scheduled function."""

    run_id: str  # sorts newest first (kernel.clock.newest_first_id)
    function: str
    command: str  # the command class the schedule sends
    input: dict[str, str] = Field(default_factory=dict)  # a timetabled run's item: {key: id}
    invocation: str  # the firing this attempt belongs to: its retries share it
    attempt: int = Field(ge=1)
    started_at: datetime
    finished_at: datetime
    status: RunStatus
    error: str | None = None  # kernel.errors.describe_failure of what it raised

    @property
    def failed(self) -> bool:
        return self.status is RunStatus.FAILED


class ScheduleStatus(BaseModel):
    """A scheduled function's standing: its last run, its last failure, and how many runs have
    failed since its last success (0: healthy)."""

    function: str
    last_run: ScheduleRun
    last_success_at: datetime | None = None
    last_failure: ScheduleRun | None = None
    failures_since_success: int = 0

    def after(self, run: ScheduleRun) -> ScheduleStatus:
        if run.failed:
            return self.model_copy(
                update={
                    "last_run": run,
                    "last_failure": run,
                    "failures_since_success": self.failures_since_success + 1,
                }
            )
        return self.model_copy(
            update={"last_run": run, "last_success_at": run.finished_at, "failures_since_success": 0}
        )

    @classmethod
    def first(cls, run: ScheduleRun) -> ScheduleStatus:
        return cls(
            function=run.function,
            last_run=run,
            last_success_at=None if run.failed else run.finished_at,
            last_failure=run if run.failed else None,
            failures_since_success=1 if run.failed else 0,
        )


class ScheduleRuns(Protocol):
    """Where scheduled runs are recorded (adapters/schedule_runs.py)."""

    def record(self, run: ScheduleRun) -> ScheduleStatus:
        """Keep the run (the function's oldest beyond the kept few go) and update its status."""

    def statuses(self, functions: Iterable[str]) -> dict[str, ScheduleStatus]:
        """The status of each function that has run at least once."""

    def runs(self, function: str, limit: int = 20) -> list[ScheduleRun]:
        """The function's latest runs, newest first."""
