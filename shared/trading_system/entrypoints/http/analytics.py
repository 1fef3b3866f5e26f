"""Analytics routes: indicator values and snapshot refreshes.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from trading_system.analytics.commands import RefreshSnapshot
from trading_system.analytics.domain import IndicatorTable
from trading_system.analytics.queries import GetIndicators
from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import IsoMoment, iso, like, moment, page_response
from trading_system.entrypoints.http.routes import route
from trading_system.market_data.domain import Timeframe


class IndicatorsOut(BaseModel):
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None
    specs: list[str] = Field(description="canonical specs, e.g. sma:50, macd:12:26:9")
    columns: list[str] = Field(description="one per output, e.g. sma_50, macd_12_26_9__signal")
    rows: list[dict[str, Any]] = Field(description="{ts, <column>: value or null inside the warm-up}")
    next_start: datetime | None


class RefreshOut(BaseModel):
    timeframe: Timeframe
    symbols: int


@route(response_model=IndicatorsOut)
def get_indicators(
    symbol: Annotated[str, like(GetIndicators, "symbol", in_path=True)],
    request: Request,
    bus: Bus,
    context: Context,
    specs: Annotated[
        str, Query(description="comma-separated, e.g. sma:50,ema:20,rsi:14,macd:12:26:9,bbands:20:2")
    ],
    timeframe: Timeframe = Timeframe.D1,
    start: IsoMoment | None = None,
    end: IsoMoment | None = None,
    limit: int = like(GetIndicators, "limit"),
) -> Response:
    query = GetIndicators(
        symbol=symbol,
        timeframe=timeframe,
        specs=[specs],
        start=moment(start),
        end=moment(end),
        limit=limit,
    )
    table: IndicatorTable = bus.ask(query, context)
    body = {
        "symbol": table.symbol,
        "timeframe": table.timeframe.value,
        "source_timeframe": table.source_timeframe.value if table.source_timeframe else None,
        "specs": table.specs,
        "columns": list(table.values),
        "rows": table.records(),
        "next_start": iso(table.next_start),
    }
    return page_response(request, body, table.next_start)


def refresh_snapshot(timeframe: Timeframe, bus: Bus, context: Context) -> RefreshOut:
    symbols: int = bus.execute(RefreshSnapshot(timeframe=timeframe), context)
    return RefreshOut(timeframe=timeframe, symbols=symbols)
