"""Signals and scan runs in the Parquet lake (local folder or S3), through DuckDB:
`signals/date=2026-11-24/<id>.parquet` and `scan_runs/scanner_id=<id>/<run id>.parquet`.

Both grow by a file per scan (a scanner every minute writes 1,440 runs a day), so reads open only
what can answer: signals since a time read the days from that time's on, and a scanner's latest
runs read its newest run files, run ids being sortable by the time they were made.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from trading_system.adapters.lake import ParquetLake
from trading_system.kernel.clock import sortable_id

SIGNAL_SCHEMA = {
    "signal_id": "VARCHAR",
    "source": "VARCHAR",
    "scanner_id": "VARCHAR",
    "run_id": "VARCHAR",
    "symbol": "VARCHAR",
    "timeframe": "VARCHAR",
    "ts": "VARCHAR",
    "name": "VARCHAR",
    "values": "VARCHAR",
    "detected_at": "VARCHAR",
}
RUN_SCHEMA = {
    "run_id": "VARCHAR",
    "scanner_id": "VARCHAR",
    "trigger": "VARCHAR",
    "timeframe": "VARCHAR",
    "started_at": "VARCHAR",
    "duration_ms": "DOUBLE",
    "universe_size": "BIGINT",
    "match_count": "BIGINT",
    "new_signals": "BIGINT",
    "matches": "VARCHAR",
}


class SignalLake:
    def __init__(self, lake: ParquetLake):
        self.lake = lake

    def append_signals(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        day = str(rows[0]["detected_at"])[:10]
        self._append(f"signals/date={day}/{sortable_id()}.parquet", rows, SIGNAL_SCHEMA)

    def append_run(self, row: dict[str, Any]) -> None:
        self._append(f"scan_runs/scanner_id={row['scanner_id']}/{row['run_id']}.parquet", [row], RUN_SCHEMA)

    def signals(
        self,
        scanner_ids: Collection[str] | None,
        symbol: str | None,
        since: datetime | None,
        limit: int,
        analytics: bool = True,
    ) -> list[dict[str, Any]]:
        files = self.lake.files.list_files("signals/")
        if since is not None:  # a file's day is when its signals were detected, in UTC
            first_day = f"date={since.astimezone(UTC).date().isoformat()}"
            files = [path for path in files if path.rsplit("/", 2)[-2] >= first_day]
        where, params = ["TRUE"], {"files": files, "limit": limit}
        if scanner_ids is not None:
            # Typed, so that an empty list (a user without scanners) binds as one of text.
            of_scanners = "list_contains($scanner_ids::VARCHAR[], scanner_id)"
            where.append(f"({of_scanners} OR source = 'analytics')" if analytics else of_scanners)
            params["scanner_ids"] = sorted(scanner_ids)
        if symbol:
            where.append("symbol = $symbol")
            params["symbol"] = symbol
        if since:
            where.append("detected_at >= $since")
            params["since"] = since.isoformat()
        return self._read(
            files, f"WHERE {' AND '.join(where)} ORDER BY detected_at DESC, signal_id LIMIT $limit", params
        )

    def runs(self, scanner_id: str, limit: int) -> list[dict[str, Any]]:
        """The scanner's latest runs, newest first. One file per run, named by its run id
        (`run_` and a sortable id made as the run starts): the newest `limit` names hold them."""
        files = sorted(self.lake.files.list_files(f"scan_runs/scanner_id={scanner_id}/"))[-limit:]
        return self._read(files, "ORDER BY started_at DESC LIMIT $limit", {"files": files, "limit": limit})

    def _read(self, files: list[str], tail: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if not files:
            return []
        rows = self.lake.query(f"SELECT * FROM read_parquet($files, union_by_name = true) {tail}", params)
        for row in rows:
            for key in ("values", "matches"):
                if isinstance(row.get(key), str):
                    row[key] = json.loads(row[key])
        return rows

    def _append(self, relative: str, rows: Sequence[dict[str, Any]], schema: dict[str, str]) -> None:
        self.lake.write_rows(relative, rows, schema)
