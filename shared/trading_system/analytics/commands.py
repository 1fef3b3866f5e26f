"""What a user can tell Analytics to do."""

from __future__ import annotations

from trading_system.kernel.messages import Command
from trading_system.market_data.domain import Timeframe


class RefreshSnapshot(Command):
    """Rebuild a timeframe's snapshot from the lake (normally refreshed on BarsIngested)."""

    timeframe: Timeframe
