"""`trading`: the command line. It runs the application in-process on the local settings, so
it works with or without `trading serve` running (SQLite and the lake handle both)."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from trading_system.bootstrap import Container, bootstrap
from trading_system.config import SettingsError, load_settings
from trading_system.kernel.errors import DomainError
from trading_system.kernel.principal import Role
from trading_system.trading.orders import OrderSide, OrderStatus, OrderType, TimeInForce

if TYPE_CHECKING:
    from trading_system.trading.orders import Order

M = TypeVar("M", bound=BaseModel)
NUMBER = re.compile(r"-?\d+(\.\d+)?")

app = typer.Typer(help="The trading platform, local runtime.", no_args_is_help=True, add_completion=False)
symbols_app = typer.Typer(
    help="Registered symbols (`trading symbols` lists them).", invoke_without_command=True
)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
lake_app = typer.Typer(help="The Parquet lake.", no_args_is_help=True)
dead_app = typer.Typer(help="Events a subscriber kept failing on.", no_args_is_help=True)
scan_app = typer.Typer(help="Scanners: rules run over the whole universe's snapshot.", no_args_is_help=True)
order_app = typer.Typer(help="Place an order (buy, sell) or look at one (show).", no_args_is_help=True)
accounts_app = typer.Typer(help="Paper accounts.", no_args_is_help=True)
app.add_typer(symbols_app, name="symbols")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")
app.add_typer(lake_app, name="lake")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(scan_app, name="scan")
app.add_typer(order_app, name="order")
app.add_typer(accounts_app, name="accounts")

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
        _run(lambda: demo.ensure_demo_account(container, demo.symbols(symbols)[:3]))
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


# -- trading ---------------------------------------------------------------------------------


class Listing(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class Shown(StrEnum):
    TEXT = "text"
    JSON = "json"


AccountOption = Annotated[
    str | None, typer.Option("--account", help="default: the settings' default account")
]
ListingOption = Annotated[Listing, typer.Option("--format", help="table (aligned), csv or json")]
ShownOption = Annotated[Shown, typer.Option("--format", help="text or json")]


def _decimal(text: str | None, name: str) -> Decimal | None:
    """A number from the command line, exactly as typed (never through float)."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        _fail(f"error: {name}: {text!r} is not a number")
    if not value.is_finite():
        _fail(f"error: {name}: {text!r} is not a finite number")
    return value


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"error: {name}: {text!r} is not a date (YYYY-MM-DD)")


def _make(model: type[M], **fields: Any) -> M:
    """A command, query or request built from options; what is wrong is named field by field."""
    try:
        return model(**fields)
    except ValidationError as error:
        lines = [f"error: invalid {model.__name__}"]
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "input"
            lines.append(f"  - {where}: {problem['msg']}")
        _fail("\n".join(lines))


def _cell(value: Any) -> str:
    """One value as text: decimals exactly as held (no exponent, no float rounding)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "|".join(_cell(v) for v in value)
    return str(value)


def _numeric(cells: list[str]) -> bool:
    """Whether a column holds numbers only (they are right-aligned)."""
    filled = [c for c in cells if c]
    return bool(filled) and all(NUMBER.fullmatch(c) for c in filled)


def _echo_rows(rows: Sequence[Mapping[str, Any]], columns: list[str], output: Listing) -> None:
    """Rows as an aligned table (numbers right-aligned), as CSV, or (all fields) as JSON."""
    if output is Listing.JSON:
        _echo_json([dict(r) for r in rows])
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if output is Listing.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(cells)
        typer.echo(buffer.getvalue(), nl=False)
        return
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    right = [_numeric([row[i] for row in cells]) for i in range(len(columns))]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        parts = [text.rjust(w) if r else text.ljust(w) for text, w, r in zip(row, widths, right, strict=True)]
        typer.echo("  ".join(parts).rstrip())


def _echo_fields(fields: Mapping[str, Any], skip_empty: bool = True) -> None:
    """Name: value lines, aligned."""
    shown = {k: v for k, v in fields.items() if not (skip_empty and v is None)}
    width = max((len(k) for k in shown), default=0) + 1
    for key, value in shown.items():
        typer.echo(f"{(key + ':').ljust(width)} {_cell(value)}".rstrip())


def _more(next_cursor: str | None) -> None:
    if next_cursor:
        typer.secho(f"# more rows: --after {next_cursor}", err=True)


def _request_text(order: Order) -> str:
    size = f"{_cell(order.qty)}" if order.qty is not None else f"${_cell(order.notional)} of"
    text = f"{order.side.value} {size} {order.symbol} {order.type.value}"
    if order.type is OrderType.STOP_LIMIT:
        text += f" stop {_cell(order.stop_price)} limit {_cell(order.limit_price)}"
    elif order.type is not OrderType.MARKET:
        text += f" {_cell(order.limit_price if order.limit_price is not None else order.stop_price)}"
    return f"{text} {order.time_in_force.value}"


def _order_summary(order: Order) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "order": order.id,
        "client_order_id": order.client_order_id,
        "account": order.account_id,
        "request": _request_text(order),
        "status": order.status,
        "filled": f"{_cell(order.filled_qty)} @ {_cell(order.filled_avg_price)}" if order.filled_qty else "0",
        "commission": order.commission if order.commission else None,
        "reason": order.reject_reason or order.cancel_reason,
    }
    return summary


def _echo_order(order: Order, output: Shown, replayed: bool = False) -> None:
    if output is Shown.JSON:
        _echo_json({**order.model_dump(mode="json"), "replayed": replayed})
        return
    _echo_fields(_order_summary(order))
    if replayed:
        typer.secho("(this client_order_id was placed before: that order is shown)", err=True)


ORDER_COLUMNS = [
    "id",
    "submitted_at",
    "symbol",
    "side",
    "type",
    "time_in_force",
    "qty",
    "notional",
    "limit_price",
    "stop_price",
    "status",
    "filled_qty",
    "filled_avg_price",
]


def _place(
    side: OrderSide,
    symbol: str,
    qty: str | None,
    notional: str | None,
    limit_price: str | None,
    stop_price: str | None,
    order_type: OrderType | None,
    tif: TimeInForce,
    client_order_id: str | None,
    account: str | None,
    output: Shown,
) -> None:
    from trading_system.trading.commands import PlaceOrder
    from trading_system.trading.handlers import PlacedOrder
    from trading_system.trading.orders import OrderRequest

    limit, stop = _decimal(limit_price, "--limit"), _decimal(stop_price, "--stop")
    if order_type is None:
        inferred = {(False, False): OrderType.MARKET, (True, False): OrderType.LIMIT}
        inferred |= {(False, True): OrderType.STOP, (True, True): OrderType.STOP_LIMIT}
        order_type = inferred[(limit is not None, stop is not None)]
    request = _make(
        OrderRequest,
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=tif,
        qty=_decimal(qty, "QTY"),
        notional=_decimal(notional, "--notional"),
        limit_price=limit,
        stop_price=stop,
        client_order_id=client_order_id,
        account_id=account,
    )
    container = _container()
    placed: PlacedOrder = _run(lambda: container.bus.execute(PlaceOrder(request=request)))
    _echo_order(placed.order, output, placed.replayed)
    if placed.order.status is OrderStatus.REJECTED:
        typer.secho(f"rejected: {placed.order.reject_reason}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _order_command(side: OrderSide) -> Callable[..., None]:
    def command(
        symbol: str,
        qty: Annotated[
            str | None, typer.Argument(help="shares, fractions allowed; omit it with --notional")
        ] = None,
        notional: Annotated[
            str | None, typer.Option(help="an amount of money instead of QTY (market day orders)")
        ] = None,
        limit_price: Annotated[str | None, typer.Option("--limit", help="limit price")] = None,
        stop_price: Annotated[str | None, typer.Option("--stop", help="stop price")] = None,
        order_type: Annotated[
            OrderType | None,
            typer.Option(
                "--type", help="default: market, limit with --limit, stop with --stop, both: stop_limit"
            ),
        ] = None,
        tif: Annotated[TimeInForce, typer.Option("--tif", help="time in force")] = TimeInForce.DAY,
        client_order_id: Annotated[
            str | None, typer.Option(help="idempotency key: placing it again returns the same order")
        ] = None,
        account: AccountOption = None,
        output: ShownOption = Shown.TEXT,
    ) -> None:
        _place(
            side,
            symbol,
            qty,
            notional,
            limit_price,
            stop_price,
            order_type,
            tif,
            client_order_id,
            account,
            output,
        )

    command.__doc__ = (
        f"Place a {side.value} order and print its id, status and fills; "
        "a rejected order prints its reason and exits 1."
    )
    return command


order_app.command("buy")(_order_command(OrderSide.BUY))
order_app.command("sell")(_order_command(OrderSide.SELL))


def _event_detail(kind: str, data: Mapping[str, Any]) -> str:
    if kind == "OrderPlaced":
        size = data["qty"] if data.get("qty") is not None else f"${data.get('notional')} of"
        prices = [f"{k} {data[k + '_price']}" for k in ("stop", "limit") if data.get(k + "_price")]
        return " ".join([data["side"], size, data["symbol"], data["type"], *prices, data["time_in_force"]])
    if data.get("reason"):
        return str(data["reason"])
    if "fill_id" in data:
        return f"{data['qty']} @ {data['price']} (filled {data['filled_qty']} @ {data['filled_avg_price']})"
    if "session" in data:
        return f"session {data['session']}"
    return ""


@order_app.command("show")
def order_show(order_id: str, output: ShownOption = Shown.TEXT) -> None:
    """One order, and its event history with who did what and when."""
    from trading_system.trading.commands import GetOrder, ListOrderEvents

    container = _container()
    order: Order = _run(lambda: container.bus.ask(_make(GetOrder, order_id=order_id)))
    events: list[dict[str, Any]] = _run(lambda: container.bus.ask(_make(ListOrderEvents, order_id=order_id)))
    if output is Shown.JSON:
        _echo_json({"order": order.model_dump(mode="json"), "events": events})
        return
    _echo_fields(
        {
            **_order_summary(order),
            "submitted_at": order.submitted_at,
            "filled_at": order.filled_at,
            "canceled_at": order.canceled_at,
            "expired_at": order.expired_at,
            "rejected_at": order.rejected_at,
        }
    )
    typer.echo("")
    rows = [
        {
            "version": e["version"],
            "recorded_at": e["recorded_at"],
            "type": e["type"],
            "by": f"{e['by'].get('key_id')} ({e['by'].get('role')})",
            "command": e["command"],
            "detail": _event_detail(e["type"], e["data"]),
        }
        for e in events
    ]
    _echo_rows(rows, ["version", "recorded_at", "type", "by", "command", "detail"], Listing.TABLE)


@app.command("orders")
def orders_list(
    status: Annotated[str, typer.Option(help="open, closed or all")] = "open",
    symbol: str | None = None,
    account: AccountOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    after: Annotated[str | None, typer.Option(help="cursor from the previous page")] = None,
    output: ListingOption = Listing.TABLE,
) -> None:
    """An account's orders, newest first."""
    from trading_system.trading.commands import ListOrders

    query = _make(ListOrders, status=status, symbol=symbol, account_id=account, limit=limit, after=after)
    page = _run(lambda: _container().bus.ask(query))
    _echo_rows(
        [o.model_dump(mode="json" if output is Listing.JSON else "python") for o in page.orders],
        ORDER_COLUMNS,
        output,
    )
    _more(page.next)


@app.command("cancel")
def cancel(
    order_id: str,
    reason: Annotated[str, typer.Option(help="recorded on the order")] = "canceled by request",
    output: ShownOption = Shown.TEXT,
) -> None:
    """Cancel an open order."""
    from trading_system.trading.commands import CancelOrder

    command = _make(CancelOrder, order_id=order_id, reason=reason)
    order: Order = _run(lambda: _container().bus.execute(command))
    _echo_order(order, output)


POSITION_COLUMNS = [
    "symbol",
    "qty",
    "avg_entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "realized_pl",
    "commission",
]


@app.command()
def positions(account: AccountOption = None, output: ListingOption = Listing.TABLE) -> None:
    """Positions marked to the latest price."""
    from trading_system.trading.commands import ListPositions

    query = _make(ListPositions, account_id=account)
    views = _run(lambda: _container().bus.ask(query))
    mode = "json" if output is Listing.JSON else "python"
    _echo_rows([v.model_dump(mode=mode) for v in views], POSITION_COLUMNS, output)


@app.command("account")
def account_show(account: AccountOption = None, output: ShownOption = Shown.TEXT) -> None:
    """Cash, buying power, equity and P&L of an account."""
    from trading_system.trading.commands import GetAccount

    query = _make(GetAccount, account_id=account)
    view = _run(lambda: _container().bus.ask(query))
    if output is Shown.JSON:
        _echo_json(view.model_dump(mode="json"))
        return
    fields = view.model_dump(exclude={"settings"})
    settings = view.settings.model_dump(exclude_defaults=True)
    fields["settings"] = ", ".join(f"{k}={_cell(v)}" for k, v in settings.items()) or "defaults"
    _echo_fields(fields)


FILL_COLUMNS = [
    "market_time",
    "symbol",
    "side",
    "qty",
    "price",
    "commission",
    "realized_pl",
    "order_id",
    "fill_id",
]


@app.command()
def fills(
    symbol: str | None = None,
    account: AccountOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    after: Annotated[str | None, typer.Option(help="cursor from the previous page")] = None,
    output: ListingOption = Listing.TABLE,
) -> None:
    """An account's fills (since its last reset)."""
    from trading_system.trading.commands import ListFills

    query = _make(ListFills, symbol=symbol, account_id=account, limit=limit, after=after)
    page = _run(lambda: _container().bus.ask(query))
    _echo_rows(page["fills"], FILL_COLUMNS, output)
    _more(page.get("next"))


PNL_COLUMNS = ["realized_pl", "commission", "net_pl", "fills", "bought_qty", "sold_qty", "traded_value"]


@app.command()
def pnl(
    by: Annotated[str, typer.Option(help="day or symbol")] = "day",
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (market time, UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (inclusive)")] = None,
    account: AccountOption = None,
    all_epochs: Annotated[bool, typer.Option(help="include fills from before the last reset")] = False,
    output: ListingOption = Listing.TABLE,
) -> None:
    """Realized P&L and commissions from the fills, by day or by symbol."""
    from trading_system.trading.commands import GetPnl

    query = _make(
        GetPnl,
        by=by,
        start=_day(start, "--start"),
        end=_day(end, "--end"),
        account_id=account,
        all_epochs=all_epochs,
    )
    report = _run(lambda: _container().bus.ask(query))
    columns = list(report.rows[0]) if report.rows else [report.by, *PNL_COLUMNS]
    _echo_rows(report.rows, columns, output)


ACCOUNT_COLUMNS = [
    "account_id",
    "cash",
    "buying_power",
    "equity",
    "day_pl",
    "realized_pl",
    "unrealized_pl",
    "commission",
    "open_orders",
    "epoch",
]


@accounts_app.command("list")
def accounts_list(output: ListingOption = Listing.TABLE) -> None:
    """Every paper account, marked to the latest prices."""
    from trading_system.trading.commands import ListAccounts

    views = _run(lambda: _container().bus.ask(ListAccounts()))
    mode = "json" if output is Listing.JSON else "python"
    _echo_rows([v.model_dump(mode=mode) for v in views], ACCOUNT_COLUMNS, output)


def _echo_account(account: Any, output: Shown) -> None:
    if output is Shown.JSON:
        _echo_json(account.model_dump(mode="json"))
        return
    settings = account.settings.model_dump(exclude_defaults=True)
    _echo_fields(
        {
            "account": account.account_id,
            "starting_cash": account.starting_cash,
            "cash": account.cash,
            "epoch": account.epoch,
            "settings": ", ".join(f"{k}={_cell(v)}" for k, v in settings.items()) or "defaults",
        }
    )


@accounts_app.command("create")
def accounts_create(
    account_id: str,
    cash: Annotated[str, typer.Option(help="starting cash")],
    commission_per_share: Annotated[str | None, typer.Option()] = None,
    commission_min: Annotated[
        str | None, typer.Option(help="per fill, when a per-share charge applies")
    ] = None,
    commission_bps: Annotated[str | None, typer.Option(help="of the fill's notional")] = None,
    slippage_bps: Annotated[
        str | None, typer.Option(help="against the trader on market and stop fills")
    ] = None,
    participation_cap: Annotated[str | None, typer.Option(help="share of a bar's volume, 0..1")] = None,
    max_order_notional: Annotated[str | None, typer.Option()] = None,
    max_position_notional: Annotated[str | None, typer.Option(help="per symbol")] = None,
    restrict: Annotated[list[str] | None, typer.Option(help="a symbol not to trade; repeatable")] = None,
    output: ShownOption = Shown.TEXT,
) -> None:
    """Create a paper account with its commission, slippage and risk limits."""
    from trading_system.trading.account_settings import AccountSettings
    from trading_system.trading.commands import CreateAccount

    given = {
        "commission_per_share": _decimal(commission_per_share, "--commission-per-share"),
        "commission_min": _decimal(commission_min, "--commission-min"),
        "commission_bps": _decimal(commission_bps, "--commission-bps"),
        "slippage_bps": _decimal(slippage_bps, "--slippage-bps"),
        "participation_cap": _decimal(participation_cap, "--participation-cap"),
        "max_order_notional": _decimal(max_order_notional, "--max-order-notional"),
        "max_position_notional": _decimal(max_position_notional, "--max-position-notional"),
        "restricted_symbols": restrict,
    }
    settings = _make(AccountSettings, **{k: v for k, v in given.items() if v is not None})
    command = _make(
        CreateAccount, account_id=account_id, starting_cash=_decimal(cash, "--cash"), settings=settings
    )
    _echo_account(_run(lambda: _container().bus.execute(command)), output)


@accounts_app.command("reset")
def accounts_reset(
    account_id: str,
    cash: Annotated[str | None, typer.Option(help="new starting cash (default: the current one)")] = None,
    output: ShownOption = Shown.TEXT,
) -> None:
    """Reset an account: open orders are canceled, positions and P&L cleared, cash restored."""
    from trading_system.trading.commands import ResetAccount

    command = _make(ResetAccount, account_id=account_id, starting_cash=_decimal(cash, "--cash"))
    _echo_account(_run(lambda: _container().bus.execute(command)), output)


def _echo_status(status: Mapping[str, Any]) -> None:
    if status.get("halted"):
        typer.echo(f"trading is HALTED: {status.get('reason')}")
    else:
        typer.echo("trading is running")
    _echo_fields({"since": status.get("since"), "by": status.get("by")})


@app.command()
def halt(
    reason: str,
    cancel_open: Annotated[bool, typer.Option(help="also cancel every open order")] = False,
) -> None:
    """The kill switch: refuse new orders on every account until `trading resume`."""
    from trading_system.trading.commands import HaltTrading

    command = _make(HaltTrading, reason=reason, cancel_open_orders=cancel_open)
    _echo_status(_run(lambda: _container().bus.execute(command)))


@app.command()
def resume() -> None:
    """Lift the kill switch."""
    from trading_system.trading.commands import ResumeTrading

    _echo_status(_run(lambda: _container().bus.execute(ResumeTrading())))


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
