"""Market Data's command routes: registering symbols, ingesting bars (JSON or file), recording
corporate actions, compacting the lake and submitting backfills. Found through market_data.py, as
the catalog names their context; apart from the reads' routes (market_data_queries.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import File, Form, Response, UploadFile
from pydantic import BaseModel, Field

from trading_system.entrypoints.http.dependencies import Bus, Context, Services
from trading_system.entrypoints.http.params import iso, like
from trading_system.entrypoints.http.routes import route
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.commands import (
    BackfillBars,
    BarRow,
    CompactLake,
    CorporateActionRow,
    FileFormat,
    IngestBarFile,
    IngestBars,
    RecordCorporateActions,
    RegisterSymbol,
    SubmitBackfill,
)
from trading_system.market_data.domain import Listing, Symbol, Timeframe, symbol_segment
from trading_system.market_data.handlers import ActionsRecorded, IngestReport, Registered
from trading_system.market_data.jobs import BackfillJob
from trading_system.market_data.ports import CompactionReport

_CHUNK = 1024 * 1024


class IngestRequest(BaseModel):
    timeframe: Timeframe
    symbol: Symbol | None = Field(default=None, description="symbol of the bars that name none")
    bars: list[BarRow] = Field(min_length=1)


@route(
    status_code=201,
    responses={200: {"description": "The symbol was registered before: its listing, updated"}},
)
def register_symbol(body: RegisterSymbol, response: Response, bus: Bus, context: Context) -> Listing:
    registered: Registered = bus.execute(body, context)
    response.headers["Location"] = f"/v1/symbols/{symbol_segment(registered.listing.symbol)}"
    if not registered.created:
        response.status_code = 200
    return registered.listing


@route(status_code=201)
def ingest_bars(
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


@route(status_code=201)
def upload_bars(
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


class CorporateActionsRequest(BaseModel):
    actions: list[CorporateActionRow] = Field(min_length=1, max_length=10_000)


@route(
    status_code=201,
    responses={200: {"description": "Every action was already recorded as sent: nothing changed"}},
)
def record_corporate_actions(
    symbol: Annotated[str, like(RecordCorporateActions, "symbol", in_path=True)],
    body: CorporateActionsRequest,
    response: Response,
    bus: Bus,
    context: Context,
) -> ActionsRecorded:
    command = RecordCorporateActions(symbol=symbol, actions=body.actions, source="api")
    recorded: ActionsRecorded = bus.execute(command, context)
    response.headers["Location"] = f"/v1/symbols/{symbol_segment(recorded.symbol)}/corporate-actions"
    if not recorded.recorded:
        response.status_code = 200
    return recorded


def compact_lake(body: CompactLake, bus: Bus, context: Context) -> CompactionReport:
    report: CompactionReport = bus.execute(body, context)
    return report


@route(status_code=202)
def submit_backfill(body: BackfillBars, response: Response, bus: Bus, context: Context) -> BackfillJob:
    job: BackfillJob = bus.execute(SubmitBackfill(request=body), context)
    response.headers["Location"] = f"/v1/backfills/{job.backfill_id}"
    return job


def _locate(response: Response, report: IngestReport) -> None:
    if len(report.symbols) == 1:
        r = report.symbols[0]
        params = urlencode({"timeframe": report.timeframe.value, "start": iso(r.first), "end": iso(r.last)})
        response.headers["Location"] = f"/v1/bars/{symbol_segment(r.symbol)}?{params}"
