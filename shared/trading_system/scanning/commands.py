from __future__ import annotations

from typing import Literal

from pydantic import Field

from trading_system.kernel.messages import Command
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
