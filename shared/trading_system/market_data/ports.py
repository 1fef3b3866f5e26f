"""What Market Data needs from the outside world."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel

from trading_system.kernel.errors import DomainError, Problem
from trading_system.market_data.domain import (
    Adjustment,
    CorporateAction,
    Listing,
    SessionWindows,
    Timeframe,
)

if TYPE_CHECKING:  # the commands only for an annotation: a read of symbols never imports them
    from trading_system.market_data.bar_batch import BarColumns, BarSeries, ParsedBars
    from trading_system.market_data.commands import FileFormat
    from trading_system.market_data.jobs import BackfillJob


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


ROLLUP_BUDGET_S = 180.0  # seconds a compaction spends on rollups at most, by default


class CompactionReport(BaseModel):
    """What one compaction did, counted in data files of the lake's bars."""

    ingest_files_moved: int  # committed ingest files moved into per-symbol partitions...
    partition_files_written: int  # ...as this many partition files (one per symbol and period)
    partitions_merged: int  # partitions whose several files were merged into one (a minor: fewer)
    orphan_files_removed: int  # files of ingestions that never committed, older than the grace
    files_before: int
    files_after: int
    rows_moved: int  # distinct bars moved out of ingest files
    rows_merged: int  # bars in the partitions merged
    rollups_written: int = 0  # compacted files' bars resampled to 1h and 1d, for long reads of those
    rollups_left: int = 0  # rollups still to write when the budget ran out: a later compaction does


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
        sessions: SessionWindows | None = None,
        adjustment: Adjustment = Adjustment.RAW,
    ) -> BarSeries:
        """Bars starting in [start, end), aggregated from `source` bars when it is finer: into
        buckets of the UTC grid, or of `sessions` when given (finer bars outside them dropped).
        Split-adjusted (`adjustment`) before they are aggregated, by the symbol's stored splits."""

    def corporate_actions(self, symbol: str) -> list[CorporateAction]:
        """The symbol's splits and dividends, the newest record of each (kind, ex-date), by ex-date."""

    def write_corporate_actions(self, symbol: str, actions: list[CorporateAction], ingest_id: str) -> None:
        """Store actions beside the symbol's bars, as one whole file (all of them or none)."""

    def compact(
        self, timeframe: Timeframe | None, rollup_budget_s: float = ..., *, minor: bool = ...
    ) -> CompactionReport:
        """Merge the timeframe's files (every timeframe's without one); start no rollup after
        `rollup_budget_s` seconds (those left are counted, and made by a later compaction). A
        `minor` one moves the ingest files and merges only crowded partitions' newer files."""


# -- market-data providers (Alpaca, CCXT exchanges): what a backfill or a scheduled pull reads ---


class ProviderError(DomainError):
    """A market-data provider could not give the bars asked for; the message names the provider."""

    retryable = False

    def __init__(
        self, detail: str, status: int = 502, title: str = "Provider error", field: str | None = None
    ):
        problems = [Problem(detail, field=field)] if field else []
        super().__init__(detail, problems, status, title, "provider-error")


class UnknownProvider(ProviderError):
    def __init__(self, name: str, known: Iterable[str]):
        super().__init__(
            f"unknown provider {name!r}: use one of {', '.join(sorted(known))}",
            400,
            "Bad request",
            "provider",
        )


class ProviderCredentialsError(ProviderError):
    """Credentials missing or refused. The message names the setting, never its value."""

    def __init__(self, detail: str):
        super().__init__(detail, 502, "Provider credentials")


class UnknownProviderSymbol(ProviderError):
    def __init__(self, provider: str, symbol: str):
        super().__init__(f"{provider} does not know the symbol {symbol}", 404, "Not found", "symbol")


class ProviderRateLimited(ProviderError):
    """HTTP 429: try again after `retry_after` seconds (None when the provider did not say)."""

    retryable = True

    def __init__(self, provider: str, retry_after: float | None):
        after = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(f"{provider} rate-limited the request{after}", 503, "Provider rate limit")
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """A 5xx, a timeout or a dropped connection: worth retrying."""

    retryable = True


class ProviderGarbage(ProviderError):
    """The provider answered with something that is not bars (a malformed row, broken JSON)."""


@dataclass(frozen=True)
class ProviderBars:
    """One page of a symbol's bars from a provider, oldest first, all within the range asked for,
    as columns (a backfill moves hundreds of thousands of bars a second: no object per bar).
    `next_token` continues the same request; None when the range is exhausted."""

    series: BarSeries
    next_token: str | None


class MarketDataProvider(Protocol):
    name: str
    asset_class: str  # what a symbol it backfills is registered as (us_equity, crypto)

    def fetch_bars(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
        token: str | None = None,
    ) -> ProviderBars:
        """A page of bars starting in [start, end); pass the previous page's `next_token` to
        continue. Raises the ProviderError subclasses above, never a library's own error."""


@runtime_checkable
class NeedsCredentials(Protocol):
    """A provider that cannot fetch without an API key (Alpaca; CCXT's public bars need none)."""

    def missing_credentials(self) -> str | None:
        """What to set when the key is missing (the settings' names, never a value); None if set."""


@runtime_checkable
class CorporateActionsSource(Protocol):
    """A provider that also knows splits and dividends (Alpaca does; CCXT exchanges do not)."""

    name: str

    def fetch_corporate_actions(self, symbol: str, start: date, end: date) -> list[CorporateAction]:
        """Every split and cash dividend of the symbol with an ex-date in [start, end], all pages
        read. Raises the ProviderError subclasses above."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for 429s and 5xx: `attempts` tries in all, the wait doubling
    from `base_delay_s` up to `max_delay_s` (a provider's Retry-After wins when it says more)."""

    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, error: ProviderError) -> float:
        wait = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        after: float | None = getattr(error, "retry_after", None)
        return min(self.max_delay_s, max(wait, after)) if after is not None else wait


class MarketDataProviders(Protocol):
    retry: RetryPolicy
    ingest_batch_rows: int  # a backfill ingests its pages in batches of at least this many bars

    def names(self) -> list[str]: ...

    def get(self, name: str) -> MarketDataProvider:
        """The configured provider, or UnknownProvider."""


class BackfillCheckpoint(BaseModel):
    """How far a backfill of one (provider, symbol, timeframe) got: every bar starting in
    [start, through) has been ingested, so a re-run resumes at `through`."""

    provider: str
    symbol: str
    timeframe: Timeframe
    start: datetime
    end: datetime
    through: datetime
    bars: int = 0
    pages: int = 0
    updated_at: datetime

    @property
    def done(self) -> bool:
        return self.through >= self.end


class BackfillCheckpoints(Protocol):
    def get(self, provider: str, symbol: str, timeframe: Timeframe) -> BackfillCheckpoint | None: ...

    def save(self, checkpoint: BackfillCheckpoint) -> None: ...


class BackfillJobs(Protocol):
    """Backfill jobs by id; ids sort newest first (kernel.clock.newest_first_id)."""

    def get(self, backfill_id: str) -> BackfillJob | None: ...

    def add(self, job: BackfillJob) -> None:
        """Store a new job (ConcurrencyConflict if the id is taken)."""

    def save(self, job: BackfillJob) -> None: ...

    def newest(self, after: str | None, limit: int) -> list[BackfillJob]: ...
