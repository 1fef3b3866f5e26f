"""What Strategies tells the rest of the platform."""

from __future__ import annotations

from datetime import datetime

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


class SweepRequested(StrategiesEvent):
    sweep_id: str
    strategy: str
    backtests: int


class SweepProgressed(StrategiesEvent):
    """One block of a sweep ran (blocks run in any order: a client counts the blocks it saw)."""

    sweep_id: str
    block: int
    blocks: int
    backtests: int  # in this block


class SweepCompleted(StrategiesEvent):
    sweep_id: str
    strategy: str
    backtests: int
    best: dict[str, object] | None  # the best combination's values and aggregate


class SweepFailed(StrategiesEvent):
    sweep_id: str
    strategy: str
    error: str


class DeploymentStarted(StrategiesEvent):
    deployment_id: str
    strategy: str
    account_id: str


class DeploymentPaused(StrategiesEvent):
    """A person paused it, or it paused itself: its strategy raised, an order was refused, or
    its account is halted. It stays paused until a person starts it again."""

    deployment_id: str
    account_id: str
    reason: str


class DeploymentStopped(StrategiesEvent):
    deployment_id: str
    account_id: str
    reason: str


class DeploymentOrdered(StrategiesEvent):
    """A deployment decided on a bar and placed orders (ids are Trading's)."""

    deployment_id: str
    symbol: str
    bar: datetime
    order_ids: list[str]


class StaleBars(StrategiesEvent):
    """An alert: a deployment got a bar that ended too long ago to act on, and did not."""

    deployment_id: str
    symbol: str
    bar: datetime
    age_s: float
    max_age_s: int
