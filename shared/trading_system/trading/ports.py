"""What Trading needs from the outside world besides the event store and the broker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal, Protocol


class FillLog(Protocol):
    """Fills in the lake, for history and analytics (P&L in DuckDB)."""

    def append(self, fills: Sequence[dict[str, Any]]) -> None: ...

    def pnl(
        self,
        account_id: str,
        by: Literal["day", "symbol"],
        epoch: int | None,
        start: date | None,
        end: date | None,
    ) -> list[dict[str, Any]]:
        """Realized P&L, commissions, fills and traded value per market day or per symbol."""
