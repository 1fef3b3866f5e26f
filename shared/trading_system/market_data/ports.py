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
    partitions: int  # per-symbol partitions whose several files were merged into one
    fresh_files: int  # ingest files moved into per-symbol partitions
    files_before: int
    files_after: int
    rows: int


class BarLake(Protocol):
    """The Parquet lake of bars; it also parses uploaded bar files (CSV, Parquet), with the same
    engine that reads the lake."""

    def read(
        self, path: str, fmt: FileFormat, timeframe: Timeframe, default_symbol: str | None
    ) -> ParsedBars: ...

    def write(self, bars: BarColumns, timeframe: Timeframe, ingest_id: str) -> WrittenBars:
        """Write validated bars as whole files; readers never see a partial file."""

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
