"""Rows of the signal log as a scan writes them (adapters/signal_lake.py's schemas), for every
suite that puts signals or runs into a lake."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trading_system.kernel.clock import sortable_id


def signal_row(
    detected_at: datetime, symbol: str = "AAA", scanner_id: str | None = "scn_1"
) -> dict[str, Any]:
    """A signal of the scanner (of Analytics without one), detected at that time."""
    return {
        "signal_id": f"sig_{sortable_id()}",
        "source": "scanner" if scanner_id else "analytics",
        "scanner_id": scanner_id,
        "run_id": f"run_{sortable_id(detected_at)}",
        "symbol": symbol,
        "timeframe": "1d",
        "ts": detected_at.date().isoformat(),
        "name": "dip",
        "values": "{}",
        "detected_at": detected_at.isoformat(),
    }


def run_row(started_at: datetime, scanner_id: str = "scn_1") -> dict[str, Any]:
    """A scanner's run, started at that time, that matched nothing."""
    return {
        "run_id": f"run_{sortable_id(started_at)}",
        "scanner_id": scanner_id,
        "trigger": "schedule",
        "timeframe": "1d",
        "started_at": started_at.isoformat(),
        "duration_ms": 1.5,
        "universe_size": 10,
        "match_count": 0,
        "new_signals": 0,
        "matches": "[]",
    }
