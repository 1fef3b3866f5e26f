"""The fill model: named profiles saying when and at what price an order fills and what it costs.
A backtest names its profile; a live deployment's paper account is meant to use the same one, so
the two cannot disagree about what a fill is."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FillProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    market_fill: Literal["next_open", "last_close"] = Field(
        default="next_open",
        description="when a market order fills: at the next bar's open, or at the close of the bar "
        "on which it was placed (backtesting.py's trade_on_close)",
    )
    commission: float = Field(
        default=0.0, ge=-0.1, lt=0.1, description="relative commission per fill (0.002 = 0.2%)"
    )
    commission_fixed: float = Field(default=0.0, ge=0, description="fixed commission per fill, cash")
    spread: float = Field(
        default=0.0, ge=0, lt=0.1, description="relative slippage: buys fill this much higher, sells lower"
    )
    whole_units: bool = Field(default=True, description="size orders in whole units")

    def with_costs(self, commission: float | None, spread: float | None) -> FillProfile:
        changes = {k: v for k, v in {"commission": commission, "spread": spread}.items() if v is not None}
        return FillProfile.model_validate({**self.model_dump(), **changes})


PROFILES: dict[str, FillProfile] = {
    # backtesting.py 0.6.6's broker with its defaults: market orders at the next open, relative
    # commission on entry and on exit, whole units sized from the margin available.
    "backtesting_py": FillProfile(name="backtesting_py"),
    # The paper broker's habit: a market order fills at once at the last known price.
    "last_close": FillProfile(name="last_close", market_fill="last_close"),
}
