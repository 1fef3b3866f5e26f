"""Ingest a file dropped in the raw area, in both runtimes.

The key says how to read it: `<timeframe>/<SYMBOL>/<name>.csv` for one symbol's bars, or
`<timeframe>/<name>.parquet` when the file has a symbol column. A pair's slash is percent-encoded
in the key, as in the lake: `1m/BTC%2FUSD/<name>.csv`.
"""

from __future__ import annotations

import logging
from typing import Any

from trading_system.bootstrap import Container
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.errors import DomainError, Problem
from trading_system.market_data.commands import FileFormat, IngestBarFile
from trading_system.market_data.domain import Timeframe, parse_symbol, symbol_of_segment
from trading_system.market_data.handlers import IngestReport

log = logging.getLogger(__name__)


def command_for(key: str, uri: str) -> IngestBarFile:
    parts = key.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"{key!r}: expected <timeframe>/<SYMBOL>/<file> or <timeframe>/<file>")
    try:
        timeframe = Timeframe(parts[0])
    except ValueError:
        known = ", ".join(tf.value for tf in Timeframe)
        raise ValueError(f"{key!r}: {parts[0]!r} is not a timeframe ({known})") from None
    symbol = parse_symbol(symbol_of_segment(parts[1])) if len(parts) == 3 else None
    return IngestBarFile(
        timeframe=timeframe, path=uri, format=FileFormat.of(parts[-1]), symbol=symbol, source=f"raw:{key}"
    )


def ingest_dropped(container: Container, key: str, context: MessageContext | None = None) -> dict[str, Any]:
    """Ingest one dropped file and write its report. Bad files are reported, not retried:
    the same bytes would fail the same way."""
    raw = container.raw_files
    try:
        command = command_for(key, raw.uri(key))
        result: IngestReport = container.bus.execute(command, context)
    except (DomainError, ValueError) as error:
        report = rejection(key, error)
        log.warning("rejected dropped file %s: %s", key, report["detail"])
        raw.report(key, report)
        raw.reject(key, report)
        return report
    report = {"key": key, "status": "ingested", **result.model_dump(mode="json")}
    raw.report(key, report)
    raw.archive(key)
    return report


def rejection(key: str, error: DomainError | ValueError) -> dict[str, Any]:
    """Why a file was refused, with the members the API's problem document has: the detail,
    the problems (at most 100, each with its row and field) and how many there were."""
    detail = getattr(error, "detail", str(error))
    report: dict[str, Any] = {"key": key, "status": "rejected", "detail": detail}
    problems: list[Problem] = getattr(error, "problems", [])
    if problems:
        report["errors"] = [p.as_dict() for p in problems]
        report["error_count"] = getattr(error, "total", len(problems))
    return report
