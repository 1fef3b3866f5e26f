"""The last known price of a symbol, as the ledger keeps it.

Apart from the broker port (broker.py), which takes one: the read side marks accounts and
positions with quotes, and so reads them without importing the broker's executions and bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class Quote:
    """The last known price of a symbol: a bar's close, known from the bar's end on."""

    symbol: str
    price: Decimal
    volume: Decimal
    market_time: datetime  # the end of the bar the price closed
    bar_ts: datetime | None = None  # the start of that bar (None in quotes kept before it was)

    @property
    def bar_start(self) -> datetime:
        """The start of the bar the price closed: a fill at this price belongs to that bar's
        session (a Friday's daily bar ends on Saturday at 00:00 UTC, but its close is
        Friday's). A quote kept without it: just before the bar's end, when it closed, which is
        in the same UTC date for every timeframe up to a day."""
        return self.bar_ts if self.bar_ts is not None else self.market_time - timedelta(microseconds=1)
