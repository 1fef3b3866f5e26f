"""What Market Data needs from the outside world."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from trading_system.market_data.commands import FileFormat
from trading_system.market_data.domain import Listing, Timeframe

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarColumns, BarSeries, ParsedBars


class SymbolRepository(Protocol):
    def get(self, symbol: str) -> Listing | None: ...

    def require(self, symbol: str) -> Listing:
        """The listing, or NotFound naming the symbol."""

    def tagged(self, tag: str, after: str | None = None, limit: int | None = None) -> list[Listing]:
        """Listings carrying a tag, in symbol order after `after` (all of them without a limit)."""

    def add(self, listing: Listing) -> None:
        """Store a new listing; ConcurrencyConflict if the symbol exists."""

    def save_many(self, listings: Iterable[Listing]) -> None: ...

    def get_many(self, symbols: Iterable[str]) -> dict[str, Listing]: ...

    def known(self, symbols: Iterable[str]) -> set[str]: ...

    def list(self, after: str | None, limit: int) -> list[Listing]: ...


@dataclass(frozen=True)
class WrittenBars:
    ingest_id: str
    rows: int
    files: int


class CompactionReport(BaseModel):
    """What one compaction did, counted in data files of the lake's bars."""

    ingest_files_moved: int  # committed ingest files moved into per-symbol partitions...
    partition_files_written: int  # ...as this many partition files (one per symbol and period)
    partitions_merged: int  # partitions whose several files were merged into one
    orphan_files_removed: int  # files of ingestions that never committed, older than the grace
    files_before: int
    files_after: int
    rows_moved: int  # distinct bars moved out of ingest files
    rows_merged: int  # bars in the partitions merged


class BarLake(Protocol):
    """The Parquet lake of bars; it also parses uploaded bar files (CSV, Parquet), with the same
    engine that reads the lake."""

    def read(
        self, path: str, fmt: FileFormat, timeframe: Timeframe, default_symbol: str | None
    ) -> ParsedBars: ...

    def write(self, bars: BarColumns, timeframe: Timeframe, ingest_id: str) -> WrittenBars:
        """Write validated bars; readers see every bar of the batch or none, even when the
        writer dies part-way (its files stay invisible until compaction removes them)."""

    def bars(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
        limit: int,
        source: Timeframe,
    ) -> BarSeries:
        """Bars starting in [start, end), aggregated from `source` bars when it is finer."""

    def compact(self, timeframe: Timeframe | None) -> CompactionReport: ...
