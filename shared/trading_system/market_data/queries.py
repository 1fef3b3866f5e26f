"""What a user can ask Market Data."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from trading_system.kernel.messages import Query
from trading_system.market_data.domain import ActionKind, Adjustment, Symbol, Timeframe

MAX_BARS_PER_PAGE = 50_000


class ListSymbols(Query):
    after: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    tag: str | None = None


class GetSymbol(Query):
    symbol: Symbol


class GetBars(Query):
    """Bars whose start lies in [start, end], resampled from finer bars when needed."""

    symbol: Symbol
    timeframe: Timeframe
    start: datetime | None = None
    end: datetime | None = None
    limit: int = Field(default=10_000, ge=1, le=MAX_BARS_PER_PAGE)
    adjustment: Adjustment = Field(
        default=Adjustment.RAW, description="raw: as traded; split: back-adjusted for splits"
    )


class ListCorporateActions(Query):
    """A symbol's splits and dividends, oldest ex-date first."""

    symbol: Symbol
    kind: ActionKind | None = None


class GetBackfill(Query):
    backfill_id: str = Field(min_length=1, max_length=64)


class ListBackfills(Query):
    """Backfill jobs newest first."""

    after: str | None = Field(default=None, max_length=64, description="the last id of the previous page")
    limit: int = Field(default=50, ge=1, le=200)
