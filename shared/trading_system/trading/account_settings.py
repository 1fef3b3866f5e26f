"""An account's terms: what the paper broker charges, which pre-trade limits apply, the loss
limits that halt it, whether it may sell short (and on what margin), and what becomes of a
market order placed while its market is closed (limit and stop orders always wait for the open)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from trading_system.market_data.domain import Symbol
from trading_system.trading.precision import PlainNumbers, money

BPS = Decimal(10_000)

NonNegative = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=6)]
Limit = Annotated[Decimal, Field(gt=0, max_digits=24, decimal_places=6)]
Loss = Annotated[Decimal, Field(gt=0, max_digits=24, decimal_places=2)]
Drawdown = Annotated[Decimal, Field(gt=0, lt=100, max_digits=8, decimal_places=4)]
# Reg T's initial requirement, as Alpaca applies it: a short needs 150% of its value in the
# account, its own proceeds (100%) plus half its value of the trader's buying power.
MarginPct = Annotated[Decimal, Field(ge=100, le=1000, max_digits=6, decimal_places=2)]
Jump = Annotated[Decimal, Field(gt=1, le=1_000_000, max_digits=12, decimal_places=4)]
OutsideHours = Literal["queue", "refuse"]


class AccountSettings(PlainNumbers):
    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_per_share: NonNegative = Decimal(0)
    commission_min: NonNegative = Decimal(0)  # per fill, when a per-share charge applies
    commission_bps: NonNegative = Decimal(0)  # of the fill's notional
    slippage_bps: NonNegative = Decimal(0)  # against the trader on market and stop fills
    participation_cap: Annotated[Decimal, Field(gt=0, le=1)] | None = None  # share of a bar's volume
    max_order_notional: Limit | None = None
    max_position_notional: Limit | None = None  # per symbol, at the order's price
    restricted_symbols: list[Symbol] = Field(default_factory=list, max_length=10_000)
    # Loss limits: crossing one halts the account (only orders that reduce a position pass)
    # until an admin resumes it.
    max_daily_loss: Loss | None = None  # equity below last_equity (the last close's) less this
    max_drawdown_pct: Drawdown | None = None  # equity this many percent below its peak
    # Short selling: a sell beyond the shares held opens a short; each short holds
    # short_margin_pct of its market value (marked to the latest price) out of buying power,
    # its proceeds included.
    shorting: bool = False
    short_margin_pct: MarginPct = Decimal(150)
    # A bar whose fill price is more than this factor away from the symbol's previous close (up
    # or down) fills nothing: the order is canceled with the reason. A bad tick must not become a
    # fill. None: fill at whatever price the bars say.
    max_price_jump: Jump | None = Decimal(10)
    # A market order placed while its symbol's market is closed (a weekend, a holiday, before
    # the open, after the close, early closes included; trading/sessions.py): "queue" accepts it
    # and fills it at the next session's first bar, as Alpaca queues one for the open; "refuse"
    # rejects it, naming when the market opens. Symbols on a 24/7 calendar (crypto), or with no
    # exchange (no hours are known), are never outside hours. Limit and stop orders are never
    # refused for it: placed outside hours they are accepted and rest until the next session's
    # first bar, whichever the setting (docs/TRADING.md). Accounts stored before the setting
    # existed read as "queue".
    outside_hours: OutsideHours = Field(
        default="queue",
        description="a market order placed while its symbol's market is closed: 'queue' it for the "
        "next session's first bar, or 'refuse' it (rejected, naming the next open); limit and stop "
        "orders are never refused: they rest until the next session's first bar",
    )

    def commission(self, qty: Decimal, price: Decimal) -> Decimal:
        """Per share (at least commission_min when it applies) plus bps of notional, as money."""
        per_share = qty * self.commission_per_share
        if per_share > 0:
            per_share = max(per_share, self.commission_min)
        total = per_share + qty * price * self.commission_bps / BPS
        return money(total)

    def slipped(self, price: Decimal, buy: bool) -> Decimal:
        """The price moved against the trader by slippage_bps (to 4 places)."""
        if not self.slippage_bps:
            return price
        factor = self.slippage_bps / BPS
        moved = price * (1 + factor) if buy else price * (1 - factor)
        return moved.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
