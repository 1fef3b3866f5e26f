"""Market Data routes: symbols, bar ingestion (JSON or file), bar queries and backfill jobs.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from trading_system.entrypoints.http.dependencies import Bus, Context, Services
from trading_system.entrypoints.http.params import IsoMoment, iso, like, moment, page_response
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
from trading_system.market_data.domain import (
    ActionKind,
    Adjustment,
    Bar,
    CorporateAction,
    Listing,
    Symbol,
    Timeframe,
    symbol_segment,
)
from trading_system.market_data.handlers import ActionsRecorded, BarsPage, IngestReport, Registered
from trading_system.market_data.jobs import BackfillJob
from trading_system.market_data.ports import CompactionReport
from trading_system.market_data.queries import (
    GetBackfill,
    GetBars,
    GetSymbol,
    ListBackfills,
    ListCorporateActions,
    ListSymbols,
)

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries

_CHUNK = 1024 * 1024


class SymbolPage(BaseModel):
    items: list[Listing]
    next_cursor: str | None = Field(description="pass as `after` to get the next page")


class IngestRequest(BaseModel):
    timeframe: Timeframe
    symbol: Symbol | None = Field(default=None, description="symbol of the bars that name none")
    bars: list[BarRow] = Field(min_length=1)


class BarsOut(BaseModel):
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None = Field(description="the stored timeframe the bars come from")
    adjustment: Adjustment = Field(description="raw: as traded; split: back-adjusted for splits")
    bars: list[Bar]
    next_start: datetime | None = Field(description="pass as `start` to get the next page")


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


def list_symbols(
    bus: Bus,
    context: Context,
    after: str | None = None,
    limit: int = like(ListSymbols, "limit"),
    tag: str | None = None,
) -> SymbolPage:
    items: list[Listing] = bus.ask(ListSymbols(after=after, limit=limit, tag=tag), context)
    return SymbolPage(items=items, next_cursor=items[-1].symbol if len(items) == limit else None)


def get_symbol(
    symbol: Annotated[str, like(GetSymbol, "symbol", in_path=True)], bus: Bus, context: Context
) -> Listing:
    listing: Listing = bus.ask(GetSymbol(symbol=symbol), context)
    return listing


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


@route(response_model=BarsOut)
def get_bars(
    symbol: Annotated[str, like(GetBars, "symbol", in_path=True)],
    request: Request,
    bus: Bus,
    context: Context,
    timeframe: Timeframe = Timeframe.D1,
    start: IsoMoment | None = None,
    end: IsoMoment | None = None,
    limit: int = like(GetBars, "limit"),
    adjustment: Adjustment = like(GetBars, "adjustment"),
) -> Response:
    query = GetBars(
        symbol=symbol,
        timeframe=timeframe,
        start=moment(start),
        end=moment(end),
        limit=limit,
        adjustment=adjustment,
    )
    page: BarsPage = bus.ask(query, context)
    # Bars can be tens of thousands: their JSON is built from the columns (see _bars_json).
    body: dict[str, Any] = {
        "symbol": page.symbol,
        "timeframe": page.timeframe.value,
        "source_timeframe": page.source_timeframe.value if page.source_timeframe else None,
        "adjustment": query.adjustment.value,
        "bars": orjson.Fragment(_bars_json(page.bars)) if page.bars is not None else [],
        "next_start": iso(page.next_start),
    }
    return page_response(request, body, page.next_start)


_BAR_KEYS = (b',"open":', b',"high":', b',"low":', b',"close":', b',"volume":')
_NUMPY = orjson.OPT_SERIALIZE_NUMPY  # a float64 array spelled as its list of floats, without the list
_BAR_SLOTS = 2 + len(_BAR_KEYS)  # per bar: '},{"ts":"<date>T', '<time>Z"', then ',"<key>":<value>' each


def _bars_json(bars: BarSeries) -> bytes:
    """The bars as a JSON array of `Bar` objects, the bytes orjson writes for `bars.records()`,
    in a fraction of the time: no dict or datetime per bar. orjson writes each price column as
    one array (every number spelled as for a float, NaN as null), which is cut into its values,
    each behind its key; a timestamp is its date and its time of day, each formatted once per
    distinct value (2 years of hourly bars have 730 dates and 24 times); and the pieces are
    interleaved by list slicing and joined once."""
    import numpy as np  # the lake's functions have it loaded; the other functions never need it

    n = len(bars)
    if n == 0:
        return b"[]"
    seconds = bars.ts_us // 1_000_000
    days, day_of = np.unique(seconds // 86_400, return_inverse=True)
    times, time_of = np.unique(seconds % 86_400, return_inverse=True)
    dates = [b'},{"ts":"%sT' % d for d in np.datetime_as_string(days.astype("datetime64[D]")).astype("S")]
    clock = [b'%02d:%02d:%02dZ"' % (t // 3600, t // 60 % 60, t % 60) for t in times.tolist()]
    parts: list[bytes] = [b""] * (_BAR_SLOTS * n)
    parts[0::_BAR_SLOTS] = np.array(dates, dtype=object)[day_of].tolist()
    parts[0] = parts[0].removeprefix(b"},")
    parts[1::_BAR_SLOTS] = np.array(clock, dtype=object)[time_of].tolist()
    columns = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    for i, (key, column) in enumerate(zip(_BAR_KEYS, columns, strict=True)):
        # [v0,v1,...] -> ',"open":v0', ',"open":v1', ...: a NUL never occurs in orjson's numbers.
        values = b"," + orjson.dumps(np.ascontiguousarray(column, np.float64), option=_NUMPY)[1:-1]
        parts[2 + i :: _BAR_SLOTS] = values.replace(b",", b"\0" + key).split(b"\0")[1:]
    return b"[" + b"".join(parts) + b"}]"


def list_corporate_actions(
    symbol: Annotated[str, like(ListCorporateActions, "symbol", in_path=True)],
    bus: Bus,
    context: Context,
    kind: ActionKind | None = None,
) -> list[CorporateAction]:
    actions: list[CorporateAction] = bus.ask(ListCorporateActions(symbol=symbol, kind=kind), context)
    return actions


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


def list_backfills(
    bus: Bus,
    context: Context,
    after: str | None = like(ListBackfills, "after"),
    limit: int = like(ListBackfills, "limit"),
) -> list[BackfillJob]:
    jobs: list[BackfillJob] = bus.ask(ListBackfills(after=after, limit=limit), context)
    return jobs


def get_backfill(
    backfill_id: Annotated[str, like(GetBackfill, "backfill_id", in_path=True)], bus: Bus, context: Context
) -> BackfillJob:
    job: BackfillJob = bus.ask(GetBackfill(backfill_id=backfill_id), context)
    return job


def _locate(response: Response, report: IngestReport) -> None:
    if len(report.symbols) == 1:
        r = report.symbols[0]
        params = urlencode({"timeframe": report.timeframe.value, "start": iso(r.first), "end": iso(r.last)})
        response.headers["Location"] = f"/v1/bars/{symbol_segment(r.symbol)}?{params}"
