"""Analytics' application layer: indicator queries and snapshot refreshes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from trading_system.analytics.commands import RefreshSnapshot
from trading_system.analytics.domain import IndicatorTable, parse_spec_list
from trading_system.analytics.events import IndicatorsCalculated
from trading_system.analytics.queries import GetIndicators
from trading_system.analytics.refresh import refresh
from trading_system.kernel.bus import Handled, HandlerTable
from trading_system.market_data.domain import EPOCH, Adjustment, as_utc, check_range, end_exclusive
from trading_system.market_data.events import BarsIngested
from trading_system.market_data.ports import BarLake, SymbolRepository

if TYPE_CHECKING:
    from trading_system.analytics.ports import IndicatorDemand, SignalLog, SignalRegistry, SnapshotStore
    from trading_system.kernel.clock import Clock


def get_indicators(query: GetIndicators, symbols: SymbolRepository, lake: BarLake) -> IndicatorTable:
    import numpy as np

    from trading_system.analytics.indicators import OHLCV, compute

    specs = parse_spec_list(query.specs)
    check_range(query.start, query.end)
    listing = symbols.require(query.symbol)
    tf = query.timeframe
    start = tf.ceil(as_utc(query.start)) if query.start else EPOCH
    end_excl = end_exclusive(tf, query.end)
    source = listing.source_timeframe(tf, EPOCH, end_excl)
    keys = [s.key for s in specs]
    if source is None:
        empty = np.zeros(0)
        return IndicatorTable(listing.symbol, tf, None, keys, empty.astype(np.int64), {}, None)
    # The whole history up to `end`: recursive indicators (EMA, Wilder) depend on all of it.
    sessions = listing.sessions_to_follow(tf, EPOCH, end_excl)  # an hour of NYSE starts at 09:30
    # Split-adjusted: an SMA across a 4:1 split read raw would average two price scales.
    bars = lake.bars(listing.symbol, tf, EPOCH, end_excl, 10_000_000, source, sessions, Adjustment.SPLIT)
    ohlcv = OHLCV(open=bars.open, high=bars.high, low=bars.low, close=bars.close, volume=bars.volume)
    values = {}
    for spec in specs:
        for output, series in compute(spec, ohlcv).items():
            values[spec.column(output)] = series
    start_us = int(start.timestamp() * 1_000_000)
    first = int(np.searchsorted(bars.ts_us, start_us))
    last = min(first + query.limit, len(bars))
    next_start = datetime.fromtimestamp(int(bars.ts_us[last]) / 1e6, UTC) if last < len(bars) else None
    return IndicatorTable(
        listing.symbol,
        tf,
        source,
        keys,
        bars.ts_us[first:last],
        {k: v[first:last] for k, v in values.items()},
        next_start,
    )


def refresh_snapshots(
    event: BarsIngested,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
) -> Handled[None]:
    touched = {s.symbol for s in event.symbols}
    events = refresh(
        event.timeframe,
        event.ingest_id,
        touched,
        snapshots,
        indicator_demand,
        signal_registry,
        signal_log,
        clock,
    )
    return Handled(None, tuple(events))


def refresh_snapshot(
    cmd: RefreshSnapshot,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
) -> Handled[int]:
    events = refresh(
        cmd.timeframe, None, None, snapshots, indicator_demand, signal_registry, signal_log, clock
    )
    symbols = events[0].symbols if events and isinstance(events[0], IndicatorsCalculated) else 0
    return Handled(symbols, tuple(events))


HANDLERS = HandlerTable(
    commands={RefreshSnapshot: refresh_snapshot},
    queries={GetIndicators: get_indicators},
)
