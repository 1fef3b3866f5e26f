"""A snapshot refresh: merge new bars into a timeframe's snapshot, recompute its indicators and
raise the crossover and pattern signals of the symbols the bars touched. Analytics runs it on
every ingestion; Scanning runs it too when a rule needs a column the snapshot lacks (a shared
piece Analytics offers, declared in the import contracts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from trading_system.analytics.events import IndicatorsCalculated, SignalGenerated
from trading_system.analytics.signals import Signal, record_signals
from trading_system.kernel.clock import Clock
from trading_system.kernel.messages import Event
from trading_system.market_data.domain import Timeframe

if TYPE_CHECKING:
    from trading_system.analytics.ports import IndicatorDemand, SignalLog, SignalRegistry, SnapshotStore


def refresh(
    timeframe: Timeframe,
    ingest_id: str | None,
    touched: set[str] | None,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
) -> list[Event]:
    """Refresh a timeframe's snapshot and raise the signals of the touched symbols (all of them
    when `touched` is None). The first event is IndicatorsCalculated when anything was built."""
    from trading_system.analytics import snapshot

    specs = set(snapshot.DEFAULT_SPECS) | indicator_demand.specs(timeframe)
    bars = snapshots.absorb(timeframe, ingest_id, snapshot.history_needed(specs))
    if not bars.symbols:
        return []
    table, series = snapshot.build(bars, specs)
    snapshots.save_snapshot(timeframe, table)
    detected_at = clock.now()
    candidates = [
        Signal(
            source="analytics",
            symbol=found.symbol,
            timeframe=timeframe,
            ts=datetime.fromtimestamp(found.ts_us / 1e6, UTC),
            name=found.name,
            values=found.values,
            detected_at=detected_at,
        )
        for found in snapshot.detect_signals(bars, series, table, touched)
    ]
    raised = record_signals(candidates, signal_registry, signal_log)
    latest = int(bars.ts_us[:, -1].max())
    calculated = IndicatorsCalculated(
        timeframe=timeframe,
        symbols=len(bars.symbols),
        touched=sorted(touched or []),
        specs=sorted(s.key for s in specs),
        latest=datetime.fromtimestamp(latest / 1e6, UTC) if latest else None,
    )
    generated = [
        SignalGenerated(symbol=s.symbol, timeframe=timeframe, ts=s.ts, signal=s.name, values=s.values)
        for s in raised
    ]
    return [calculated, *generated]
