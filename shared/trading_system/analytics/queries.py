from __future__ import annotations

from datetime import datetime

from pydantic import Field

from trading_system.kernel.messages import Query
from trading_system.market_data.domain import Symbol, Timeframe

MAX_INDICATOR_ROWS = 50_000


class GetIndicators(Query):
    """Indicator values of a symbol for bars starting in [start, end], computed over the whole
    history before them so that warm-up never shows as made-up values."""

    symbol: Symbol
    timeframe: Timeframe
    specs: list[str] = Field(min_length=1, max_length=50)
    start: datetime | None = None
    end: datetime | None = None
    limit: int = Field(default=10_000, ge=1, le=MAX_INDICATOR_ROWS)
