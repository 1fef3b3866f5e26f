"""What Analytics needs from outside: the snapshot store, the signal log and registry, and what
indicators the snapshot's readers (Scanning's rules) demand."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from trading_system.analytics.snapshot import Snapshot, UniverseBars
from trading_system.analytics.specs import IndicatorSpec
from trading_system.market_data.domain import Timeframe


class SnapshotStore(Protocol):
    def absorb(self, timeframe: Timeframe, ingest_id: str | None, bars_per_symbol: int) -> UniverseBars:
        """The universe's last bars after merging one ingestion (None: rebuild from the lake)."""

    def save_snapshot(self, timeframe: Timeframe, snapshot: Snapshot) -> None: ...

    def snapshot_columns(self, timeframe: Timeframe) -> set[str]:
        """Columns of the current snapshot (empty when there is none)."""

    def query_snapshot(
        self, timeframe: Timeframe, sql: str, params: Sequence[Any], universe: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        """Run a compiled scan over the snapshot relation `snapshot` (limited to a universe)."""


class SignalLog(Protocol):
    """Signals and scan runs, kept in the lake for history and analytics."""

    def append_signals(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def append_run(self, row: dict[str, Any]) -> None: ...

    def signals(
        self,
        scanner_ids: Collection[str] | None,
        symbol: str | None,
        since: datetime | None,
        limit: int,
        analytics: bool = True,
    ) -> list[dict[str, Any]]:
        """Newest first. `scanner_ids` None: every signal; else the signals of those scanners,
        and with `analytics` also Analytics' own (crossovers, patterns: no scanner's)."""

    def runs(self, scanner_id: str, limit: int) -> list[dict[str, Any]]: ...


class SignalRegistry(Protocol):
    """Remembers which signals were raised (in the write store), so none is raised twice."""

    def claim(self, key: str) -> bool:
        """True the first time a key is claimed, False ever after (until released)."""

    def release(self, keys: Iterable[str]) -> None: ...


class IndicatorDemand(Protocol):
    """The indicators a timeframe's snapshot must hold beyond the defaults (those that enabled
    scanners' rules read)."""

    def specs(self, timeframe: Timeframe) -> set[IndicatorSpec]: ...
