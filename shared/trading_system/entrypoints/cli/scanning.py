"""Scanning's commands: scanners and signals."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trading_system.entrypoints.cli.common import ask, echo_json, execute, fail, make, valid

commands = typer.Typer()
scan_app = typer.Typer(help="Scanners: rules run over the whole universe's snapshot.", no_args_is_help=True)


def _universe(text: str) -> dict[str, Any]:
    kind, _, value = text.partition(":")
    if text != "all" and not (kind in ("tag", "symbols") and value):
        fail(f"error: universe {text!r}: use all, tag:<tag> or symbols:AAPL,MSFT")
    if text == "all":
        return {"type": "all"}
    if kind == "tag":
        return {"type": "tag", "tag": value}
    return {"type": "symbols", "symbols": [s for s in value.split(",") if s]}


@scan_app.command("create")
def scan_create(
    name: Annotated[str, typer.Option()],
    rule: Annotated[list[str] | None, typer.Option(help="repeatable; all must hold")] = None,
    timeframe: str = "1d",
    universe: Annotated[str, typer.Option(help="all, tag:<tag> or symbols:AAPL,MSFT")] = "all",
    schedule: Annotated[str | None, typer.Option(help="rate(5 minutes) or cron(...)")] = None,
    external: Annotated[
        bool, typer.Option(help="no rules: its signals come from a webhook or `trading scan signal`")
    ] = False,
) -> None:
    """Create a scanner; bad rules are refused with where and why."""
    from trading_system.scanning.commands import CreateScanner
    from trading_system.scanning.domain import ScannerDefinition

    definition = valid(
        lambda: ScannerDefinition(
            name=name,
            kind="external" if external else "rules",
            rules=rule or [],
            timeframe=timeframe,
            universe=_universe(universe),
            schedule=schedule,
        )
    )
    echo_json(execute(CreateScanner(definition=definition)))


@scan_app.command("signal")
def scan_signal(
    scanner_id: str,
    symbol: Annotated[str, typer.Option()],
    ts: Annotated[str | None, typer.Option(help="a moment in the bar (ISO 8601); default: now")] = None,
    value: Annotated[list[str] | None, typer.Option(help="name=number, repeatable")] = None,
) -> None:
    """Raise a signal of an external scanner (once per symbol and bar)."""
    from trading_system.scanning.commands import RaiseSignal
    from trading_system.scanning.domain import ExternalSignal

    values = dict(_named_number(v) for v in value or [])
    signal = make(ExternalSignal, symbol=symbol, ts=ts, values=values)
    echo_json(execute(RaiseSignal(scanner_id=scanner_id, signal=signal)))


def _named_number(text: str) -> tuple[str, float]:
    name, _, number = text.partition("=")
    try:
        return name, float(number)
    except ValueError:
        fail(f"error: value {text!r}: use name=number, e.g. close=101.5")


@scan_app.command("list")
def scan_list() -> None:
    from trading_system.scanning.queries import ListScanners

    echo_json(ask(ListScanners()))


@scan_app.command("run")
def scan_run(scanner_id: str) -> None:
    """Run a scanner now; prints its matches and the values that made them match."""
    from trading_system.scanning.commands import RunScanner

    echo_json(execute(RunScanner(scanner_id=scanner_id)))


@scan_app.command("results")
def scan_results(scanner_id: str, limit: int = 10) -> None:
    """A scanner's latest runs with their matches."""
    from trading_system.scanning.queries import ListScanRuns

    echo_json(ask(ListScanRuns(scanner_id=scanner_id, limit=limit)))


@scan_app.command("delete")
def scan_delete(scanner_id: str) -> None:
    from trading_system.scanning.commands import DeleteScanner

    execute(DeleteScanner(scanner_id=scanner_id))
    typer.echo(f"deleted {scanner_id}")


@scan_app.command("sync-schedules")
def scan_sync_schedules() -> None:
    """Give every enabled scanner with a schedule its schedule in the timetable, and remove the
    schedules of scanners that are gone (after restoring the table, or on a deployment whose
    scanners predate per-scanner schedules: run it once with `trading deployment env`'s settings)."""
    from trading_system.scanning.commands import SyncScannerSchedules

    echo_json(execute(SyncScannerSchedules()))


@scan_app.command("compact-log")
def scan_compact_log(
    budget_s: Annotated[float, typer.Option(help="start no merge after this many seconds")] = 600,
) -> None:
    """Merge the signal log's files of each day over (what compact_signal_log_nightly does each
    night): a day's signals into one file, a scanner's runs of a day into one. Reads answer the
    same before, during and after."""
    from trading_system.scanning.commands import CompactSignalLog

    echo_json(execute(valid(lambda: CompactSignalLog(budget_s=budget_s))).model_dump())


@commands.command()
def signals(scanner: str | None = None, symbol: str | None = None, limit: int = 50) -> None:
    """Signals from scanners and from crossovers/patterns, newest first."""
    from trading_system.scanning.queries import ListSignals

    echo_json(ask(ListSignals(scanner_id=scanner, symbol=symbol, limit=limit)))
