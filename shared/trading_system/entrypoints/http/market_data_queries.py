"""Market Data's read routes: symbols, bars and corporate actions. Found through market_data.py,
as the catalog names their context; apart from the commands' routes (market_data_commands.py), so
that a read imports only the read side (its handlers: market_data/query_handlers.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import IsoMoment, iso, like, moment, page_response
from trading_system.entrypoints.http.routes import route
from trading_system.market_data.domain import ActionKind, Adjustment, Bar, CorporateAction, Listing, Timeframe
from trading_system.market_data.queries import GetBars, GetSymbol, ListCorporateActions, ListSymbols
from trading_system.market_data.query_handlers import BarsPage

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries


class SymbolPage(BaseModel):
    items: list[Listing]
    next_cursor: str | None = Field(description="pass as `after` to get the next page")


class BarsOut(BaseModel):
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None = Field(description="the stored timeframe the bars come from")
    adjustment: Adjustment = Field(description="raw: as traded; split: back-adjusted for splits")
    bars: list[Bar]
    next_start: datetime | None = Field(description="pass as `start` to get the next page")


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
