"""Backtests and sweeps as jobs: asked for, run once, then kept with their results or their error.

    queued --start--> running --complete--> completed
                         \\------fail-----> failed

Only a completed job has results; a failed one keeps its error and no results, so a half-written
run never looks complete. The job document is written last, after the results it points to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

from trading_system.kernel.errors import Conflict
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.market_data.domain import Timeframe
from trading_system.strategies.commands import BacktestRequest, SweepRequest

STALE_AFTER = timedelta(minutes=20)  # a run older than the Lambda's 15-minute limit has died


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


class Job(BaseModel):
    """What backtests and sweeps share: who asked when, and the state machine above."""

    model_config = ConfigDict(frozen=True)

    strategy_name: str  # the strategy's registered name, as resolved when the job was submitted
    kind: Literal["python", "rules"] = "python"
    status: JobStatus = JobStatus.QUEUED
    # The user whose job it is (its results included): a job stored before users existed is the
    # first admin's. `submitted_by` is the key that submitted it, for the audit trail.
    owner: str = FIRST_ADMIN
    submitted_at: datetime
    submitted_by: str
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

    def _no_results(self) -> Conflict:
        reason = f"{self.job_id} is {self.status.value}: it has no results"
        return Conflict(reason + (f" ({self.error})" if self.error else ""))

    def _must_be_running(self) -> None:
        if self.status is not JobStatus.RUNNING:
            raise Conflict(f"{self.job_id} is {self.status.value}, not running")


class BacktestJob(Job):
    backtest_id: str
    request: BacktestRequest
    params: dict[str, Any]  # every parameter, defaults included: the job reruns from these alone
    universe_rules: list[str] | None = None  # the universe scanner's rules, as submitted
    # An external universe scanner's id: the signals it had raised when the backtest was submitted
    # are its universe by date (it has no rules to evaluate).
    universe_signals_of: str | None = None
    outcome: BacktestOutcome | None = None

    @property
    def key(self) -> str:
        return self.backtest_id

    @property
    def job_id(self) -> str:
        return f"backtest {self.backtest_id}"

    def complete(self, outcome: BacktestOutcome, now: datetime) -> BacktestJob:
        return self._completed(now, outcome=outcome)

    def require_results(self) -> BacktestOutcome:
        if self.outcome is None:
            raise self._no_results()
        return self.outcome


class SweepOutcome(BaseModel):
    """What a finished sweep ran on and its best combinations (every backtest's statistics are
    in the lake)."""

    model_config = ConfigDict(frozen=True)

    symbols: list[str]
    bars: dict[str, int]
    backtests: int
    vectorised: int  # backtests run on the vectorised path (the rest by the event-driven engine)
    profile: dict[str, Any]
    code_version: str
    data_fingerprint: str
    best: list[dict[str, Any]]  # the top of the ranking by the request's statistic


class SweepJob(Job):
    sweep_id: str
    request: SweepRequest
    base_params: dict[str, Any]  # what every combination starts from (a rule strategy's rules)
    combinations: list[dict[str, Any]]  # the swept values of each valid combination, in order
    skipped: list[dict[str, Any]]  # combinations the strategy's parameters refused, with why
    outcome: SweepOutcome | None = None

    @property
    def key(self) -> str:
        return self.sweep_id

    @property
    def job_id(self) -> str:
        return f"sweep {self.sweep_id}"

    def complete(self, outcome: SweepOutcome, now: datetime) -> SweepJob:
        return self._completed(now, outcome=outcome)

    def require_results(self) -> SweepOutcome:
        if self.outcome is None:
            raise self._no_results()
        return self.outcome
