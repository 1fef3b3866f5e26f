"""A backtest as a job: asked for, run once, then kept with its results or its error.

    queued --start--> running --complete--> completed
                         \\------fail-----> failed

Only a completed job has results; a failed one keeps its error and no results, so a half-written
run never looks complete. The job document is written last, after the results it points to.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from trading_system.kernel.errors import Conflict
from trading_system.market_data.domain import Timeframe
from trading_system.strategies.commands import BacktestRequest

STALE_AFTER = timedelta(minutes=20)  # a run older than the Lambda's 15-minute limit has died


def new_backtest_id() -> str:
    """`bt_` and 26 characters whose ascending order is newest first (nanoseconds counted down
    from 2286, then randomness), so the store's key order is the listing's order."""
    return f"bt_{10**19 - 1 - time.time_ns():019d}{os.urandom(4).hex()[:7]}"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class BacktestOutcome(BaseModel):
    """What a finished run ran on and found (the trades and the equity curve are in the lake)."""

    model_config = ConfigDict(frozen=True)

    symbols: list[str]
    source_timeframe: Timeframe
    start: datetime
    end: datetime
    bars: int
    profile: dict[str, Any]
    code_version: str
    data_fingerprint: str
    stats: dict[str, Any]
    trades: int
    open_trades: int


class BacktestJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    backtest_id: str
    request: BacktestRequest
    strategy_name: str  # the strategy's registered name, as resolved when the job was submitted
    kind: Literal["python", "rules"] = "python"
    params: dict[str, Any]  # every parameter, defaults included: the job reruns from these alone
    universe_rules: list[str] | None = None  # the universe scanner's rules, as submitted
    status: JobStatus = JobStatus.QUEUED
    submitted_at: datetime
    submitted_by: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    outcome: BacktestOutcome | None = None

    def runnable(self, now: datetime) -> bool:
        """Queued, or running for longer than any run can last (its function died)."""
        if self.status is JobStatus.QUEUED:
            return True
        return (
            self.status is JobStatus.RUNNING
            and self.started_at is not None
            and now - self.started_at > STALE_AFTER
        )

    def start(self, now: datetime) -> BacktestJob:
        if not self.runnable(now):
            raise Conflict(f"backtest {self.backtest_id} is {self.status.value}, it cannot start")
        return self.model_copy(update={"status": JobStatus.RUNNING, "started_at": now})

    def complete(self, outcome: BacktestOutcome, now: datetime) -> BacktestJob:
        self._must_be_running()
        return self.model_copy(update={"status": JobStatus.COMPLETED, "finished_at": now, "outcome": outcome})

    def fail(self, error: str, now: datetime) -> BacktestJob:
        self._must_be_running()
        return self.model_copy(update={"status": JobStatus.FAILED, "finished_at": now, "error": error[:2000]})

    def require_results(self) -> BacktestOutcome:
        if self.outcome is None:
            reason = f"backtest {self.backtest_id} is {self.status.value}: it has no results"
            if self.error:
                reason += f" ({self.error})"
            raise Conflict(reason)
        return self.outcome

    def _must_be_running(self) -> None:
        if self.status is not JobStatus.RUNNING:
            raise Conflict(f"backtest {self.backtest_id} is {self.status.value}, not running")
