"""What Strategies tells the rest of the platform."""

from __future__ import annotations

from trading_system.kernel.messages import Event
from trading_system.market_data.domain import Timeframe


class StrategiesEvent(Event):
    context = "strategies"


class BacktestRequested(StrategiesEvent):
    """A backtest was checked and queued: its runner picks it up."""

    backtest_id: str
    strategy: str
    symbols: int


class BacktestCompleted(StrategiesEvent):
    backtest_id: str
    strategy: str
    symbols: list[str]
    timeframe: Timeframe
    bars: int
    trades: int
    return_pct: float | None
    data_fingerprint: str


class BacktestFailed(StrategiesEvent):
    backtest_id: str
    strategy: str
    error: str
