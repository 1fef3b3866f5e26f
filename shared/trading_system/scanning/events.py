"""Facts Scanning publishes (source `trading.scanning`)."""

from __future__ import annotations

from datetime import datetime

from trading_system.kernel.messages import Event
from trading_system.market_data.domain import Timeframe


class ScanningEvent(Event):
    context = "scanning"


class ScanCompleted(ScanningEvent):
    scanner_id: str
    run_id: str
    timeframe: Timeframe
    trigger: str
    matches: int
    new_signals: int
    duration_ms: float


class SignalDetected(ScanningEvent):
    """A scanner matched a symbol at a bar for the first time."""

    scanner_id: str
    scanner_name: str
    run_id: str
    symbol: str
    timeframe: Timeframe
    ts: datetime
    values: dict[str, float | bool | None]
