"""Snapshots, signals and scan runs in the Parquet lake (local folder or S3), through DuckDB.

- `snapshots/timeframe=1d/history_<n>.parquet`: each symbol's last n bars, kept up to date from
  each ingestion's single fresh file, so a refresh never reads thousands of partitions.
- `snapshots/timeframe=1d/latest.parquet`: one row per symbol, what scanners read.
- `signals/date=2026-11-24/<id>.parquet`, `scan_runs/scanner_id=<id>/<run id>.parquet`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from trading_system.adapters.lake import ParquetLake
from trading_system.analytics.snapshot import Snapshot, UniverseBars
from trading_system.kernel.clock import sortable_id
from trading_system.market_data.domain import Timeframe

_OHLCV = "open, high, low, close, volume"


class AnalyticsLake:
    def __init__(self, lake: ParquetLake):
        self.lake = lake

    # -- snapshots -------------------------------------------------------------------------

    def absorb(self, timeframe: Timeframe, ingest_id: str | None, bars_per_symbol: int) -> UniverseBars:
        folder = f"snapshots/timeframe={timeframe.value}"
        existing = self.lake.files.list_files(f"{folder}/")
        histories = [p for p in existing if p.rsplit("/", 1)[-1].startswith("history_")]
        kept = max((int(p.rsplit("_", 1)[-1].removesuffix(".parquet")) for p in histories), default=0)
        fresh = [
            p
            for p in self.lake.files.list_files(f"ingests/timeframe={timeframe.value}/")
            if ingest_id is not None and p.rsplit("/", 1)[-1].startswith(f"{ingest_id}_")
        ]
        if kept >= bars_per_symbol and histories and (fresh or ingest_id is None):
            sources = [f"SELECT symbol, ts, {_OHLCV}, ingest_id FROM read_parquet($history)"]
            params: dict[str, Any] = {"history": histories}
            if fresh:
                sources.append(f"SELECT symbol, ts, {_OHLCV}, ingest_id FROM read_parquet($fresh)")
                params["fresh"] = fresh
        else:  # first refresh, a longer history needed, or the ingestion already compacted away
            sources, params = self._everything(timeframe)
            if not sources:
                return _empty()
        params["keep"] = bars_per_symbol
        target = f"{folder}/history_{bars_per_symbol}.parquet"
        self._write(
            target,
            f"""
            SELECT symbol, ts, {_OHLCV}, ingest_id FROM (
                SELECT * FROM ({" UNION ALL ".join(sources)})
                QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingest_id DESC) = 1
            )
            QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) <= $keep
            ORDER BY symbol, ts
            """,
            params,
        )
        stale = [p for p in histories if not p.endswith(target)]
        if stale:
            self.lake.files.delete(stale)
        return self._load_history(f"{self.lake.root}/{target}", bars_per_symbol)

    def _everything(self, timeframe: Timeframe) -> tuple[list[str], dict[str, Any]]:
        settled = self.lake.files.list_files(f"bars/timeframe={timeframe.value}/")
        fresh = self.lake.files.list_files(f"ingests/timeframe={timeframe.value}/")
        sources, params = [], {}
        if settled:
            sources.append(
                f"SELECT symbol, ts, {_OHLCV}, ingest_id "
                "FROM read_parquet($settled, hive_partitioning = true, hive_types_autocast = false)"
            )
            params["settled"] = settled
        if fresh:
            sources.append(f"SELECT symbol, ts, {_OHLCV}, ingest_id FROM read_parquet($fresh)")
            params["fresh"] = fresh
        return sources, params

    def _load_history(self, path: str, width: int) -> UniverseBars:
        cur = self.lake.conn.cursor()
        try:
            symbols = tuple(
                s
                for (s,) in cur.execute(
                    "SELECT DISTINCT symbol FROM read_parquet($p) ORDER BY symbol", {"p": path}
                ).fetchall()
            )
            data = cur.execute(
                f"""
                SELECT dense_rank() OVER (ORDER BY symbol) - 1 AS code,
                       row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS back,
                       epoch_us(ts) AS ts_us, {_OHLCV}
                FROM read_parquet($p)
                """,
                {"p": path},
            ).fetchnumpy()
        finally:
            cur.close()
        shape = (len(symbols), width)
        row = np.asarray(data["code"], dtype=np.int64)
        col = width - np.asarray(data["back"], dtype=np.int64)
        ts = np.zeros(shape, dtype=np.int64)
        ts[row, col] = np.asarray(data["ts_us"], dtype=np.int64)
        matrices = {}
        for name in ("open", "high", "low", "close", "volume"):
            matrix = np.full(shape, np.nan)
            matrix[row, col] = np.asarray(data[name], dtype=np.float64)
            matrices[name] = matrix
        return UniverseBars(symbols=symbols, ts_us=ts, **matrices)

    def save_snapshot(self, timeframe: Timeframe, snapshot: Snapshot) -> None:
        cur = self.lake.conn.cursor()
        try:
            cur.register("snap", {name: np.asarray(values) for name, values in snapshot.columns.items()})
            names = [n for n in snapshot.columns if n not in ("symbol", "ts_us")]
            # NaN (warm-up, no previous bar) is stored as NULL: in DuckDB NaN compares greater
            # than every number, so `rsi(14) > 70` would match a symbol without an RSI yet.
            select = ", ".join(
                f'CASE WHEN isnan("{n}") THEN NULL ELSE "{n}" END AS "{n}"'
                if snapshot.columns[n].dtype.kind == "f"
                else f'"{n}"'
                for n in names
            )
            self._write(
                f"snapshots/timeframe={timeframe.value}/latest.parquet",
                f"SELECT symbol, make_timestamp(ts_us) AS ts, {select} FROM snap ORDER BY symbol",
                {},
                cur,
            )
        finally:
            cur.close()

    def snapshot_columns(self, timeframe: Timeframe) -> set[str]:
        path = self._latest(timeframe)
        if path is None:
            return set()
        cur = self.lake.conn.cursor()
        try:
            rows = cur.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": path}).fetchall()
        finally:
            cur.close()
        return {r[0] for r in rows}

    def query_snapshot(
        self, timeframe: Timeframe, sql: str, params: Sequence[Any], universe: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        path = self._latest(timeframe)
        if path is None:
            return []
        cur = self.lake.conn.cursor()
        try:
            if universe is None:
                cur.execute(f"CREATE TEMP VIEW snapshot AS SELECT * FROM read_parquet('{_literal(path)}')")
            else:
                cur.register("universe", {"symbol": np.array(list(universe), dtype=object)})
                cur.execute(
                    f"CREATE TEMP VIEW snapshot AS SELECT s.* FROM read_parquet('{_literal(path)}') s "
                    "SEMI JOIN universe u ON s.symbol = u.symbol"
                )
            result = cur.execute(sql, list(params))
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()

    def _latest(self, timeframe: Timeframe) -> str | None:
        found = [
            p
            for p in self.lake.files.list_files(f"snapshots/timeframe={timeframe.value}/")
            if p.endswith("/latest.parquet")
        ]
        return found[0] if found else None

    # -- signals and runs ---------------------------------------------------------------------

    def append_signals(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        day = str(rows[0]["detected_at"])[:10]
        self._append(f"signals/date={day}/{sortable_id()}.parquet", rows)

    def append_run(self, row: dict[str, Any]) -> None:
        self._append(f"scan_runs/scanner_id={row['scanner_id']}/{row['run_id']}.parquet", [row])

    def signals(
        self, scanner_id: str | None, symbol: str | None, since: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        files = self.lake.files.list_files("signals/")
        where, params = ["TRUE"], {"files": files, "limit": limit}
        if scanner_id:
            where.append("scanner_id = $scanner_id")
            params["scanner_id"] = scanner_id
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
        files = self.lake.files.list_files(f"scan_runs/scanner_id={scanner_id}/")
        return self._read(files, "ORDER BY started_at DESC LIMIT $limit", {"files": files, "limit": limit})

    def _read(self, files: list[str], tail: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if not files:
            return []
        cur = self.lake.conn.cursor()
        try:
            result = cur.execute(f"SELECT * FROM read_parquet($files, union_by_name = true) {tail}", params)
            names = [d[0] for d in result.description]
            rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()
        for row in rows:
            for key in ("values", "matches"):
                if isinstance(row.get(key), str):
                    row[key] = json.loads(row[key])
        return rows

    def _append(self, relative: str, rows: Sequence[dict[str, Any]]) -> None:
        """Rows of JSON-able values as a new whole file (nested values stored as JSON text)."""
        columns: dict[str, list[Any]] = {name: [] for name in rows[0]}
        for row in rows:
            for name in columns:
                value = row[name]
                columns[name].append(json.dumps(value) if isinstance(value, (dict, list)) else value)
        cur = self.lake.conn.cursor()
        try:
            arrays = {}
            for name, values in columns.items():
                if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                    arrays[name] = np.array(
                        values, dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64
                    )
                else:
                    arrays[name] = np.array([None if v is None else str(v) for v in values], dtype=object)
            cur.register("rows", arrays)
            self._write(relative, "SELECT * FROM rows", {}, cur)
        finally:
            cur.close()

    def _write(self, relative: str, sql: str, params: dict[str, Any], cur: Any = None) -> None:
        staging = self.lake.files.staging_target(f"a{sortable_id()}")
        out = f"{staging}/{relative}"
        self.lake.files.prepare(out)
        own = cur is None
        cur = cur or self.lake.conn.cursor()
        try:
            cur.execute(f"COPY ({sql}) TO '{_literal(out)}' (FORMAT parquet, COMPRESSION zstd)", params)
        finally:
            if own:
                cur.close()
        self.lake.files.publish(staging, [out])


def _literal(path: str) -> str:
    return path.replace("'", "''")


def _empty() -> UniverseBars:
    empty = np.zeros((0, 1))
    return UniverseBars((), np.zeros((0, 1), dtype=np.int64), empty, empty, empty, empty, empty)
