"""The read side's handlers: symbols, bars, corporate actions and backfill jobs, answered from the
symbol repository, the lake and the jobs' store.

The bus finds them in this module's own table (bootstrap.TABLES_APART), not in handlers.py with
the commands': a read loads neither the commands nor the ingest and backfill machinery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from trading_system.kernel.bus import HandlerTable
from trading_system.kernel.errors import NotFound
from trading_system.market_data.domain import (
    EPOCH,
    Listing,
    Timeframe,
    as_utc,
    check_range,
    end_exclusive,
    session_ceil,
    session_end_exclusive,
)
from trading_system.market_data.queries import (
    GetBackfill,
    GetBars,
    GetSymbol,
    ListBackfills,
    ListCorporateActions,
    ListSymbols,
)

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries
    from trading_system.market_data.domain import CorporateAction
    from trading_system.market_data.jobs import BackfillJob
    from trading_system.market_data.ports import BackfillJobs, BarLake, SymbolRepository


@dataclass(frozen=True)
class BarsPage:
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None
    bars: BarSeries | None
    next_start: datetime | None


def list_symbols(query: ListSymbols, symbols: SymbolRepository) -> list[Listing]:
    if query.tag is None:
        return symbols.list(query.after, query.limit)
    return symbols.tagged(query.tag, query.after, query.limit)


def get_symbol(query: GetSymbol, symbols: SymbolRepository) -> Listing:
    return symbols.require(query.symbol)


def get_bars(query: GetBars, symbols: SymbolRepository, lake: BarLake) -> BarsPage:
    check_range(query.start, query.end)
    listing = symbols.require(query.symbol)
    tf = query.timeframe
    start = tf.ceil(as_utc(query.start)) if query.start else EPOCH
    end_excl = end_exclusive(tf, query.end)
    calendar = listing.session_calendar()
    if calendar is not None and not calendar.is_always_open() and tf is not Timeframe.D1:
        # Intraday bars start at the session's open (09:30 New York), not on the UTC grid.
        start = session_ceil(calendar, tf, as_utc(query.start)) if query.start else EPOCH
        end_excl = session_end_exclusive(calendar, tf, query.end)
    source = listing.source_timeframe(tf, start, end_excl)
    if source is None:
        return BarsPage(listing.symbol, tf, None, None, None)
    sessions = listing.sessions_to_follow(tf, start, end_excl) if source is not tf else None
    bars = lake.bars(listing.symbol, tf, start, end_excl, query.limit + 1, source, sessions, query.adjustment)
    next_start = None
    if len(bars) > query.limit:
        next_start = datetime.fromtimestamp(int(bars.ts_us[query.limit]) / 1e6, UTC)
        bars = bars.head(query.limit)
    return BarsPage(listing.symbol, tf, source, bars, next_start)


def list_corporate_actions(
    query: ListCorporateActions, symbols: SymbolRepository, lake: BarLake
) -> list[CorporateAction]:
    listing = symbols.require(query.symbol)
    return [a for a in lake.corporate_actions(listing.symbol) if query.kind in (None, a.kind)]


def get_backfill(query: GetBackfill, backfill_jobs: BackfillJobs) -> BackfillJob:
    job = backfill_jobs.get(query.backfill_id)
    if job is None:
        raise NotFound(f"no backfill {query.backfill_id}", field="backfill_id")
    return job


def list_backfills(query: ListBackfills, backfill_jobs: BackfillJobs) -> list[BackfillJob]:
    return backfill_jobs.newest(query.after, query.limit)


HANDLERS = HandlerTable(
    queries={
        ListSymbols: list_symbols,
        GetSymbol: get_symbol,
        GetBars: get_bars,
        ListCorporateActions: list_corporate_actions,
        GetBackfill: get_backfill,
        ListBackfills: list_backfills,
    },
)
