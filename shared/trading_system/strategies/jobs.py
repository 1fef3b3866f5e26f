"""Backtests and sweeps as jobs (the lifecycle of kernel/jobs.py): asked for, run once, then
kept with their results or their error. Only a completed job has results, so a half-written run
never looks complete. The job document is written last, after the results it points to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from trading_system.kernel.errors import Conflict
from trading_system.kernel.jobs import Job as BaseJob
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.market_data.domain import Timeframe
from trading_system.strategies.commands import BacktestRequest, SweepRequest


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


class Job(BaseJob):
    """What backtests and sweeps add to every job: the strategy and whose results they are."""

    strategy_name: str  # the strategy's registered name, as resolved when the job was submitted
    kind: Literal["python", "rules"] = "python"
    # The user whose job it is (its results included): a job stored before users existed is the
    # first admin's. `submitted_by` is the key that submitted it, for the audit trail.
    owner: str = FIRST_ADMIN

    def _no_results(self) -> Conflict:
        reason = f"{self.job_id} is {self.status.value}: it has no results"
        return Conflict(reason + (f" ({self.error})" if self.error else ""))


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
