"""What Scanning needs from outside: where scanners are kept. (The snapshot it reads and the
signal log and registry it records to are Analytics' ports, shared with it.)"""

from __future__ import annotations

from typing import Protocol

from trading_system.scanning.domain import Scanner


class ScannerRepository(Protocol):
    def get(self, scanner_id: str) -> Scanner | None: ...

    def add(self, scanner: Scanner) -> None:
        """Store a new scanner (ConcurrencyConflict if the id exists)."""

    def save(self, scanner: Scanner) -> None: ...

    def delete(self, scanner_id: str) -> None: ...

    def list(self) -> list[Scanner]: ...
