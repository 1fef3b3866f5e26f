"""What a user can tell Strategies to do."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from trading_system.kernel.messages import Command
from trading_system.market_data.domain import Symbol, Timeframe

ParamValue = bool | int | Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, Field(max_length=200)]


class RunBacktest(Command):
    """Run a strategy over stored bars and report its orders' trades, equity and statistics."""

    strategy: str = Field(min_length=1, max_length=64, description="e.g. sma_cross")
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=50)
    symbols: list[Symbol] = Field(min_length=1, max_length=500)
    timeframe: Timeframe = Timeframe.D1
    start: datetime | None = None
    end: datetime | None = None
    cash: float = Field(default=10_000, gt=0, le=1e12, allow_inf_nan=False)
    profile: str = Field(default="backtesting_py", description="the fill profile")
    commission: float | None = Field(default=None, ge=-0.1, lt=0.1, allow_inf_nan=False)
    spread: float | None = Field(default=None, ge=0, lt=0.1, allow_inf_nan=False)
    finalize: bool = Field(default=True, description="close trades still open on the last bar")
    equity_curve: bool = Field(default=False, description="include the equity per bar in the report")

    @field_validator("symbols")
    @classmethod
    def _distinct(cls, symbols: list[str]) -> list[str]:
        if len(set(symbols)) != len(symbols):
            raise ValueError("a symbol is named twice")
        return symbols
