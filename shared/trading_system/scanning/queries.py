"""What a user can ask Scanning."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from trading_system.kernel.messages import Query
from trading_system.market_data.domain import Symbol


class ListScanners(Query):
    pass


class GetScanner(Query):
    scanner_id: str


class ListScanRuns(Query):
    scanner_id: str
    limit: int = Field(default=50, ge=1, le=1000)


class ListSignals(Query):
    scanner_id: str | None = None
    symbol: Symbol | None = None
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=5000)
