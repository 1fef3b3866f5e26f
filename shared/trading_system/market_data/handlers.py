"""Market Data's application layer: one plain function per command, query and subscription."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from trading_system.kernel.bus import Handled, HandlerTable
from trading_system.kernel.clock import Clock, sortable_id
from trading_system.kernel.errors import ConcurrencyConflict, Conflict, ValidationFailed
from trading_system.market_data.commands import (
    CompactLake,
    IngestBarFile,
    IngestBars,
    RegisterSymbol,
)
from trading_system.market_data.domain import (
    EPOCH,
    BarLimits,
    Listing,
    Timeframe,
    as_utc,
    check_range,
    end_exclusive,
)
from trading_system.market_data.events import BarsIngested, SymbolRange, SymbolRegistered
from trading_system.market_data.ports import (
    BarLake,
    CompactionReport,
    SymbolRepository,
)
from trading_system.market_data.queries import GetBars, GetSymbol, ListSymbols

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries, ParsedBars


class Registered(BaseModel):
    listing: Listing
    created: bool


class IngestReport(BaseModel):
    ingest_id: str
    timeframe: Timeframe
    rows: int
    files: int
    symbols: list[SymbolRange]


@dataclass(frozen=True)
class BarsPage:
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None
    bars: BarSeries | None
    next_start: datetime | None


def register_symbol(cmd: RegisterSymbol, symbols: SymbolRepository, clock: Clock) -> Handled[Registered]:
    listing = Listing(**cmd.model_dump(), registered_at=clock.now())
    try:
        symbols.add(listing)
    except ConcurrencyConflict:
        existing = symbols.get(cmd.symbol)
        if existing is not None and existing.same_definition(listing):
            return Handled(Registered(listing=existing, created=False))
        raise Conflict(f"symbol {cmd.symbol} is already registered with a different definition") from None
    event = SymbolRegistered(symbol=listing.symbol, asset_class=listing.asset_class, tags=listing.tags)
    return Handled(Registered(listing=listing, created=True), (event,))


def ingest_bars(
    cmd: IngestBars, symbols: SymbolRepository, lake: BarLake, bar_limits: BarLimits, clock: Clock
) -> Handled[IngestReport]:
    from trading_system.market_data import bar_batch  # numpy, only where bars are ingested

    parsed = bar_batch.columns_from_rows(cmd.bars, cmd.symbol, cmd.timeframe)
    return _ingest(parsed, cmd.timeframe, cmd.source, symbols, lake, bar_limits, clock)


def ingest_bar_file(
    cmd: IngestBarFile, symbols: SymbolRepository, lake: BarLake, bar_limits: BarLimits, clock: Clock
) -> Handled[IngestReport]:
    parsed = lake.read(cmd.path, cmd.format, cmd.timeframe, cmd.symbol)
    return _ingest(parsed, cmd.timeframe, cmd.source, symbols, lake, bar_limits, clock)


def _ingest(
    parsed: ParsedBars,
    timeframe: Timeframe,
    source: str,
    symbols: SymbolRepository,
    lake: BarLake,
    limits: BarLimits,
    clock: Clock,
) -> Handled[IngestReport]:
    from trading_system.market_data import bar_batch

    columns = parsed.columns
    known = symbols.known(columns.symbols)
    rule_problems, rule_count = bar_batch.find_problems(columns, timeframe, known, limits, clock.now())
    problems = (parsed.problems + rule_problems)[: bar_batch.MAX_PROBLEMS]
    total = parsed.problem_count + rule_count
    if total:
        raise ValidationFailed(
            f"{total} problem(s) in the batch of {len(columns)} bars; nothing was written",
            sorted(problems, key=lambda p: (p.row or 0, p.field or "")),
            total,
        )
    written = lake.write(columns, timeframe, sortable_id())
    ranges = bar_batch.ranges_by_symbol(columns)
    report = IngestReport(
        ingest_id=written.ingest_id,
        timeframe=timeframe,
        rows=written.rows,
        files=written.files,
        symbols=ranges,
    )
    event = BarsIngested(
        ingest_id=written.ingest_id,
        timeframe=timeframe,
        rows=written.rows,
        start=min(r.first for r in ranges),
        end=max(r.last for r in ranges),
        symbols=ranges,
        source=source,
    )
    return Handled(report, (event,))


def compact_lake(cmd: CompactLake, lake: BarLake) -> Handled[CompactionReport]:
    return Handled(lake.compact(cmd.timeframe))


def record_coverage(event: BarsIngested, symbols: SymbolRepository) -> None:
    """Keep each listing's coverage (first/last bar per timeframe) in step with the lake."""
    listings = symbols.get_many(s.symbol for s in event.symbols)
    symbols.save_many(
        listings[s.symbol].covering(event.timeframe, s.first, s.last, s.rows)
        for s in event.symbols
        if s.symbol in listings
    )


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
    source = listing.source_timeframe(tf, start, end_excl)
    if source is None:
        return BarsPage(listing.symbol, tf, None, None, None)
    bars = lake.bars(listing.symbol, tf, start, end_excl, query.limit + 1, source)
    next_start = None
    if len(bars) > query.limit:
        next_start = datetime.fromtimestamp(int(bars.ts_us[query.limit]) / 1e6, UTC)
        bars = bars.head(query.limit)
    return BarsPage(listing.symbol, tf, source, bars, next_start)


HANDLERS = HandlerTable(
    commands={
        RegisterSymbol: register_symbol,
        IngestBars: ingest_bars,
        IngestBarFile: ingest_bar_file,
        CompactLake: compact_lake,
    },
    queries={ListSymbols: list_symbols, GetSymbol: get_symbol, GetBars: get_bars},
)
