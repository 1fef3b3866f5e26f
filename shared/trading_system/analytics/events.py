"""Facts Analytics publishes (source `trading.analytics`)."""

from __future__ import annotations

from datetime import datetime

from trading_system.kernel.messages import Event
from trading_system.market_data.domain import Timeframe


class AnalyticsEvent(Event):
    context = "analytics"


class IndicatorsCalculated(AnalyticsEvent):
    """A timeframe's snapshot was refreshed."""

    timeframe: Timeframe
    symbols: int
    touched: list[str]
    specs: list[str]
    latest: datetime | None


class SignalGenerated(AnalyticsEvent):
    """A crossover or a candlestick pattern at a symbol's latest bar."""

    symbol: str
    timeframe: Timeframe
    ts: datetime
    signal: str
    values: dict[str, float]
