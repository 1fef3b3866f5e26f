"""Backfills as jobs (the lifecycle of kernel/jobs.py, with one more edge): asked for over HTTP,
run in the background, kept with their report or error.

    queued --start--> running --complete--> completed
      ^                  |  \\------fail-----> failed
      \\----continue-----/   (its time budget used up: it goes on in a fresh invocation)

A run that has used its time budget saves how far it got and queues itself again: the backfill's
own checkpoints make the next run resume where this one stopped, so a backfill longer than one
Lambda invocation (15 minutes at most) still finishes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from trading_system.kernel.jobs import Job, JobStatus
from trading_system.market_data.commands import BackfillBars
from trading_system.market_data.domain import Timeframe


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


class BackfillJob(Job):
    backfill_id: str
    request: BackfillBars
    runs: int = 0  # invocations so far: more than one when a run used up its time budget
    bars_by_symbol: dict[str, int] = Field(default_factory=dict)
    report: BackfillReport | None = None  # a completed job's, counting every run's bars

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

    def start(self, now: datetime) -> BackfillJob:
        started = super().start(now)
        return started.model_copy(update={"runs": self.runs + 1})

    def progressed(self, by_symbol: dict[str, int]) -> BackfillJob:
        """The bars a run ingested (per symbol) added to the job's."""
        merged = dict(self.bars_by_symbol)
        for symbol, bars in by_symbol.items():
            merged[symbol] = merged.get(symbol, 0) + bars
        return self.model_copy(update={"bars_by_symbol": merged})

    def requeue(self) -> BackfillJob:
        """Its time budget used up: queued again, to resume in the next invocation."""
        self._must_be_running()
        return self.model_copy(update={"status": JobStatus.QUEUED})

    def complete(self, report: BackfillReport, now: datetime) -> BackfillJob:
        """The last run's report, counting the bars every run of the job ingested."""
        self._must_be_running()
        done = self.progressed({s.symbol: s.bars for s in report.symbols})
        symbols = [
            s.model_copy(update={"bars": done.bars_by_symbol.get(s.symbol, 0)}) for s in report.symbols
        ]
        whole = report.model_copy(update={"bars": done.bars, "symbols": symbols})
        return done._completed(now, report=whole)
