"""Market Data's commands: symbols, ingest, bars and the lake's compaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trading_system.entrypoints.cli.common import (
    Listing,
    MomentOption,
    SeriesFormatOption,
    TimeframeOption,
    ask,
    build_container,
    echo_json,
    echo_rows,
    echo_series,
    execute,
    moment,
    valid,
)

if TYPE_CHECKING:
    from rich.console import Console

    from trading_system.bootstrap import Container
    from trading_system.kernel.messages import Envelope
    from trading_system.market_data.commands import BackfillBars

commands = typer.Typer()
symbols_app = typer.Typer(
    help="Registered symbols (`trading symbols` lists them).", invoke_without_command=True
)
lake_app = typer.Typer(help="The Parquet lake.", no_args_is_help=True)


@commands.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet file")],
    timeframe: TimeframeOption,
    symbol: Annotated[str | None, typer.Option(help="symbol of rows that name none")] = None,
    register: Annotated[bool, typer.Option(help="register unknown symbols first")] = False,
) -> None:
    """Ingest a file of bars; nothing is written if any row is bad."""
    from trading_system.market_data.commands import FileFormat, IngestBarFile, RegisterSymbol

    container = build_container()
    command = valid(
        lambda: IngestBarFile(
            timeframe=timeframe,
            path=str(file.resolve()),
            format=FileFormat.of(file.name),
            symbol=symbol,
            source="cli",
        )
    )
    if register and symbol:
        execute(RegisterSymbol(symbol=symbol), container)
    echo_json(execute(command, container))


@commands.command()
def bars(
    symbol: str,
    timeframe: TimeframeOption = "1d",
    start: MomentOption = None,
    end: MomentOption = None,
    limit: int = 10_000,
    output: SeriesFormatOption = "csv",
    adjustment: Annotated[
        str, typer.Option(help="raw (as traded) or split (back-adjusted for splits)")
    ] = "raw",
) -> None:
    """Bars of a symbol, resampled from finer bars when needed."""
    from trading_system.market_data.queries import GetBars

    container = build_container()
    query = valid(
        lambda: GetBars(
            symbol=symbol,
            timeframe=timeframe,
            start=moment(start),
            end=moment(end),
            limit=limit,
            adjustment=adjustment,
        )
    )
    page = ask(query, container)
    records = page.bars.records() if page.bars is not None else []
    as_json = {
        "symbol": page.symbol,
        "timeframe": page.timeframe,
        "source_timeframe": page.source_timeframe,
        "adjustment": query.adjustment,
        "bars": records,
        "next_start": page.next_start,
    }
    echo_series(output, as_json, records, ["open", "high", "low", "close", "volume"], page.next_start)


@symbols_app.callback()
def symbols_list(ctx: typer.Context, tag: Annotated[str | None, typer.Option()] = None) -> None:
    """List registered symbols with the data held for each."""
    if ctx.invoked_subcommand is not None:
        return
    from trading_system.market_data.queries import ListSymbols

    container = build_container()
    query = ListSymbols(limit=1000, tag=tag)
    typer.echo("symbol,asset_class,tags,timeframes")
    while True:
        page = ask(query, container)
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
    exchange: Annotated[
        str,
        typer.Option(
            help="where it trades (NASDAQ, NYSE, XNYS, CRYPTO, ...): its calendar sets the sessions "
            "its bars align to; blank aligns bars to 00:00 UTC"
        ),
    ] = "",
    asset_class: str = "us_equity",
    tag: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
    tick_size: Annotated[str | None, typer.Option(help="the smallest price move, e.g. 0.01")] = None,
    qty_step: Annotated[
        str | None, typer.Option(help="the smallest quantity, e.g. 1 for whole shares")
    ] = None,
) -> None:
    """Register a symbol."""
    from trading_system.market_data.commands import RegisterSymbol

    container = build_container()
    command = valid(
        lambda: RegisterSymbol(
            symbol=symbol,
            name=name,
            exchange=exchange,
            asset_class=asset_class,
            tags=tag or [],
            tick_size=tick_size,  # type: ignore[arg-type]  # pydantic parses the text
            qty_step=qty_step,  # type: ignore[arg-type]
        )
    )
    echo_json(execute(command, container).listing)


@lake_app.command("compact")
def lake_compact(timeframe: str | None = None) -> None:
    """Move fresh ingest files into per-symbol partitions and merge each partition's files
    (query results do not change)."""
    from trading_system.market_data.commands import CompactLake

    command = valid(lambda: CompactLake(timeframe=timeframe))
    echo_json(execute(command).model_dump())  # Python values, printed as their text


data_app = typer.Typer(
    help="Bars from market-data providers (Alpaca, Binance, Coinbase, Kraken).", no_args_is_help=True
)


@data_app.command("backfill")
def data_backfill(
    provider: Annotated[str, typer.Option(help="alpaca, binance, coinbase or kraken")],
    symbols: Annotated[str, typer.Option(help="comma-separated: AAPL,MSFT (BTC-USDT for a crypto pair)")],
    timeframe: TimeframeOption,
    start: Annotated[str, typer.Option(help="date or ISO timestamp of the first bar (inclusive)")],
    end: MomentOption = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Fetch a range of bars from a provider, page by page, through the same checks as uploads.
    An interrupted backfill resumes where it stopped when run again."""
    from rich.console import Console

    from trading_system.market_data.commands import BackfillBars

    container = build_container()
    command = valid(
        lambda: BackfillBars(
            provider=provider.strip().lower(),
            symbols=[s for s in (part.strip() for part in symbols.split(",")) if s],
            timeframe=timeframe,
            start=moment(start),
            end=moment(end),
        )
    )
    with backfill_progress(container, Console(stderr=True), command):
        report = execute(command, container)
    for done in report.symbols:
        if done.empty:
            typer.secho(
                f"warning: {report.provider} has no {report.timeframe.value} bars for {done.symbol} "
                "in the range: is the symbol right?",
                fg=typer.colors.YELLOW,
                err=True,
            )
    if output == "json":
        echo_json(report)
        return
    rows = [s.model_dump() for s in report.symbols]
    echo_rows(rows, ["symbol", "bars", "pages", "resumed_from", "through"], Listing.TABLE)


@contextmanager
def backfill_progress(container: Container, terminal: Console, command: BackfillBars) -> Iterator[None]:
    """A bar per symbol, advanced by each page's BarsIngested event as the backfill runs inside
    `execute` (nothing shows when stderr is not a terminal)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    start = _utc(command.start)
    end = min(_utc(command.end), datetime.now(UTC)) if command.end is not None else datetime.now(UTC)
    span = max((end - start).total_seconds(), 1.0)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[bars]} bars"))
    with Progress(
        *columns, TimeElapsedColumn(), console=terminal, transient=True, disable=not terminal.is_terminal
    ) as progress:
        tasks = {s: progress.add_task(s, total=span, bars=0) for s in command.symbols}

        def observe(envelope: Envelope) -> None:
            if envelope.event_type != "BarsIngested":
                return
            for ranged in envelope.payload["symbols"]:
                task = tasks.get(ranged["symbol"])
                if task is not None:
                    last = datetime.fromisoformat(ranged["last"])
                    done = progress.tasks[task].fields["bars"] + ranged["rows"]
                    progress.update(task, completed=(last - start).total_seconds(), bars=done)

        container.bus.observers.append(observe)
        try:
            yield
        finally:
            container.bus.observers.remove(observe)


def _utc(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
