"""What Scanning needs from outside: where scanners are kept, and the signal log's compaction.
(The snapshot it reads and the signal log and registry it records to are Analytics' ports,
shared with it.)"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pydantic import BaseModel

from trading_system.scanning.domain import Scanner


class ScannerRepository(Protocol):
    def get(self, scanner_id: str) -> Scanner | None: ...

    def add(self, scanner: Scanner) -> None:
        """Store a new scanner (ConcurrencyConflict if the id exists)."""

    def save(self, scanner: Scanner) -> None: ...

    def delete(self, scanner_id: str) -> None: ...

    def list(self) -> list[Scanner]: ...


class SignalLogCompaction(BaseModel):
    """What one compaction of the signal log did."""

    days: int  # closed days with files merged (signals or any scanner's runs)
    days_left: int  # closed days with files still to merge when the budget ran out
    files_merged: int  # files read into merged ones...
    files_written: int  # ...as this many (one per day of signals, one per scanner and day of runs)
    files_deleted: int  # the files merged, deleted once their merged file was in place


class SignalLogCompactor(Protocol):
    """The signal log (Analytics' `SignalLog`), which grows by a file per scan, kept small."""

    def compact(self, before: date, budget_s: float) -> SignalLogCompaction:
        """Merge each day's signal files, and each scanner's run files of a day, into one file,
        for the days before `before`, without changing what any read returns; start no merge
        after `budget_s` seconds."""
