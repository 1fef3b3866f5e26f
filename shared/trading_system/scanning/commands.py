from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from trading_system.kernel.messages import Command, Query
from trading_system.market_data.domain import Symbol
from trading_system.scanning.domain import ScannerDefinition


class CreateScanner(Command):
    definition: ScannerDefinition


class UpdateScanner(Command):
    scanner_id: str = Field(min_length=1, max_length=64)
    definition: ScannerDefinition


class DeleteScanner(Command):
    scanner_id: str = Field(min_length=1, max_length=64)


class RunScanner(Command):
    scanner_id: str = Field(min_length=1, max_length=64)
    trigger: Literal["manual", "schedule", "refresh"] = "manual"


class DispatchScanners(Command):
    """Run every scanner whose schedule is due (the dispatcher runs this every minute)."""


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
