"""Scanning's application layer: scanner definitions, runs, schedules and signals."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from trading_system.analytics.events import IndicatorsCalculated
from trading_system.analytics.refresh import refresh
from trading_system.analytics.signals import Signal, record_signals
from trading_system.kernel.bus import Handled, HandlerTable, MessageContext
from trading_system.kernel.clock import Clock, sortable_id
from trading_system.kernel.errors import Conflict, Problem, ValidationFailed
from trading_system.kernel.messages import Event
from trading_system.kernel.principal import Principal, visible
from trading_system.kernel.schedule import Schedule, ScheduleError
from trading_system.market_data.domain import as_utc
from trading_system.scanning.commands import (
    CompactSignalLog,
    CreateScanner,
    DeleteScanner,
    RaiseSignal,
    RunScanner,
    RunScheduledScanner,
    SyncScannerSchedules,
    UpdateScanner,
)
from trading_system.scanning.domain import (
    AllSymbols,
    Match,
    RaisedSignal,
    Scanner,
    ScannerDefinition,
    ScanRun,
    SymbolList,
)
from trading_system.scanning.events import ScanCompleted, SignalDetected
from trading_system.scanning.queries import GetScanner, ListScanners, ListScanRuns, ListSignals

if TYPE_CHECKING:
    from trading_system.analytics.ports import IndicatorDemand, SignalLog, SignalRegistry, SnapshotStore
    from trading_system.kernel.timetable import Timetable
    from trading_system.market_data.domain import BarLimits, Timeframe
    from trading_system.market_data.ports import SymbolRepository
    from trading_system.scanning.ports import ScannerRepository, SignalLogCompaction, SignalLogCompactor
    from trading_system.scanning.rules import CompiledRule


def compile_definition(definition: ScannerDefinition) -> list[CompiledRule]:
    """Every rule compiled, or a 422 naming each bad rule with where and why."""
    from trading_system.scanning import rules

    compiled, problems = [], []
    for i, text in enumerate(definition.rules):
        try:
            compiled.append(rules.compile_rule(rules.parse(text)))
        except rules.RuleError as error:
            where = f" at line {error.line}, column {error.column}" if error.line else ""
            problems.append(Problem(f"{error.message}{where}", field=f"rules[{i}]", value=text[:200]))
    if definition.schedule is not None:
        try:
            Schedule(definition.schedule)
        except ScheduleError as error:
            problems.append(Problem(str(error), field="schedule", value=definition.schedule))
    if problems:
        raise ValidationFailed(problems[0].reason, problems)
    return compiled


def _next_run(definition: ScannerDefinition, now: datetime) -> datetime | None:
    if definition.schedule is None or not definition.enabled:
        return None
    return Schedule(definition.schedule).next_after(now.replace(tzinfo=None)).replace(tzinfo=UTC)


def _schedule(scanner: Scanner | ScannerDefinition) -> str | None:
    return scanner.schedule if scanner.enabled else None


def _keep_schedule(timetable: Timetable, scanner_id: str, schedule: str | None) -> None:
    if schedule is None:
        timetable.remove(scanner_id)
    else:
        timetable.set(scanner_id, schedule)


# The timetable and the table cannot change together, so each handler orders its two writes so
# that a failure between them leaves at most a schedule without its scanner, which the next
# firing removes (run_scheduled_scanner), never a scheduled scanner that does not run.


def create_scanner(
    cmd: CreateScanner,
    scanners: ScannerRepository,
    scanner_timetable: Timetable,
    clock: Clock,
    context: MessageContext,
) -> Handled[Scanner]:
    compile_definition(cmd.definition)
    now = clock.now()
    scanner = Scanner(
        **cmd.definition.model_dump(),
        scanner_id=f"scn_{sortable_id()[-12:]}",
        created_at=now,
        created_by=context.principal.key_id,
        owner=context.principal.user,
        updated_at=now,
        next_run_at=_next_run(cmd.definition, now),
    )
    if (schedule := _schedule(scanner)) is not None:
        scanner_timetable.set(scanner.scanner_id, schedule)
    try:
        scanners.add(scanner)
    except Exception:
        scanner_timetable.remove(scanner.scanner_id)
        raise
    return Handled(scanner)


def update_scanner(
    cmd: UpdateScanner,
    scanners: ScannerRepository,
    scanner_timetable: Timetable,
    clock: Clock,
    context: MessageContext,
) -> Handled[Scanner]:
    current = _visible_scanner(cmd.scanner_id, scanners, context.principal)
    compile_definition(cmd.definition)
    now = clock.now()
    updated = Scanner(
        **cmd.definition.model_dump(),
        scanner_id=current.scanner_id,
        created_at=current.created_at,
        created_by=current.created_by,
        owner=current.owner,  # an admin editing it does not take it over
        updated_at=now,
        next_run_at=_next_run(cmd.definition, now),
    )
    # A new or changed schedule first (it finds the scanner, old or new, when it fires); a
    # removed one after the save, so that the scanner never runs on a schedule it no longer has.
    if (schedule := _schedule(updated)) is not None:
        scanner_timetable.set(updated.scanner_id, schedule)
    scanners.save(updated)
    if schedule is None:
        scanner_timetable.remove(updated.scanner_id)
    return Handled(updated)


def delete_scanner(
    cmd: DeleteScanner, scanners: ScannerRepository, scanner_timetable: Timetable, context: MessageContext
) -> Handled[None]:
    _visible_scanner(cmd.scanner_id, scanners, context.principal)
    scanners.delete(cmd.scanner_id)
    scanner_timetable.remove(cmd.scanner_id)
    return Handled(None)


def get_scanner(query: GetScanner, scanners: ScannerRepository, context: MessageContext) -> Scanner:
    return _visible_scanner(query.scanner_id, scanners, context.principal)


def _visible_scanner(scanner_id: str, scanners: ScannerRepository, principal: Principal) -> Scanner:
    """The scanner, or the same NotFound for an unknown id and for another user's scanner."""
    return visible(principal, scanners.get(scanner_id), f"scanner {scanner_id} does not exist", "scanner_id")


def _visible_scanners(scanners: ScannerRepository, principal: Principal) -> list[Scanner]:
    # Filtered after reading: a deployment keeps tens of scanners, not millions.
    return [s for s in scanners.list() if principal.owns(s.owner)]


def list_scanners(query: ListScanners, scanners: ScannerRepository, context: MessageContext) -> list[Scanner]:
    return sorted(_visible_scanners(scanners, context.principal), key=lambda s: s.created_at)


def run_scanner(
    cmd: RunScanner,
    scanners: ScannerRepository,
    symbols: SymbolRepository,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
    context: MessageContext,
) -> Handled[ScanRun]:
    scanner = _visible_scanner(cmd.scanner_id, scanners, context.principal)
    if scanner.is_external:
        reason = (
            f"scanner {scanner.scanner_id} is external: it has no rules to run "
            "(its signals come from outside)"
        )
        raise ValidationFailed(reason, [Problem(reason, field="scanner_id", value=scanner.scanner_id)])
    run, events = execute_scan(
        scanner, cmd.trigger, symbols, snapshots, indicator_demand, signal_registry, signal_log, clock
    )
    return Handled(run, tuple(events))


def raise_signal(
    cmd: RaiseSignal,
    scanners: ScannerRepository,
    symbols: SymbolRepository,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    bar_limits: BarLimits,
    clock: Clock,
    context: MessageContext,
) -> Handled[RaisedSignal]:
    """An external scanner's signal, recorded and published as its scans' are (SignalDetected),
    once per symbol and bar."""
    scanner = _visible_scanner(cmd.scanner_id, scanners, context.principal)
    if not scanner.is_external:
        reason = (
            f"scanner {scanner.scanner_id} runs rules: only an external scanner (kind 'external') "
            "takes signals from outside"
        )
        raise ValidationFailed(reason, [Problem(reason, field="scanner_id", value=scanner.scanner_id)])
    if not scanner.enabled:
        raise Conflict(f"scanner {scanner.scanner_id} is disabled: enable it to take signals")
    wanted = cmd.signal
    listing = symbols.get(wanted.symbol)
    universe = _universe(scanner, symbols)
    if listing is None or (universe is not None and wanted.symbol not in universe):
        reason = (
            f"symbol {wanted.symbol} is not registered (POST /v1/symbols)"
            if listing is None
            else f"symbol {wanted.symbol} is not in scanner {scanner.scanner_id}'s universe"
        )
        raise ValidationFailed(reason, [Problem(reason, field="symbol", value=wanted.symbol)])
    now = clock.now()
    moment = as_utc(wanted.ts) if wanted.ts is not None else now
    if moment > now + timedelta(seconds=bar_limits.max_clock_skew_s):
        reason = f"ts {moment.isoformat()} is in the future (now is {now.isoformat()})"
        raise ValidationFailed(reason, [Problem(reason, field="ts", value=moment.isoformat())])
    signal = Signal(
        source="scanner",
        scanner_id=scanner.scanner_id,
        run_id=f"ext_{sortable_id()}",
        symbol=listing.symbol,
        timeframe=scanner.timeframe,
        ts=listing.bar_of(scanner.timeframe, moment),
        name=scanner.name,
        values=wanted.values,
        detected_at=now,
    )
    fresh = record_signals([signal], signal_registry, signal_log)
    raised = RaisedSignal(
        signal_id=signal.signal_id,
        scanner_id=scanner.scanner_id,
        symbol=signal.symbol,
        timeframe=scanner.timeframe,
        ts=signal.ts,
        values=wanted.values,
        new=bool(fresh),
    )
    if not fresh:
        return Handled(raised)
    detected = SignalDetected(
        scanner_id=scanner.scanner_id,
        scanner_name=scanner.name,
        run_id=signal.run_id or "",
        symbol=signal.symbol,
        timeframe=scanner.timeframe,
        ts=signal.ts,
        values=signal.values,
    )
    return Handled(raised, (detected,))


def execute_scan(
    scanner: Scanner,
    trigger: str,
    symbols: SymbolRepository,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
) -> tuple[ScanRun, list[Event]]:
    """One query over the snapshot for the whole universe; new matches become signals."""
    from trading_system.scanning import rules

    started_at = clock.now()
    began = time.perf_counter()
    compiled = compile_definition(scanner)
    needed = {c for rule in compiled for c in rule.columns}
    refresh_events: list[Event] = []
    if not needed <= snapshots.snapshot_columns(scanner.timeframe):
        # A new indicator in a rule, or no snapshot yet: rebuild it from the lake first.
        # No new data came in, so the IndicatorsCalculated that would rerun every scanner is left out.
        rebuilt = refresh(
            scanner.timeframe, None, set(), snapshots, indicator_demand, signal_registry, signal_log, clock
        )
        refresh_events = [e for e in rebuilt if not isinstance(e, IndicatorsCalculated)]
    universe = _universe(scanner, symbols)
    scan = rules.scan_sql(compiled)
    run_id = f"run_{sortable_id(started_at)}"  # sorts as the runs started: the signal log reads the newest
    candidates = []
    for row in map(scan.read, snapshots.query_snapshot(scanner.timeframe, scan.sql, scan.params, universe)):
        if row.held and not all(row.held):
            continue
        candidates.append(
            Signal(
                source="scanner",
                scanner_id=scanner.scanner_id,
                run_id=run_id,
                symbol=row.symbol,
                timeframe=scanner.timeframe,
                ts=row.ts.replace(tzinfo=UTC) if isinstance(row.ts, datetime) else row.ts,
                name=scanner.name,
                values={k: _plain(v) for k, v in row.values.items()},
                detected_at=started_at,
            )
        )
    fresh = record_signals(candidates, signal_registry, signal_log)
    new_ids = {signal.signal_id for signal in fresh}
    matches = [
        Match(symbol=c.symbol, ts=c.ts, values=c.values, new=c.signal_id in new_ids) for c in candidates
    ]
    duration_ms = (time.perf_counter() - began) * 1000
    run = ScanRun(
        run_id=run_id,
        scanner_id=scanner.scanner_id,
        trigger=trigger,
        timeframe=scanner.timeframe,  # type: ignore[arg-type]
        started_at=started_at,
        duration_ms=round(duration_ms, 3),
        universe_size=_symbols_scanned(snapshots, scanner.timeframe, universe),
        matches=matches,
        new_signals=len(fresh),
    )
    signal_log.append_run(
        {
            "run_id": run_id,
            "scanner_id": scanner.scanner_id,
            "trigger": trigger,
            "timeframe": scanner.timeframe.value,
            "started_at": started_at.isoformat(),
            "duration_ms": run.duration_ms,
            "universe_size": run.universe_size,
            "match_count": len(matches),
            "new_signals": run.new_signals,
            "matches": [m.model_dump(mode="json") for m in matches],
        }
    )
    events: list[Event] = [*refresh_events]
    events += [
        SignalDetected(
            scanner_id=scanner.scanner_id,
            scanner_name=scanner.name,
            run_id=run_id,
            symbol=signal.symbol,
            timeframe=scanner.timeframe,
            ts=signal.ts,
            values=signal.values,
        )
        for signal in fresh
    ]
    events.append(
        ScanCompleted(
            scanner_id=scanner.scanner_id,
            run_id=run_id,
            timeframe=scanner.timeframe,
            trigger=trigger,
            matches=len(matches),
            new_signals=run.new_signals,
            duration_ms=run.duration_ms,
        )
    )
    return run, events


def _universe(scanner: Scanner, symbols: SymbolRepository) -> list[str] | None:
    if isinstance(scanner.universe, AllSymbols):
        return None
    if isinstance(scanner.universe, SymbolList):
        return list(scanner.universe.symbols)
    return [listing.symbol for listing in symbols.tagged(scanner.universe.tag)]


def _symbols_scanned(snapshots: SnapshotStore, timeframe: Timeframe, universe: list[str] | None) -> int:
    """How many symbols the scan evaluated: its universe's symbols in the snapshot (every
    symbol of it for the universe `all`), not the ones named without bars to scan."""
    counted = snapshots.query_snapshot(timeframe, "SELECT count(*) AS symbols FROM snapshot", [], universe)
    return int(counted[0]["symbols"]) if counted else 0


def _plain(value: Any) -> float | bool | None:
    if value is None or isinstance(value, bool):
        return value
    number = float(value)
    return None if number != number else number


def run_scanners(
    event: IndicatorsCalculated,
    scanners: ScannerRepository,
    symbols: SymbolRepository,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
) -> Handled[int]:
    events: list[Event] = []
    ran = 0
    for scanner in scanners.list():
        # An external scanner never runs on a refresh (its definition turns run_on_refresh off).
        if scanner.enabled and scanner.run_on_refresh and scanner.timeframe is event.timeframe:
            _, produced = execute_scan(
                scanner, "refresh", symbols, snapshots, indicator_demand, signal_registry, signal_log, clock
            )
            events += produced
            ran += 1
    return Handled(ran, tuple(events))


def run_scheduled_scanner(
    cmd: RunScheduledScanner,
    scanners: ScannerRepository,
    scanner_timetable: Timetable,
    symbols: SymbolRepository,
    snapshots: SnapshotStore,
    indicator_demand: IndicatorDemand,
    signal_registry: SignalRegistry,
    signal_log: SignalLog,
    clock: Clock,
) -> Handled[ScanRun | None]:
    """A scanner's schedule fired: run it, or, if it was deleted, disabled or unscheduled since
    (a schedule left behind by a failure), remove the schedule and run nothing."""
    scanner = scanners.get(cmd.scanner_id)
    if scanner is None or _schedule(scanner) is None:
        scanner_timetable.remove(cmd.scanner_id)
        return Handled(None)
    run, events = execute_scan(
        scanner, "schedule", symbols, snapshots, indicator_demand, signal_registry, signal_log, clock
    )
    scanners.save(scanner.model_copy(update={"next_run_at": _next_run(scanner, clock.now())}))
    return Handled(run, tuple(events))


def sync_scanner_schedules(
    cmd: SyncScannerSchedules, scanners: ScannerRepository, scanner_timetable: Timetable
) -> Handled[dict[str, int]]:
    wanted = {s.scanner_id: schedule for s in scanners.list() if (schedule := _schedule(s)) is not None}
    changed = 0
    for scanner_id, schedule in wanted.items():
        if scanner_timetable.expression(scanner_id) != schedule:
            scanner_timetable.set(scanner_id, schedule)
            changed += 1
    stale = [key for key in scanner_timetable.scheduled_keys() if key not in wanted]
    for key in stale:
        scanner_timetable.remove(key)
    return Handled({"scheduled": len(wanted), "set": changed, "removed": len(stale)})


# A scan stamps its signals and its run as it starts and writes them as it ends, so files of a day
# may still come in after midnight, for as long as a function may run (Lambda stops one at 15
# minutes). A day is compacted once it has been over for longer than that: a merged file then
# holds every run of its day, which reads of a scanner's latest runs rely on (adapters/signal_lake.py).
SIGNAL_LOG_SETTLE = timedelta(hours=1)


def compact_signal_log(
    cmd: CompactSignalLog, signal_log: SignalLogCompactor, clock: Clock
) -> Handled[SignalLogCompaction]:
    closed_before = (clock.now() - SIGNAL_LOG_SETTLE).astimezone(UTC).date()
    return Handled(signal_log.compact(closed_before, cmd.budget_s))


def list_scan_runs(
    query: ListScanRuns, scanners: ScannerRepository, signal_log: SignalLog, context: MessageContext
) -> list[dict[str, Any]]:
    _visible_scanner(query.scanner_id, scanners, context.principal)
    return signal_log.runs(query.scanner_id, query.limit)


def list_signals(
    query: ListSignals, scanners: ScannerRepository, signal_log: SignalLog, context: MessageContext
) -> list[dict[str, Any]]:
    """Signals of the caller's scanners (an admin: of every scanner, deleted ones too), and the
    crossovers and patterns Analytics raises, which are no one's: they come of the shared bars,
    and the stream shows them to every client. A scanner id the caller may not see is a 404, as
    its runs are."""
    principal = context.principal
    scanner_ids: list[str] | None
    if query.scanner_id is not None:
        scanner_ids = [_visible_scanner(query.scanner_id, scanners, principal).scanner_id]
    elif principal.sees_all:
        scanner_ids = None
    else:
        scanner_ids = [s.scanner_id for s in _visible_scanners(scanners, principal)]
    return signal_log.signals(
        scanner_ids, query.symbol, query.since, query.limit, analytics=query.scanner_id is None
    )


HANDLERS = HandlerTable(
    commands={
        CreateScanner: create_scanner,
        UpdateScanner: update_scanner,
        DeleteScanner: delete_scanner,
        RaiseSignal: raise_signal,
        RunScanner: run_scanner,
        RunScheduledScanner: run_scheduled_scanner,
        SyncScannerSchedules: sync_scanner_schedules,
        CompactSignalLog: compact_signal_log,
    },
    queries={
        ListScanners: list_scanners,
        GetScanner: get_scanner,
        ListScanRuns: list_scan_runs,
        ListSignals: list_signals,
    },
)
