"""A deployment: a strategy with its parameters trading a universe on a paper account, live.

    running --pause--> paused --start--> running
       \\______________ stop ______________/--> stopped (final)

A strategy that raises, a halted account or a refused order pauses its deployment with the
reason recorded; a person starts it again. Orders carry client_order_ids derived from
(deployment, symbol, bar, intent), so an event delivered twice never places an order twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trading_system.kernel.errors import Conflict
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.market_data.domain import Symbol, Timeframe
from trading_system.strategies.definitions import some_universe

DEFAULT_HISTORY_BARS = 300


class DeploymentStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class DeploymentDraft(BaseModel):
    """What a user asks for: POST /v1/deployments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(min_length=1, max_length=64)
    params: dict[str, bool | int | float | str] = Field(default_factory=dict, max_length=50)
    symbols: list[Symbol] = Field(
        default_factory=list,
        max_length=500,
        description="the symbols it trades; with a universe_scanner, the ones it may trade (empty: any)",
    )
    universe_scanner: str | None = Field(
        default=None,
        validate_default=True,
        max_length=64,
        description="a scanner of the same timeframe: a symbol may be entered only on the bar the "
        "scanner's signal names (SignalDetected); positions are managed to their exit",
    )
    timeframe: Timeframe = Timeframe.D1
    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    history_bars: int = Field(
        default=DEFAULT_HISTORY_BARS,
        ge=2,
        le=5000,
        description="bars read before each decision (indicator warm-up)",
    )
    max_bar_age_s: int | None = Field(
        default=None,
        ge=60,
        le=30 * 86_400,
        description="a bar that ended longer ago than this is stale: an alert, no orders (default: 2 bars)",
    )
    start: bool = Field(default=True, description="start at once (else created paused)")

    @field_validator("symbols")
    @classmethod
    def _distinct(cls, symbols: list[str]) -> list[str]:
        if len(set(symbols)) != len(symbols):
            raise ValueError("a symbol is named twice")
        return symbols

    _some_universe = field_validator("universe_scanner")(some_universe)

    def trades(self, symbol: str) -> bool:
        """Whether the symbol is in its universe (for a scanner's, once a signal names it)."""
        return symbol in self.symbols if self.symbols else self.universe_scanner is not None

    def stale_after_s(self) -> int:
        return self.max_bar_age_s if self.max_bar_age_s is not None else 2 * self.timeframe.seconds


class Deployment(BaseModel):
    model_config = ConfigDict(frozen=True)

    deployment_id: str
    draft: DeploymentDraft
    strategy_name: str
    kind: Literal["python", "rules"]
    params: dict[str, Any]  # complete: the deployment runs these even if a saved strategy changes
    status: DeploymentStatus
    reason: str | None = None  # why it is paused or stopped
    # The user it trades for: its orders are placed as this user, on an account the user owns;
    # one stored before users existed is the first admin's. `created_by` is the key, for audit.
    owner: str = FIRST_ADMIN
    created_at: datetime
    created_by: str
    updated_at: datetime
    first_bar: dict[str, datetime] = Field(default_factory=dict)  # per symbol, the first bar decided on
    last_bar: dict[str, datetime] = Field(default_factory=dict)  # per symbol, the last bar decided on
    orders_placed: int = 0
    # With a universe scanner: per symbol, the newest bar a signal named, and the newest settled bar
    # (a signal acts on its bar once both agree, whichever of the two events came first).
    signalled: dict[str, datetime] = Field(default_factory=dict)
    settled: dict[str, datetime] = Field(default_factory=dict)
    starting_equity: float | None = None  # the account's equity when deployed (the parity report's cash)

    def start(self, now: datetime) -> Deployment:
        if self.status is DeploymentStatus.STOPPED:
            raise Conflict(f"deployment {self.deployment_id} is stopped: create a new one")
        return self.model_copy(update={"status": DeploymentStatus.RUNNING, "reason": None, "updated_at": now})

    def pause(self, reason: str, now: datetime) -> Deployment:
        if self.status is DeploymentStatus.STOPPED:
            raise Conflict(f"deployment {self.deployment_id} is stopped")
        return self.model_copy(
            update={"status": DeploymentStatus.PAUSED, "reason": reason[:2000], "updated_at": now}
        )

    def stop(self, reason: str, now: datetime) -> Deployment:
        return self.model_copy(
            update={"status": DeploymentStatus.STOPPED, "reason": reason, "updated_at": now}
        )

    def decided(self, symbol: str, bar: datetime, orders: int, now: datetime) -> Deployment:
        return self.model_copy(
            update={
                "first_bar": {symbol: bar, **self.first_bar},
                "last_bar": {**self.last_bar, symbol: bar},
                "orders_placed": self.orders_placed + orders,
                "updated_at": now,
            }
        )

    def signal(self, symbol: str, bar: datetime) -> Deployment:
        newest = max(bar, self.signalled.get(symbol, bar))
        return self.model_copy(update={"signalled": {**self.signalled, symbol: newest}})

    def settle(self, symbol: str, bar: datetime) -> Deployment:
        newest = max(bar, self.settled.get(symbol, bar))
        return self.model_copy(update={"settled": {**self.settled, symbol: newest}})

    def due(self, symbol: str, bar: datetime, holds: bool) -> bool:
        """Whether it decides on this settled bar of the symbol: once per bar; with a universe
        scanner only while it holds the symbol (to manage the position) or on the bar a signal
        named."""
        if symbol in self.last_bar and bar <= self.last_bar[symbol]:
            return False  # decided already (a redelivery), or an older bar corrected
        if self.draft.universe_scanner is None:
            return True
        return holds or self.signalled.get(symbol) == bar

    def oco_group(self, symbol: str) -> str:
        """The one-cancels-other group of the symbol's exits: a stop-loss, a take-profit and the
        strategy's own close, so whichever fills first cancels the others."""
        return f"{self.deployment_id}:{symbol}"

    def client_order_id(self, symbol: str, bar: datetime, intent: int | str) -> str:
        """The same decision on the same bar always gets the same id (a redelivered event then
        replays the order instead of placing a second one)."""
        key = f"{self.deployment_id}|{symbol}|{bar.isoformat()}|{intent}"
        return f"{self.deployment_id}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"
