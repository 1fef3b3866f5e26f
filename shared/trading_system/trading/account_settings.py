"""An account's terms: what the paper broker charges and which pre-trade limits apply."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from trading_system.market_data.domain import Symbol

CENT = Decimal("0.01")
BPS = Decimal(10_000)

NonNegative = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=6)]
Limit = Annotated[Decimal, Field(gt=0, max_digits=24, decimal_places=6)]


class AccountSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_per_share: NonNegative = Decimal(0)
    commission_min: NonNegative = Decimal(0)  # per fill, when a per-share charge applies
    commission_bps: NonNegative = Decimal(0)  # of the fill's notional
    slippage_bps: NonNegative = Decimal(0)  # against the trader on market and stop fills
    participation_cap: Annotated[Decimal, Field(gt=0, le=1)] | None = None  # share of a bar's volume
    max_order_notional: Limit | None = None
    max_position_notional: Limit | None = None  # per symbol, at the order's price
    restricted_symbols: list[Symbol] = Field(default_factory=list, max_length=10_000)

    def commission(self, qty: Decimal, price: Decimal) -> Decimal:
        """Per share (at least commission_min when it applies) plus bps of notional, in cents."""
        per_share = qty * self.commission_per_share
        if per_share > 0:
            per_share = max(per_share, self.commission_min)
        total = per_share + qty * price * self.commission_bps / BPS
        return total.quantize(CENT, rounding=ROUND_HALF_UP)

    def slipped(self, price: Decimal, buy: bool) -> Decimal:
        """The price moved against the trader by slippage_bps (to 4 places)."""
        if not self.slippage_bps:
            return price
        factor = self.slippage_bps / BPS
        moved = price * (1 + factor) if buy else price * (1 - factor)
        return moved.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
