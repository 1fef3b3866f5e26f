"""Signals: one model and one way of recording them, for every source (Analytics' crossovers
and candlestick patterns, Scanning's scanners). A signal is raised at most once: its claim key
is remembered in the write store before it is logged, and released again if logging fails, so
a retry raises it then."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from trading_system.market_data.domain import Timeframe

if TYPE_CHECKING:
    from trading_system.analytics.ports import SignalLog, SignalRegistry

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Signal(BaseModel):
    source: Literal["analytics", "scanner"]
    symbol: str
    timeframe: Timeframe
    ts: datetime
    name: str  # the crossover or pattern, or the scanner's name
    values: dict[str, Any]
    detected_at: datetime
    scanner_id: str | None = None
    run_id: str | None = None

    @property
    def _ts_us(self) -> int:
        return (self.ts - _EPOCH) // timedelta(microseconds=1)

    @property
    def signal_id(self) -> str:
        if self.source == "scanner":
            return f"{self.scanner_id}:{self.symbol}:{self.ts.isoformat()}"
        return f"{self.timeframe.value}:{self.symbol}:{self._ts_us}:{self.name}"

    @property
    def claim_key(self) -> str:
        """What makes it unique: a scanner's match of a symbol at a bar, or a pattern of a
        symbol at a bar."""
        if self.source == "scanner":
            return f"scan#{self.scanner_id}#{self.symbol}#{self.ts.isoformat()}"
        return f"analytics#{self.timeframe.value}#{self.symbol}#{self._ts_us}#{self.name}"

    def record(self) -> dict[str, Any]:
        """The signal as the log keeps it."""
        return {
            "signal_id": self.signal_id,
            "source": self.source,
            "scanner_id": self.scanner_id,
            "run_id": self.run_id,
            "symbol": self.symbol,
            "timeframe": self.timeframe.value,
            "ts": self.ts.isoformat(),
            "name": self.name,
            "values": self.values,
            "detected_at": self.detected_at.isoformat(),
        }


def record_signals(
    candidates: Sequence[Signal], signal_registry: SignalRegistry, signal_log: SignalLog
) -> list[Signal]:
    """The candidates never raised before, now claimed and logged (in the candidates' order)."""
    fresh = [signal for signal in candidates if signal_registry.claim(signal.claim_key)]
    try:
        signal_log.append_signals([signal.record() for signal in fresh])
    except Exception:
        signal_registry.release([signal.claim_key for signal in fresh])
        raise
    return fresh
