"""`trading`: the command line. It runs the application in-process on the local settings, so
it works with or without `trading serve` running (SQLite and the lake handle both)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from trading_system.bootstrap import Container, bootstrap
from trading_system.config import SettingsError, load_settings
from trading_system.kernel.errors import DomainError
from trading_system.kernel.principal import Role

app = typer.Typer(help="The trading platform, local runtime.", no_args_is_help=True, add_completion=False)
symbols_app = typer.Typer(
    help="Registered symbols (`trading symbols` lists them).", invoke_without_command=True
)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
lake_app = typer.Typer(help="The Parquet lake.", no_args_is_help=True)
dead_app = typer.Typer(help="Events a subscriber kept failing on.", no_args_is_help=True)
scan_app = typer.Typer(help="Scanners: rules run over the whole universe's snapshot.", no_args_is_help=True)
app.add_typer(symbols_app, name="symbols")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")
app.add_typer(lake_app, name="lake")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(scan_app, name="scan")

DEMO_KEY_FILE = "demo-api-key"


def _container() -> Container:
    try:
        return bootstrap(load_settings())
    except SettingsError as error:
        _fail(str(error))


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _run(action: Any) -> Any:
    try:
        return action()
    except DomainError as error:
        _fail(f"error: {error}")


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _echo_csv(records: list[dict[str, Any]], columns: list[str], next_start: datetime | None) -> None:
    """Rows as CSV on stdout (an empty cell for a missing value); the next page's hint on stderr."""
    typer.echo(",".join(["ts", *columns]))
    for r in records:
        typer.echo(",".join([r["ts"], *("" if r[c] is None else str(r[c]) for c in columns)]))
    if next_start:
        typer.secho(f"# more rows: --start {next_start.isoformat()}", err=True)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), UTC)
        return datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date or ISO 8601 timestamp")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: settings host")] = None,
    port: Annotated[int | None, typer.Option(help="default: settings port")] = None,
) -> None:
    """Serve the API, the WebSocket stream and the dashboard."""
    import uvicorn

    from trading_system.entrypoints.local.runner import STREAM_PATH, build_local_app

    container = _container()
    settings = container.settings
    host, port = host or settings.host, port or settings.port
    url = f"http://{host}:{port}"
    typer.echo(f"Trading platform (local runtime) on {url}")
    typer.echo(f"  API docs:   {url}/docs   (OpenAPI: {url}/openapi.json)")
    typer.echo(f"  Dashboard:  {url}/")
    typer.echo(f"  Stream:     ws://{host}:{port}{STREAM_PATH}?api_key=<key>")
    key_file = Path(settings.data_dir) / DEMO_KEY_FILE
    if key_file.exists():
        typer.echo(f"  Demo API key (admin): {key_file.read_text().strip()}")
    typer.echo(f"  Data:       {Path(settings.data_dir).resolve()}   (Ctrl-C stops; data is kept)")
    uvicorn.run(build_local_app(container), host=host, port=port, log_level=settings.log_level.lower())


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet file")],
    timeframe: Annotated[str, typer.Option(help="1m 5m 15m 1h 1d")],
    symbol: Annotated[str | None, typer.Option(help="symbol of rows that name none")] = None,
    register: Annotated[bool, typer.Option(help="register unknown symbols first")] = False,
) -> None:
    """Ingest a file of bars; nothing is written if any row is bad."""
    from trading_system.market_data.commands import FileFormat, IngestBarFile, RegisterSymbol

    container = _container()
    try:
        command = IngestBarFile(
            timeframe=timeframe,
            path=str(file.resolve()),
            format=FileFormat.of(file.name),
            symbol=symbol,
            source="cli",
        )
    except ValueError as error:
        _fail(f"error: {error}")
    if register and symbol:
        _run(lambda: container.bus.execute(RegisterSymbol(symbol=symbol)))
    report = _run(lambda: container.bus.execute(command))
    _echo_json(report.model_dump(mode="json"))


@app.command()
def bars(
    symbol: str,
    timeframe: Annotated[str, typer.Option(help="1m 5m 15m 1h 1d")] = "1d",
    start: Annotated[str | None, typer.Option(help="date or ISO timestamp (inclusive)")] = None,
    end: Annotated[str | None, typer.Option(help="date or ISO timestamp (inclusive)")] = None,
    limit: int = 10_000,
    output: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
) -> None:
    """Bars of a symbol, resampled from finer bars when needed."""
    from trading_system.market_data.queries import GetBars

    container = _container()
    try:
        query = GetBars(
            symbol=symbol, timeframe=timeframe, start=_moment(start), end=_moment(end), limit=limit
        )
    except ValueError as error:
        _fail(f"error: {error}")
    page = _run(lambda: container.bus.ask(query))
    records = page.bars.records() if page.bars is not None else []
    if output == "json":
        _echo_json(
            {
                "symbol": page.symbol,
                "timeframe": page.timeframe,
                "source_timeframe": page.source_timeframe,
                "bars": records,
                "next_start": page.next_start,
            }
        )
        return
    _echo_csv(records, ["open", "high", "low", "close", "volume"], page.next_start)


@symbols_app.callback()
def symbols_list(ctx: typer.Context, tag: Annotated[str | None, typer.Option()] = None) -> None:
    """List registered symbols with the data held for each."""
    if ctx.invoked_subcommand is not None:
        return
    from trading_system.market_data.queries import ListSymbols

    container = _container()
    query = ListSymbols(limit=1000, tag=tag)
    typer.echo("symbol,asset_class,tags,timeframes")
    while True:
        page = _run(lambda q=query: container.bus.ask(q))
        for listing in page:
            spans = " ".join(
                f"{tf.value}:{c.first.date()}..{c.last.date()}" for tf, c in sorted(listing.coverage.items())
            )
            typer.echo(f"{listing.symbol},{listing.asset_class},{'|'.join(listing.tags)},{spans}")
        if len(page) < 1000:
            break
        query = query.model_copy(update={"after": page[-1].symbol})


@symbols_app.command("add")
def symbols_add(
    symbol: str,
    name: str = "",
    exchange: str = "",
    asset_class: str = "us_equity",
    tag: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
) -> None:
    """Register a symbol."""
    from trading_system.market_data.commands import RegisterSymbol

    container = _container()
    try:
        command = RegisterSymbol(
            symbol=symbol, name=name, exchange=exchange, asset_class=asset_class, tags=tag or []
        )
    except ValueError as error:
        _fail(f"error: {error}")
    result = _run(lambda: container.bus.execute(command))
    _echo_json(result.listing.model_dump(mode="json"))


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="viewer, trader or admin")],
    label: str = "",
) -> None:
    """Create an API key; its secret is printed once."""
    from trading_system.identity.commands import CreateApiKey

    issued = _run(lambda: _container().bus.execute(CreateApiKey(role=role, label=label)))
    _echo_json(issued.model_dump(mode="json"))


@keys_app.command("list")
def keys_list() -> None:
    from trading_system.identity.commands import ListApiKeys

    _echo_json([k.model_dump(mode="json") for k in _run(lambda: _container().bus.ask(ListApiKeys()))])


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    from trading_system.identity.commands import RevokeApiKey

    _echo_json(_run(lambda: _container().bus.execute(RevokeApiKey(key_id=key_id))).model_dump(mode="json"))


@demo_app.command("seed")
def demo_seed(
    symbols: Annotated[int, typer.Option(min=1, max=5000)] = 50,
    days: Annotated[int, typer.Option(min=1, max=5000, help="weekdays of daily bars")] = 504,
    intraday_symbols: Annotated[int, typer.Option(min=0)] = 5,
    intraday_days: Annotated[int, typer.Option(min=0, max=30, help="days of 1m bars")] = 5,
    seed: int = 7,
    if_empty: Annotated[bool, typer.Option(help="do nothing if symbols exist")] = False,
) -> None:
    """Seed a deterministic synthetic universe, and an admin key for the demo."""
    from trading_system.entrypoints import demo
    from trading_system.identity.commands import CreateApiKey
    from trading_system.market_data.queries import ListSymbols

    container = _container()
    key_file = Path(container.settings.data_dir) / DEMO_KEY_FILE
    if if_empty and container.bus.ask(ListSymbols(limit=1)):
        typer.echo("demo data already present; nothing seeded")
    else:
        counts = _run(lambda: demo.seed(container, symbols, days, intraday_symbols, intraday_days, seed))
        typer.echo(f"seeded {counts['symbols']} symbols, {counts['bars']} bars")
    if not key_file.exists():
        issued = container.bus.execute(CreateApiKey(role=Role.ADMIN, label="demo"))
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(issued.api_key + "\n")
        key_file.chmod(0o600)
    typer.echo(f"demo API key (admin): {key_file.read_text().strip()}")


@lake_app.command("compact")
def lake_compact(timeframe: str | None = None) -> None:
    """Move fresh ingest files into per-symbol partitions and merge each partition's files
    (query results do not change)."""
    from trading_system.market_data.commands import CompactLake

    try:
        command = CompactLake(timeframe=timeframe)
    except ValueError as error:
        _fail(f"error: {error}")
    _echo_json(_run(lambda: _container().bus.execute(command)).model_dump())


@dead_app.command("list")
def dead_letters_list() -> None:
    letters = _container().dead_letters.list(1000)
    _echo_json([letter.model_dump(mode="json") for letter in letters])


@dead_app.command("replay")
def dead_letters_replay() -> None:
    """Deliver each dead letter to its subscriber again; the ones that succeed are removed."""
    container = _container()
    for letter in container.dead_letters.list(1000):
        try:
            container.bus.deliver(letter.subscriber, letter.envelope)
        except Exception as error:
            typer.secho(f"{letter.letter_id}: still failing: {error!r}", fg=typer.colors.YELLOW, err=True)
            continue
        container.dead_letters.remove(letter.letter_id)
        typer.echo(f"{letter.letter_id}: delivered")


@app.command()
def indicators(
    symbol: str,
    specs: Annotated[list[str], typer.Argument(help="e.g. sma:50 rsi:14 macd:12:26:9 bbands:20:2")],
    timeframe: Annotated[str, typer.Option(help="1m 5m 15m 1h 1d")] = "1d",
    start: Annotated[str | None, typer.Option(help="date or ISO timestamp (inclusive)")] = None,
    end: Annotated[str | None, typer.Option(help="date or ISO timestamp (inclusive)")] = None,
    limit: int = 10_000,
    output: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
) -> None:
    """Indicator values of a symbol (empty cells inside each indicator's warm-up)."""
    from trading_system.analytics.queries import GetIndicators

    container = _container()
    try:
        query = GetIndicators(
            symbol=symbol,
            timeframe=timeframe,
            specs=specs,
            start=_moment(start),
            end=_moment(end),
            limit=limit,
        )
    except ValueError as error:
        _fail(f"error: {error}")
    table = _run(lambda: container.bus.ask(query))
    records = table.records()
    if output == "json":
        _echo_json(
            {"symbol": table.symbol, "timeframe": table.timeframe, "specs": table.specs, "rows": records}
        )
        return
    _echo_csv(records, list(table.values), table.next_start)


def _universe(text: str) -> dict[str, Any]:
    if text == "all":
        return {"type": "all"}
    kind, _, value = text.partition(":")
    if kind == "tag" and value:
        return {"type": "tag", "tag": value}
    if kind == "symbols" and value:
        return {"type": "symbols", "symbols": [s for s in value.split(",") if s]}
    _fail(f"error: universe {text!r}: use all, tag:<tag> or symbols:AAPL,MSFT")


@scan_app.command("create")
def scan_create(
    name: Annotated[str, typer.Option()],
    rule: Annotated[list[str], typer.Option(help="repeatable; all must hold")],
    timeframe: str = "1d",
    universe: Annotated[str, typer.Option(help="all, tag:<tag> or symbols:AAPL,MSFT")] = "all",
    schedule: Annotated[str | None, typer.Option(help="rate(5 minutes) or cron(...)")] = None,
) -> None:
    """Create a scanner; bad rules are refused with where and why."""
    from pydantic import ValidationError

    from trading_system.scanning.commands import CreateScanner
    from trading_system.scanning.domain import ScannerDefinition

    try:
        definition = ScannerDefinition(
            name=name, rules=rule, timeframe=timeframe, universe=_universe(universe), schedule=schedule
        )
    except ValidationError as error:
        _fail(f"error: {error}")
    scanner = _run(lambda: _container().bus.execute(CreateScanner(definition=definition)))
    _echo_json(scanner.model_dump(mode="json"))


@scan_app.command("list")
def scan_list() -> None:
    from trading_system.scanning.commands import ListScanners

    _echo_json([s.model_dump(mode="json") for s in _run(lambda: _container().bus.ask(ListScanners()))])


@scan_app.command("run")
def scan_run(scanner_id: str) -> None:
    """Run a scanner now; prints its matches and the values that made them match."""
    from trading_system.scanning.commands import RunScanner

    _echo_json(
        _run(lambda: _container().bus.execute(RunScanner(scanner_id=scanner_id))).model_dump(mode="json")
    )


@scan_app.command("results")
def scan_results(scanner_id: str, limit: int = 10) -> None:
    """A scanner's latest runs with their matches."""
    from trading_system.scanning.commands import ListScanRuns

    _echo_json(_run(lambda: _container().bus.ask(ListScanRuns(scanner_id=scanner_id, limit=limit))))


@scan_app.command("delete")
def scan_delete(scanner_id: str) -> None:
    from trading_system.scanning.commands import DeleteScanner

    _run(lambda: _container().bus.execute(DeleteScanner(scanner_id=scanner_id)))
    typer.echo(f"deleted {scanner_id}")


@app.command()
def signals(scanner: str | None = None, symbol: str | None = None, limit: int = 50) -> None:
    """Signals from scanners and from crossovers/patterns, newest first."""
    from trading_system.scanning.commands import ListSignals

    _echo_json(
        _run(lambda: _container().bus.ask(ListSignals(scanner_id=scanner, symbol=symbol, limit=limit)))
    )


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
