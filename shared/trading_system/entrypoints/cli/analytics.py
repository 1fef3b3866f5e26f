"""Analytics' commands: indicators."""

from __future__ import annotations

from typing import Annotated

import typer

from trading_system.entrypoints.cli.common import (
    MomentOption,
    SeriesFormatOption,
    TimeframeOption,
    ask,
    build_container,
    echo_series,
    moment,
    valid,
)

commands = typer.Typer()


@commands.command()
def indicators(
    symbol: str,
    specs: Annotated[list[str], typer.Argument(help="e.g. sma:50 rsi:14 macd:12:26:9 bbands:20:2")],
    timeframe: TimeframeOption = "1d",
    start: MomentOption = None,
    end: MomentOption = None,
    limit: int = 10_000,
    output: SeriesFormatOption = "csv",
) -> None:
    """Indicator values of a symbol (empty cells inside each indicator's warm-up)."""
    from trading_system.analytics.queries import GetIndicators

    container = build_container()
    query = valid(
        lambda: GetIndicators(
            symbol=symbol,
            timeframe=timeframe,
            specs=specs,
            start=moment(start),
            end=moment(end),
            limit=limit,
        )
    )
    table = ask(query, container)
    records = table.records()
    as_json = {"symbol": table.symbol, "timeframe": table.timeframe, "specs": table.specs, "rows": records}
    echo_series(output, as_json, records, list(table.values), table.next_start)
