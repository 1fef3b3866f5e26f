"""What a user can ask Strategies."""

from __future__ import annotations

from trading_system.kernel.messages import Query


class ListStrategies(Query):
    """Every strategy that can be backtested: built in, or installed through the entry-point group."""
