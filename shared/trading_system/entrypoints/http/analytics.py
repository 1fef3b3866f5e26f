"""Analytics routes: indicator values and snapshot refreshes.

Each route is built by a factory, called only for the function that serves it (see routes.py):
a Lambda pays FastAPI's analysis of its own route at cold start, not of its context's others.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from trading_system.analytics.handlers import IndicatorTable
from trading_system.analytics.queries import MAX_INDICATOR_ROWS, GetIndicators, RefreshSnapshot
from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import iso, moment, page_response
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


def get_indicators() -> APIRouter:
    router = APIRouter(tags=["analytics"])

    @router.get(
        "/v1/indicators/{symbol}",
        summary="Indicator values of a symbol over a range, several at once",
        response_model=IndicatorsOut,
    )
    def _get_indicators(
        symbol: str,
        request: Request,
        bus: Bus,
        context: Context,
        specs: Annotated[
            str, Query(description="comma-separated, e.g. sma:50,ema:20,rsi:14,macd:12:26:9,bbands:20:2")
        ],
        timeframe: Timeframe = Timeframe.D1,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_INDICATOR_ROWS)] = 10_000,
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

    return router


def refresh_snapshot() -> APIRouter:
    router = APIRouter(tags=["analytics"])

    @router.post(
        "/v1/snapshots/{timeframe}/refreshes",
        summary="Rebuild a timeframe's indicator snapshot from the lake",
    )
    def _refresh_snapshot(timeframe: Timeframe, bus: Bus, context: Context) -> RefreshOut:
        symbols: int = bus.execute(RefreshSnapshot(timeframe=timeframe), context)
        return RefreshOut(timeframe=timeframe, symbols=symbols)

    return router


ROUTERS = {"get_indicators": get_indicators, "refresh_snapshot": refresh_snapshot}
