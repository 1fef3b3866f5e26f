"""What Strategies needs from outside: where declarative strategies, deployments, backtest jobs
and their results are kept. (The bars it reads and the symbols' coverage are Market Data's
ports, shared with it; accounts and orders are Trading's, reached through its messages.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from trading_system.strategies.jobs import BacktestJob, Job, SweepJob

if TYPE_CHECKING:
    import numpy as np

    from trading_system.strategies.definitions import SavedStrategy
    from trading_system.strategies.deployments import Deployment


J = TypeVar("J", bound=Job)


class Jobs(Protocol[J]):
    """Backtest or sweep jobs, in the write store: small documents, listed newest first."""

    def get(self, job_id: str) -> J | None: ...

    def add(self, job: J) -> None:
        """Store a new job (ConcurrencyConflict if the id exists)."""

    def save(self, job: J) -> None: ...

    def delete(self, job_id: str) -> None: ...

    def newest(self, after: str | None, limit: int) -> list[J]:
        """Jobs newest first, starting after the id `after` (ids sort by submission time)."""

    def get_many(self, job_ids: Sequence[str]) -> dict[str, J]: ...


BacktestJobs = Jobs[BacktestJob]
SweepJobs = Jobs[SweepJob]


class BacktestResults(Protocol):
    """A run's trades and equity curve, in the lake, one folder per backtest."""

    def write(self, backtest_id: str, trades: Sequence[dict[str, Any]], equity: dict[str, Any]) -> None:
        """Write the results whole; `equity` holds the columns ts_ns, equity, drawdown_pct."""

    def trades(self, backtest_id: str, offset: int, limit: int) -> list[dict[str, Any]]: ...

    def equity(self, backtest_id: str, points: int) -> list[dict[str, Any]]: ...

    def delete(self, backtest_id: str) -> None: ...


class SavedStrategies(Protocol):
    """Declarative strategies, in the write store, by name."""

    def get(self, name: str) -> SavedStrategy | None: ...

    def add(self, strategy: SavedStrategy) -> None:
        """Store a new one (ConcurrencyConflict if the name is taken)."""

    def save(self, strategy: SavedStrategy) -> None: ...

    def delete(self, name: str) -> None: ...

    def list(self) -> list[SavedStrategy]: ...


class Deployments(Protocol):
    """Live deployments, in the write store, by id."""

    def get(self, deployment_id: str) -> Deployment | None: ...

    def add(self, deployment: Deployment) -> None: ...

    def save(self, deployment: Deployment) -> None: ...

    def list(self) -> list[Deployment]: ...


@dataclass(frozen=True)
class SweptBlock:
    """What one block of a sweep ran on: its symbols with their bar counts and data fingerprints,
    its first combination, and how many of its backtests ran vectorised."""

    block: int
    first_combination: int
    symbols: list[str]
    bars: list[int]
    fingerprints: list[str]
    vectorised: int


class SweepResults(Protocol):
    """A sweep's statistics, in the lake: one row per (combination, symbol), written block by
    block (each block once: writing it again replaces it)."""

    def write_block(self, sweep_id: str, block: SweptBlock, keys: Sequence[str], stats: np.ndarray) -> None:
        """`stats` has the shape (the block's combinations, its symbols, keys)."""

    def blocks(self, sweep_id: str) -> list[SweptBlock]: ...

    def write_failure(self, sweep_id: str, block: int, error: str) -> None:
        """Why a block failed, for the finish to report (kept until the sweep's results go)."""

    def failures(self, sweep_id: str) -> list[str]:
        """The recorded failures, by block."""
        ...

    def read(self, sweep_id: str, symbols: Sequence[str], keys: Sequence[str], combos: int) -> np.ndarray: ...

    def delete(self, sweep_id: str) -> None: ...
