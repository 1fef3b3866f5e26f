"""Facts Market Data publishes on the bus (source `trading.market_data`)."""

from __future__ import annotations

from datetime import datetime

from trading_system.kernel.messages import Event, Message
from trading_system.market_data.domain import Timeframe


class MarketDataEvent(Event):
    context = "market_data"


class SymbolRegistered(MarketDataEvent):
    symbol: str
    asset_class: str
    tags: list[str]


class SymbolRange(Message):
    symbol: str
    first: datetime
    last: datetime
    rows: int
    last_close: float | None = None  # the close and volume of the bar at `last`: the latest price
    last_volume: float | None = None


class BarsIngested(MarketDataEvent):
    ingest_id: str
    timeframe: Timeframe
    rows: int
    start: datetime
    end: datetime
    symbols: list[SymbolRange]
    source: str


class BackfillRequested(MarketDataEvent):
    """A backfill job is queued: submitted, or continued after a run used up its time budget."""

    backfill_id: str
    provider: str
    symbols: int
