"""Analytics' application layer: indicator queries and snapshot refreshes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trading_system.analytics.events import IndicatorsCalculated, SignalGenerated
from trading_system.analytics.queries import GetIndicators, RefreshSnapshot
from trading_system.analytics.specs import IndicatorSpec, SpecError, parse_spec
from trading_system.kernel.bus import Handled, HandlerTable, Subscriber
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.kernel.messages import Event
from trading_system.market_data.domain import Timeframe, as_utc, check_range
from trading_system.market_data.events import BarsIngested
from trading_system.market_data.handlers import get_symbol, source_timeframe
from trading_system.market_data.ports import BarLake, SymbolRepository
from trading_system.market_data.queries import GetSymbol

if TYPE_CHECKING:
    import numpy as np

    from trading_system.adapters.repositories import DocumentScannerRepository, DocumentSignalRegistry
    from trading_system.analytics.ports import SignalLog, SnapshotStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FOREVER = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class IndicatorTable:
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None
    specs: list[str]
    ts_us: np.ndarray
    values: dict[str, np.ndarray]
    next_start: datetime | None

    def records(self) -> list[dict[str, Any]]:
        import numpy as np

        stamps = np.datetime_as_string(self.ts_us.astype("datetime64[us]").astype("datetime64[s]"))
        names = list(self.values)
        columns = [[None if v != v else v for v in self.values[n].tolist()] for n in names]  # NaN -> null
        return (
            [
                {"ts": f"{stamp}Z", **dict(zip(names, row, strict=True))}
                for stamp, row in zip(stamps.tolist(), zip(*columns, strict=True), strict=True)
            ]
            if names
            else [{"ts": f"{stamp}Z"} for stamp in stamps.tolist()]
        )


def parse_spec_list(texts: list[str], field: str = "specs") -> list[IndicatorSpec]:
    specs, problems = [], []
    for text in texts:
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                specs.append(parse_spec(part))
            except SpecError as error:
                problems.append(Problem(str(error), field=field, value=part.strip()))
    if problems:
        raise ValidationFailed(problems[0].reason, problems)
    if not specs:
        raise ValidationFailed("no indicator given", [Problem("e.g. specs=sma:50,rsi:14", field=field)])
    return list(dict.fromkeys(specs))


def get_indicators(query: GetIndicators, symbols: SymbolRepository, lake: BarLake) -> IndicatorTable:
    import numpy as np

    from trading_system.analytics.indicators import OHLCV, compute

    specs = parse_spec_list(query.specs)
    check_range(query.start, query.end)
    listing = get_symbol(GetSymbol(symbol=query.symbol), symbols)
    tf = query.timeframe
    start = tf.ceil(as_utc(query.start)) if query.start else _EPOCH
    end_excl = tf.floor(as_utc(query.end)) + tf.delta if query.end else _FOREVER
    source = source_timeframe(listing, tf, _EPOCH, end_excl)
    keys = [s.key for s in specs]
    if source is None:
        empty = np.zeros(0)
        return IndicatorTable(listing.symbol, tf, None, keys, empty.astype(np.int64), {}, None)
    # The whole history up to `end`: recursive indicators (EMA, Wilder) depend on all of it.
    bars = lake.bars(listing.symbol, tf, _EPOCH, end_excl, 10_000_000, source)
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


def snapshot_specs(timeframe: Timeframe, scanners: DocumentScannerRepository) -> set[IndicatorSpec]:
    """The defaults plus every indicator an enabled scanner of the timeframe reads."""
    from trading_system.analytics.snapshot import DEFAULT_SPECS
    from trading_system.scanning import rules

    specs = set(DEFAULT_SPECS)
    for scanner in scanners.list():
        if scanner.enabled and scanner.timeframe is timeframe:
            for text in scanner.rules:
                specs |= rules.compile_rule(rules.parse(text)).specs
    return specs


def refresh(
    timeframe: Timeframe,
    ingest_id: str | None,
    touched: set[str] | None,
    snapshots: SnapshotStore,
    scanners: DocumentScannerRepository,
    signal_registry: DocumentSignalRegistry,
    signal_log: SignalLog,
) -> list[Event]:
    """Refresh a timeframe's snapshot and raise the signals of the touched symbols."""
    from trading_system.analytics import snapshot

    specs = snapshot_specs(timeframe, scanners)
    bars = snapshots.absorb(timeframe, ingest_id, snapshot.history_needed(specs))
    if not bars.symbols:
        return []
    table, series = snapshot.build(bars, specs)
    snapshots.save_snapshot(timeframe, table)
    events: list[Event] = []
    detected_at = datetime.now(UTC)
    logged = []
    claimed = []
    for signal in snapshot.detect_signals(bars, series, table, touched):
        ts = datetime.fromtimestamp(signal.ts_us / 1e6, UTC)
        key = f"analytics#{timeframe.value}#{signal.symbol}#{signal.ts_us}#{signal.name}"
        if not signal_registry.claim(key):
            continue
        claimed.append(key)
        events.append(
            SignalGenerated(
                symbol=signal.symbol, timeframe=timeframe, ts=ts, signal=signal.name, values=signal.values
            )
        )
        logged.append(
            {
                "signal_id": f"{timeframe.value}:{signal.symbol}:{signal.ts_us}:{signal.name}",
                "source": "analytics",
                "scanner_id": None,
                "run_id": None,
                "symbol": signal.symbol,
                "timeframe": timeframe.value,
                "ts": ts.isoformat(),
                "name": signal.name,
                "values": signal.values,
                "detected_at": detected_at.isoformat(),
            }
        )
    try:
        signal_log.append_signals(logged)
    except Exception:
        signal_registry.release(claimed)
        raise
    latest = int(bars.ts_us[:, -1].max())
    events.insert(
        0,
        IndicatorsCalculated(
            timeframe=timeframe,
            symbols=len(bars.symbols),
            touched=sorted(touched or []),
            specs=sorted(s.key for s in specs),
            latest=datetime.fromtimestamp(latest / 1e6, UTC) if latest else None,
        ),
    )
    return events


def refresh_snapshots(
    event: BarsIngested,
    snapshots: SnapshotStore,
    scanners: DocumentScannerRepository,
    signal_registry: DocumentSignalRegistry,
    signal_log: SignalLog,
) -> Handled[None]:
    touched = {s.symbol for s in event.symbols}
    events = refresh(
        event.timeframe, event.ingest_id, touched, snapshots, scanners, signal_registry, signal_log
    )
    return Handled(None, tuple(events))


def refresh_snapshot(
    cmd: RefreshSnapshot,
    snapshots: SnapshotStore,
    scanners: DocumentScannerRepository,
    signal_registry: DocumentSignalRegistry,
    signal_log: SignalLog,
) -> Handled[int]:
    events = refresh(cmd.timeframe, None, None, snapshots, scanners, signal_registry, signal_log)
    symbols = events[0].symbols if events and isinstance(events[0], IndicatorsCalculated) else 0
    return Handled(symbols, tuple(events))


HANDLERS = HandlerTable(
    commands={RefreshSnapshot: refresh_snapshot},
    queries={GetIndicators: get_indicators},
    subscribers={"refresh_snapshots": Subscriber("refresh_snapshots", BarsIngested, refresh_snapshots)},
)
