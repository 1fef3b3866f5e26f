"""What every background job shares (backtests, sweeps, backfills): who asked when, and one
lifecycle.

    queued --start--> running --complete--> completed
                         \\------fail-----> failed

Only a completed job has results; a failed one keeps its error. A job left `running` for longer
than any run can last (its function died) may be started again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from trading_system.kernel.errors import Conflict

STALE_AFTER = timedelta(minutes=20)  # a run older than the Lambda's 15-minute limit has died


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Job(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: JobStatus = JobStatus.QUEUED
    submitted_at: datetime
    submitted_by: str  # the key that submitted it, for the audit trail
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        """The id the job is stored and addressed by."""
        raise NotImplementedError

    @property
    def job_id(self) -> str:
        """How messages name it: `backtest bt_...`."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.FAILED)

    def runnable(self, now: datetime) -> bool:
        """Queued, or running for longer than any run can last (its function died)."""
        if self.status is JobStatus.QUEUED:
            return True
        stale = self.started_at is not None and now - self.started_at > STALE_AFTER
        return self.status is JobStatus.RUNNING and stale

    def start(self, now: datetime) -> Self:
        if not self.runnable(now):
            raise Conflict(f"{self.job_id} is {self.status.value}, it cannot start")
        return self.model_copy(update={"status": JobStatus.RUNNING, "started_at": now})

    def fail(self, error: str, now: datetime) -> Self:
        self._must_be_running()
        return self.model_copy(update={"status": JobStatus.FAILED, "finished_at": now, "error": error[:2000]})

    def _completed(self, now: datetime, **results: Any) -> Self:
        self._must_be_running()
        return self.model_copy(update={"status": JobStatus.COMPLETED, "finished_at": now, **results})

    def _must_be_running(self) -> None:
        if self.status is not JobStatus.RUNNING:
            raise Conflict(f"{self.job_id} is {self.status.value}, not running")
