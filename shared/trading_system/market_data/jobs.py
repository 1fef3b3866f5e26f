"""Backfills as jobs: asked for over HTTP, run in the background, kept with their report or error.

    queued --start--> running --complete--> completed
      ^                  |  \\------fail-----> failed
      \\----continue-----/   (its time budget used up: it goes on in a fresh invocation)

A run that has used its time budget saves how far it got and queues itself again: the backfill's
own checkpoints make the next run resume where this one stopped, so a backfill longer than one
Lambda invocation (15 minutes at most) still finishes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field

from trading_system.kernel.errors import Conflict
from trading_system.market_data.commands import BackfillBars
from trading_system.market_data.domain import Timeframe

STALE_AFTER = timedelta(minutes=20)  # a run older than the Lambda's 15-minute limit has died


class SymbolBackfill(BaseModel):
    symbol: str
    bars: int  # ingested by this run
    pages: int
    resumed_from: datetime | None  # where an earlier, interrupted run had stopped
    through: datetime  # every bar starting before this is in the lake
    empty: bool  # the provider had no bar in the range (a wrong symbol at Alpaca looks so)
    corporate_actions: int = 0  # splits and dividends in the range newly recorded (from Alpaca)


class BackfillReport(BaseModel):
    provider: str
    timeframe: Timeframe
    start: datetime
    end: datetime  # exclusive
    bars: int
    symbols: list[SymbolBackfill]


class BackfillStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class BackfillJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    backfill_id: str
    request: BackfillBars
    status: BackfillStatus = BackfillStatus.QUEUED
    submitted_at: datetime
    submitted_by: str  # the key that submitted it, for the audit trail
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runs: int = 0  # invocations so far: more than one when a run used up its time budget
    bars_by_symbol: dict[str, int] = Field(default_factory=dict)
    report: BackfillReport | None = None  # a completed job's, counting every run's bars
    error: str | None = None

    @computed_field(description="bars ingested so far by this job")  # type: ignore[prop-decorator]
    @property
    def bars(self) -> int:
        return sum(self.bars_by_symbol.values())

    @property
    def key(self) -> str:
        """The id the job is stored and addressed by."""
        return self.backfill_id

    @property
    def job_id(self) -> str:
        return f"backfill {self.backfill_id}"

    @property
    def finished(self) -> bool:
        return self.status in (BackfillStatus.COMPLETED, BackfillStatus.FAILED)

    def runnable(self, now: datetime) -> bool:
        """Queued, or running for longer than any run can last (its function died)."""
        if self.status is BackfillStatus.QUEUED:
            return True
        stale = self.started_at is not None and now - self.started_at > STALE_AFTER
        return self.status is BackfillStatus.RUNNING and stale

    def start(self, now: datetime) -> BackfillJob:
        if not self.runnable(now):
            raise Conflict(f"{self.job_id} is {self.status.value}, it cannot start")
        return self.model_copy(
            update={"status": BackfillStatus.RUNNING, "started_at": now, "runs": self.runs + 1}
        )

    def progressed(self, by_symbol: dict[str, int]) -> BackfillJob:
        """The bars a run ingested (per symbol) added to the job's."""
        merged = dict(self.bars_by_symbol)
        for symbol, bars in by_symbol.items():
            merged[symbol] = merged.get(symbol, 0) + bars
        return self.model_copy(update={"bars_by_symbol": merged})

    def requeue(self) -> BackfillJob:
        """Its time budget used up: queued again, to resume in the next invocation."""
        self._must_be_running()
        return self.model_copy(update={"status": BackfillStatus.QUEUED})

    def complete(self, report: BackfillReport, now: datetime) -> BackfillJob:
        """The last run's report, counting the bars every run of the job ingested."""
        self._must_be_running()
        done = self.progressed({s.symbol: s.bars for s in report.symbols})
        symbols = [
            s.model_copy(update={"bars": done.bars_by_symbol.get(s.symbol, 0)}) for s in report.symbols
        ]
        whole = report.model_copy(update={"bars": done.bars, "symbols": symbols})
        return done.model_copy(
            update={
                "status": BackfillStatus.COMPLETED,
                "finished_at": now,
                "report": whole,
            }
        )

    def fail(self, error: str, now: datetime) -> BackfillJob:
        self._must_be_running()
        return self.model_copy(
            update={"status": BackfillStatus.FAILED, "finished_at": now, "error": error[:2000]}
        )

    def _must_be_running(self) -> None:
        if self.status is not BackfillStatus.RUNNING:
            raise Conflict(f"{self.job_id} is {self.status.value}, not running")
