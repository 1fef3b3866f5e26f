"""Market Data routes: symbols, bar ingestion (JSON or file) and bar queries.

Each route is built by a factory, called only for the function that serves it (see routes.py):
a Lambda pays FastAPI's analysis of its own route at cold start, not of its context's others.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from trading_system.entrypoints.http.dependencies import Bus, Context, Services
from trading_system.entrypoints.http.params import iso, moment, page_response
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.commands import (
    BarRow,
    CompactLake,
    FileFormat,
    IngestBarFile,
    IngestBars,
    RegisterSymbol,
)
from trading_system.market_data.domain import Bar, Listing, Symbol, Timeframe
from trading_system.market_data.handlers import BarsPage, IngestReport, Registered
from trading_system.market_data.ports import CompactionReport
from trading_system.market_data.queries import MAX_BARS_PER_PAGE, GetBars, GetSymbol, ListSymbols

_CHUNK = 1024 * 1024


class SymbolPage(BaseModel):
    items: list[Listing]
    next_cursor: str | None = Field(description="pass as `after` to get the next page")


class IngestRequest(BaseModel):
    timeframe: Timeframe
    symbol: Symbol | None = Field(default=None, description="symbol of the bars that name none")
    bars: list[BarRow]


class BarsOut(BaseModel):
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None = Field(description="the stored timeframe the bars come from")
    bars: list[Bar]
    next_start: datetime | None = Field(description="pass as `start` to get the next page")


def register_symbol() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.post("/v1/symbols", status_code=201, summary="Register a symbol")
    def _register_symbol(body: RegisterSymbol, response: Response, bus: Bus, context: Context) -> Listing:
        registered: Registered = bus.execute(body, context)
        response.headers["Location"] = f"/v1/symbols/{registered.listing.symbol}"
        if not registered.created:
            response.status_code = 200
        return registered.listing

    return router


def list_symbols() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.get("/v1/symbols", summary="List registered symbols")
    def _list_symbols(
        bus: Bus,
        context: Context,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        tag: str | None = None,
    ) -> SymbolPage:
        items: list[Listing] = bus.ask(ListSymbols(after=after, limit=limit, tag=tag), context)
        return SymbolPage(items=items, next_cursor=items[-1].symbol if len(items) == limit else None)

    return router


def get_symbol() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.get("/v1/symbols/{symbol}", summary="A symbol and the bars held for it")
    def _get_symbol(symbol: str, bus: Bus, context: Context) -> Listing:
        listing: Listing = bus.ask(GetSymbol(symbol=symbol), context)
        return listing

    return router


def ingest_bars() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.post("/v1/bars", status_code=201, summary="Ingest a JSON batch of bars")
    def _ingest_bars(
        body: IngestRequest, response: Response, bus: Bus, context: Context, services: Services
    ) -> IngestReport:
        limit = services.settings.max_batch_rows
        if len(body.bars) > limit:
            raise ValidationFailed(
                f"the batch has {len(body.bars)} bars; at most {limit} are accepted per request",
                [Problem(f"too many bars ({len(body.bars)} > {limit}); split the batch", field="bars")],
            )
        report: IngestReport = bus.execute(
            IngestBars(timeframe=body.timeframe, symbol=body.symbol, bars=body.bars, source="api"), context
        )
        _locate(response, report)
        return report

    return router


def upload_bars() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.post("/v1/bars/files", status_code=201, summary="Ingest a CSV or Parquet file of bars")
    def _upload_bars(
        file: Annotated[UploadFile, File(description="CSV with a header row, or Parquet")],
        timeframe: Annotated[Timeframe, Form()],
        response: Response,
        bus: Bus,
        context: Context,
        services: Services,
        symbol: Annotated[Symbol | None, Form(description="symbol of rows that name none")] = None,
        format: Annotated[FileFormat | None, Form(description="default: from the file name")] = None,
    ) -> IngestReport:
        try:
            fmt = format or FileFormat.of(file.filename or "")
        except ValueError as error:
            raise ValidationFailed(str(error), [Problem(str(error), field="format")]) from None
        limit = services.settings.max_upload_bytes
        with tempfile.TemporaryDirectory(prefix="upload-") as folder:
            path = Path(folder) / f"bars.{fmt.value}"
            size = 0
            with path.open("wb") as out:
                while chunk := file.file.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ValidationFailed(
                            f"the file is larger than the {limit} bytes accepted per upload",
                            [Problem(f"file too large (> {limit} bytes)", field="file")],
                        )
                    out.write(chunk)
            if size == 0:
                raise ValidationFailed("the file is empty", [Problem("the file is empty", field="file")])
            command = IngestBarFile(
                timeframe=timeframe, path=str(path), format=fmt, symbol=symbol, source="upload"
            )
            report: IngestReport = bus.execute(command, context)
        _locate(response, report)
        return report

    return router


def get_bars() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.get(
        "/v1/bars/{symbol}",
        summary="Bars whose start lies in [start, end], resampled from finer bars when needed",
        response_model=BarsOut,
    )
    def _get_bars(
        symbol: str,
        request: Request,
        bus: Bus,
        context: Context,
        timeframe: Timeframe = Timeframe.D1,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_BARS_PER_PAGE)] = 10_000,
    ) -> Response:
        query = GetBars(symbol=symbol, timeframe=timeframe, start=moment(start), end=moment(end), limit=limit)
        page: BarsPage = bus.ask(query, context)
        # Bars can be tens of thousands: build the JSON from columns rather than through models.
        body: dict[str, Any] = {
            "symbol": page.symbol,
            "timeframe": page.timeframe.value,
            "source_timeframe": page.source_timeframe.value if page.source_timeframe else None,
            "bars": page.bars.records() if page.bars is not None else [],
            "next_start": iso(page.next_start),
        }
        return page_response(request, body, page.next_start)

    return router


def compact_lake() -> APIRouter:
    router = APIRouter(tags=["market data"])

    @router.post("/v1/lake/compactions", summary="Merge small lake files now")
    def _compact_lake(body: CompactLake, bus: Bus, context: Context) -> CompactionReport:
        report: CompactionReport = bus.execute(body, context)
        return report

    return router


def _locate(response: Response, report: IngestReport) -> None:
    if len(report.symbols) == 1:
        r = report.symbols[0]
        params = urlencode({"timeframe": report.timeframe.value, "start": iso(r.first), "end": iso(r.last)})
        response.headers["Location"] = f"/v1/bars/{r.symbol}?{params}"


ROUTERS = {
    "register_symbol": register_symbol,
    "list_symbols": list_symbols,
    "get_symbol": get_symbol,
    "ingest_bars": ingest_bars,
    "upload_bars": upload_bars,
    "get_bars": get_bars,
    "compact_lake": compact_lake,
}
