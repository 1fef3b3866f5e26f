"""The Parquet lake through DuckDB, in a local folder or on S3 (DuckDB reads both alike).

Two levels, like a log-structured merge tree:
- `ingests/timeframe=1d/period=2026/<ingest id>_<n>.parquet`: what each ingestion wrote, all its
  symbols in one file per period (sorted by symbol, so row-group statistics prune reads). Writing
  5,000 symbols' end-of-day bars is one file, not 5,000.
- `bars/timeframe=1m/symbol=AAPL/period=2026-11/<id>.parquet`: per symbol and period, written by
  compaction, which moves ingested rows here and merges each partition into one file.
A symbol in a path is percent-encoded (`market_data.domain.symbol_segment`): a pair's slash is
`symbol=BTC%2FUSD`, never a folder of its own. DuckDB's PARTITION_BY writes partition values so and
its hive_partitioning reads them back decoded; a plain ticker is the same either way, so lakes
written before pairs existed read unchanged.
A period is a month for 1m/5m/15m/1h bars and a year for 1d bars, so files stay large.

Files are written whole: locally into `_staging/` and then renamed into place, on S3 by single
PUTs. An ingestion that writes several files becomes visible at once, by a commit record written
after its last file, `ingests/timeframe=1d/_commits/<ingest id>.json`: readers and compaction use
an ingest file only when its ingestion committed, so a writer killed part-way leaves files nobody
reads, and compaction deletes them once they are older than `lake_orphan_grace_s` (younger ones
may belong to an ingestion still writing). Commit records are listed before the files, so a
record seen means its files are seen too.

Every row keeps the id of the ingestion that wrote it and reads keep the newest row per
timestamp, so re-ingesting corrects data and compaction never changes a result. Periods that are
settled (one compacted file, no fresh ingests) skip that deduplication, which costs several times
the scan itself.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np

from trading_system.adapters import duck
from trading_system.adapters.bar_files import BarFileParser
from trading_system.config import SettingsError
from trading_system.kernel.clock import sortable_id
from trading_system.market_data.bar_batch import BarColumns, BarSeries, ParsedBars
from trading_system.market_data.commands import FileFormat
from trading_system.market_data.domain import (
    ActionKind,
    Adjustment,
    CorporateAction,
    Period,
    SessionWindows,
    Timeframe,
    symbol_segment,
)
from trading_system.market_data.ports import CompactionReport, WrittenBars

if TYPE_CHECKING:
    from trading_system.config import Settings

_STRFTIME = {Period.DAY: "%Y-%m-%d", Period.MONTH: "%Y-%m", Period.YEAR: "%Y"}
_NO_FILES = "No files found"
COMMITS = "_commits"  # the folder of commit records, beside each timeframe's ingest periods


class ParquetLake:
    """Implements the BarLake port: bars in, bars out, bar files parsed."""

    def __init__(
        self, root: str, conn: duckdb.DuckDBPyConnection, files: LakeFiles, orphan_grace_s: int = 3_600
    ):
        self.root = root.rstrip("/")
        self.conn = conn
        self.files = files
        self.orphan_grace_s = orphan_grace_s
        self._write_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ParquetLake:
        root = settings.lake_root.rstrip("/")
        if settings.runtime == "aws" and not root.startswith("s3://"):
            raise SettingsError(f"TRADING_LAKE_ROOT must be an s3:// URI in the aws runtime (got {root!r})")
        conn = duck.connect(settings)
        files: LakeFiles
        if root.startswith("s3://"):
            files = S3Prefix(root, settings)
        else:
            Path(root).mkdir(parents=True, exist_ok=True)
            root = str(Path(root).resolve())
            files = LocalFolder(root)
        return cls(root, conn, files, settings.lake_orphan_grace_s)

    # -- writing -------------------------------------------------------------------------

    def write(self, bars: BarColumns, timeframe: Timeframe, ingest_id: str) -> WrittenBars:
        cur = self.conn.cursor()
        try:
            cur.register(
                "batch",
                {
                    "code": bars.symbol_code,
                    "ts_us": bars.ts_us,
                    "open": bars.open,
                    "high": bars.high,
                    "low": bars.low,
                    "close": bars.close,
                    "volume": bars.volume,
                },
            )
            cur.register(
                "symbols",
                {
                    "code": np.arange(len(bars.symbols), dtype=np.int64),
                    "symbol": np.array(bars.symbols, dtype=object),
                },
            )
            staging = self.files.staging_target(ingest_id)
            target = f"{staging}/ingests/timeframe={timeframe.value}"
            self.files.prepare(f"{target}/")
            written = cur.execute(
                f"""
                COPY (
                    SELECT strftime(make_timestamp(b.ts_us), '{_STRFTIME[timeframe.period]}') AS period,
                           s.symbol, make_timestamp(b.ts_us) AS ts,
                           b.open, b.high, b.low, b.close, b.volume,
                           $ingest_id AS ingest_id
                    FROM batch b JOIN symbols s USING (code)
                    ORDER BY s.symbol, ts
                ) TO '{target}' (
                    FORMAT parquet, COMPRESSION zstd, PARTITION_BY (period),
                    FILENAME_PATTERN '{ingest_id}_{{i}}', RETURN_FILES true, OVERWRITE_OR_IGNORE true
                )
                """,
                {"ingest_id": ingest_id},
            ).fetchone()
        finally:
            cur.close()
        assert written is not None
        rows, paths = int(written[0]), list(written[1])
        self.files.publish(staging, paths)
        record = {"ingest_id": ingest_id, "rows": rows, "files": len(paths)}
        self.files.write_text(_commit_record(timeframe, ingest_id), json.dumps(record))
        return WrittenBars(ingest_id=ingest_id, rows=rows, files=len(paths))

    def committed_ingest_files(self, timeframe: Timeframe) -> list[str]:
        """The fresh ingest files of the timeframe whose ingestion committed."""
        return self._ingests(timeframe).committed_files

    def _ingests(self, timeframe: Timeframe) -> IngestListing:
        records, files = self.files.list_ingests(f"ingests/timeframe={timeframe.value}/")
        return IngestListing(records, files)

    # -- reading -------------------------------------------------------------------------

    def bars(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
        limit: int,
        source: Timeframe,
        sessions: SessionWindows | None = None,
        adjustment: Adjustment = Adjustment.RAW,
    ) -> BarSeries:
        first_period, last_period = source.period.of(start), source.period.of(end)
        files = self._files_to_read(symbol, source, first_period, last_period)
        if not any(files.values()):
            return _empty_series()
        fields = "ts, open, high, low, close, volume"
        in_range = "ts >= $start AND ts < $end"
        of_symbol = "symbol = $symbol AND ts >= $start AND ts < $end"
        parts = []
        if files["settled"]:
            parts.append(f"SELECT {fields} FROM read_parquet($settled) WHERE {in_range}")
        if files["settled_fresh"]:
            parts.append(f"SELECT {fields} FROM read_parquet($settled_fresh) WHERE {of_symbol}")
        candidates = []
        if files["unsettled"]:
            candidates.append(f"SELECT {fields}, ingest_id FROM read_parquet($unsettled) WHERE {in_range}")
        if files["unsettled_fresh"]:
            candidates.append(
                f"SELECT {fields}, ingest_id FROM read_parquet($unsettled_fresh) WHERE {of_symbol}"
            )
        if candidates:
            parts.append(
                f"SELECT {fields} FROM ({' UNION ALL '.join(candidates)}) "
                "QUALIFY row_number() OVER (PARTITION BY ts ORDER BY ingest_id DESC) = 1"
            )
        newest = " UNION ALL ".join(parts)
        actions = self._action_files(symbol) if adjustment is Adjustment.SPLIT else []
        if actions:
            newest = _split_adjusted(newest)  # before any resampling: a bucket may straddle a split
        session_params: dict[str, Any] = {}
        if source is timeframe:
            sql = f"SELECT * FROM ({newest}) ORDER BY ts LIMIT $limit"
        elif sessions is not None:
            if not sessions.opens:
                return _empty_series()  # a range outside the calendar: no session to follow
            sql, session_params = _session_resampling(newest, timeframe, source, sessions)
        else:
            sql = f"""
                SELECT time_bucket(INTERVAL '{timeframe.seconds} seconds', ts) AS bucket,
                       arg_min(open, ts), max(high), min(low), arg_max(close, ts), sum(volume)
                FROM ({newest}) GROUP BY bucket ORDER BY bucket LIMIT $limit
            """
        params: dict[str, Any] = {
            "start": start.replace(tzinfo=None),
            "end": end.replace(tzinfo=None),
            "limit": limit,
        }
        params.update({name: paths for name, paths in files.items() if paths})
        params.update(session_params)
        if actions:
            params["actions"] = actions
        if files["settled_fresh"] or files["unsettled_fresh"]:
            params["symbol"] = symbol
        cur = self.conn.cursor()
        try:
            columns = cur.execute(sql, params).fetchnumpy()
        except duckdb.IOException as error:
            if _NO_FILES in str(error):  # a file compacted away under us: the caller may retry
                return _empty_series()
            raise
        finally:
            cur.close()
        ts, opens, highs, lows, closes, volumes = columns.values()
        return BarSeries(
            ts_us=duck.contiguous(ts.astype("datetime64[us]").astype(np.int64), np.int64),
            open=duck.contiguous(opens, np.float64),
            high=duck.contiguous(highs, np.float64),
            low=duck.contiguous(lows, np.float64),
            close=duck.contiguous(closes, np.float64),
            volume=duck.contiguous(volumes, np.float64),
        )

    # -- corporate actions: `corporate_actions/symbol=AAPL/<ingest id>.parquet` -----------------
    # Beside the bars, in the lake rather than the write store, so that a split-adjusted read is
    # one DuckDB query joining the bars with the splits (no second store to ask first, and the
    # same on S3 as locally). A symbol has few actions and each recording writes only the ones
    # that changed, so these files stay few; reads keep the newest record per (kind, ex-date).

    def _action_files(self, symbol: str) -> list[str]:
        return self.files.list_files(f"corporate_actions/symbol={symbol_segment(symbol)}/")

    def corporate_actions(self, symbol: str) -> list[CorporateAction]:
        paths = self._action_files(symbol)
        if not paths:
            return []
        rows = self.query(f"SELECT * FROM ({_NEWEST_ACTIONS}) ORDER BY ex_date, kind", {"actions": paths})
        return [
            CorporateAction(
                symbol=symbol,
                kind=ActionKind(row["kind"]),
                ex_date=row["ex_date"],
                **{
                    name: Decimal(row[name])
                    for name in ("new_rate", "old_rate", "amount")
                    if row[name] is not None
                },
                currency=row["currency"],
            )
            for row in rows
        ]

    def write_corporate_actions(self, symbol: str, actions: list[CorporateAction], ingest_id: str) -> None:
        rows = [
            {
                "kind": a.kind.value,
                "ex_date": a.ex_date.isoformat(),
                # Decimal text, so a rate or an amount is stored exactly as it was recorded.
                **{name: None if (v := getattr(a, name)) is None else str(v) for name in _DECIMALS},
                "currency": a.currency,
                "ingest_id": ingest_id,
            }
            for a in actions
        ]
        self.write_rows(
            f"corporate_actions/symbol={symbol_segment(symbol)}/{ingest_id}.parquet", rows, _ACTION_SCHEMA
        )

    def _files_to_read(
        self, symbol: str, timeframe: Timeframe, first_period: str, last_period: str
    ) -> dict[str, list[str]]:
        """The files that may hold the symbol's bars in the period range, grouped by how they
        must be read.

        A period whose bars sit in a single file (its compacted partition file, or one fresh
        ingest file) is settled: one ingestion never holds two bars for one timestamp, so it is
        read without deduplication. Otherwise every file of the period goes through the
        newest-ingestion-wins window.
        """
        sources: dict[str, list[tuple[str, bool]]] = defaultdict(list)  # period -> (path, fresh)
        for path in self.committed_ingest_files(timeframe):
            sources[_period_of(path)].append((path, True))
        # The folder compaction's PARTITION_BY wrote: DuckDB percent-encodes the value as
        # symbol_segment does (letters, digits and `._-~` as they are, `/` as %2F).
        partition = f"bars/timeframe={timeframe.value}/symbol={symbol_segment(symbol)}/"
        for path in self.files.list_files(partition):
            sources[_period_of(path)].append((path, False))
        grouped: dict[str, list[str]] = {
            "settled": [],
            "settled_fresh": [],
            "unsettled": [],
            "unsettled_fresh": [],
        }
        for period, paths in sources.items():
            if not first_period <= period <= last_period:
                continue
            state = "settled" if len(paths) == 1 else "unsettled"
            for path, fresh in paths:
                grouped[f"{state}_fresh" if fresh else state].append(path)
        return grouped

    # -- compaction ----------------------------------------------------------------------

    def compact(self, timeframe: Timeframe | None) -> CompactionReport:
        """Move committed ingest files into per-symbol partitions, merge each partition's files
        into one, and delete what dead writers left. Query results are the same before, during
        and after, and a compaction killed at any point leaves a lake the next one finishes."""
        timeframes = [timeframe] if timeframe else list(Timeframe)
        report = CompactionReport(
            ingest_files_moved=0,
            partition_files_written=0,
            partitions_merged=0,
            orphan_files_removed=0,
            files_before=0,
            files_after=0,
            rows_moved=0,
            rows_merged=0,
        )
        born_before = time.time_ns() - self.orphan_grace_s * 1_000_000_000
        with self._write_lock:
            for tf in timeframes:
                ingests = self._ingests(tf)
                report.files_before += len(ingests.files) + len(
                    self.files.list_files(f"bars/timeframe={tf.value}/")
                )
                moving = ingests.committed_files
                if moving:
                    written, rows = self._distribute(tf, moving)
                    self.files.delete(moving)
                    report.ingest_files_moved += len(moving)
                    report.partition_files_written += written
                    report.rows_moved += rows
                # Every record listed had its files listed too: they were just moved, or an
                # earlier compaction moved them and died before deleting the record.
                self.files.delete(ingests.records)
                orphans = ingests.uncommitted_files(born_before)
                self.files.delete(orphans)
                report.orphan_files_removed += len(orphans)
                by_partition: dict[str, list[str]] = defaultdict(list)
                for path in self.files.list_files(f"bars/timeframe={tf.value}/"):
                    by_partition[path.rsplit("/", 1)[0]].append(path)
                for partition, paths in sorted(by_partition.items()):
                    if len(paths) > 1:
                        report.rows_merged += self._merge(partition, sorted(paths))
                        report.partitions_merged += 1
                report.files_after += len(by_partition) + len(self._ingests(tf).files)
            report.orphan_files_removed += self.files.remove_staging(born_before)
        return report

    def _distribute(self, timeframe: Timeframe, fresh: list[str]) -> tuple[int, int]:
        """Rewrite fresh ingest files as per-symbol partition files; the files and rows written."""
        name = f"d{sortable_id()}"
        staging = self.files.staging_target(name)
        target = f"{staging}/bars"
        self.files.prepare(f"{target}/")
        cur = self.conn.cursor()
        try:
            written = cur.execute(
                f"""
                COPY (
                    SELECT '{timeframe.value}' AS timeframe, symbol, period,
                           ts, open, high, low, close, volume, ingest_id
                    FROM read_parquet($fresh, hive_partitioning = true, hive_types_autocast = false)
                    QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingest_id DESC) = 1
                    ORDER BY symbol, ts
                ) TO '{target}' (
                    FORMAT parquet, COMPRESSION zstd, PARTITION_BY (timeframe, symbol, period),
                    FILENAME_PATTERN '{name}_{{i}}', RETURN_FILES true, OVERWRITE_OR_IGNORE true
                )
                """,
                {"fresh": fresh},
            ).fetchone()
        finally:
            cur.close()
        assert written is not None
        self.files.publish(staging, list(written[1]))
        return len(written[1]), int(written[0])

    def _merge(self, partition: str, paths: list[str]) -> int:
        name = f"c{sortable_id()}"
        staging = self.files.staging_target(name)
        relative = partition.removeprefix(self.root + "/")
        out = f"{staging}/{relative}/{name}.parquet"
        self.files.prepare(out)
        cur = self.conn.cursor()
        try:
            result = cur.execute(
                f"""
                COPY (
                    SELECT * FROM read_parquet($paths)
                    QUALIFY row_number() OVER (PARTITION BY ts ORDER BY ingest_id DESC) = 1
                    ORDER BY ts
                ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
                """,
                {"paths": paths},
            ).fetchone()
        finally:
            cur.close()
        self.files.publish(staging, [out])
        self.files.delete(paths)
        return int(result[0]) if result else 0

    # -- bar files ----------------------------------------------------------------------

    def read(
        self, path: str, fmt: FileFormat, timeframe: Timeframe, default_symbol: str | None
    ) -> ParsedBars:
        cur = self.conn.cursor()
        try:
            return BarFileParser(cur, path, fmt, timeframe, default_symbol).parse()
        finally:
            cur.close()

    # -- other tables: whole files of rows, and queries over them ------------------------------

    def write_rows(self, relative: str, rows: Sequence[dict[str, Any]], schema: dict[str, str]) -> None:
        """Rows as a new whole file, through newline-delimited JSON with an explicit schema
        (nested values stored as JSON text). Registering Python objects instead trips a DuckDB
        bug on columns of 2,000+ None values."""
        with tempfile.TemporaryDirectory(prefix="rows-") as folder:
            path = f"{folder}/rows.json"
            with open(path, "w") as out:
                for row in rows:
                    plain = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}
                    out.write(json.dumps(plain) + "\n")
            columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in schema.items()) + "}"
            self.write_query(
                relative,
                f"SELECT * FROM read_json($path, format = 'newline_delimited', columns = {columns})",
                {"path": path},
            )

    def write_query(self, relative: str, sql: str, params: dict[str, Any], cur: Any = None) -> None:
        """A query's result as one new file at `relative`, published whole."""
        staging = self.files.staging_target(f"a{sortable_id()}")
        out = f"{staging}/{relative}"
        self.files.prepare(out)
        own = cur is None
        cur = cur or self.conn.cursor()
        try:
            cur.execute(f"COPY ({sql}) TO '{duck.literal(out)}' (FORMAT parquet, COMPRESSION zstd)", params)
        finally:
            if own:
                cur.close()
        self.files.publish(staging, [out])

    def query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        try:
            result = cur.execute(sql, params)
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()


class IngestListing:
    """The commit records and data files under one timeframe's `ingests/` folder, the records
    listed first."""

    def __init__(self, records: list[str], files: list[str]):
        self.records = records
        self.files = files
        self._committed = {_name(path).removesuffix(".json") for path in records}

    @property
    def committed_files(self) -> list[str]:
        return [path for path in self.files if _ingest_id_of(path) in self._committed]

    def uncommitted_files(self, born_before: int) -> list[str]:
        """Files of ingestions without a commit record, started before the time (ns)."""
        return [
            path
            for path in self.files
            if _ingest_id_of(path) not in self._committed and _born_at(_ingest_id_of(path)) < born_before
        ]


def _commit_record(timeframe: Timeframe, ingest_id: str) -> str:
    return f"ingests/timeframe={timeframe.value}/{COMMITS}/{ingest_id}.json"


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _ingest_id_of(path: str) -> str:
    return _name(path).split("_", 1)[0]


def _born_at(name: str) -> int:
    """When a lake name made from a sortable id (an ingest id, or a staging folder's letter and
    id) was created, in ns since the epoch; 0 for any other name, which counts as old."""
    digits = name.lstrip("abcdefghijklmnopqrstuvwxyz")[:19]
    return int(digits) if digits.isdigit() and len(digits) == 19 else 0


def _period_of(path: str) -> str:
    return path.rsplit("/", 2)[-2].removeprefix("period=")


def _session_resampling(
    newest: str, timeframe: Timeframe, source: Timeframe, sessions: SessionWindows
) -> tuple[str, dict[str, Any]]:
    """Buckets that follow the sessions: an intraday bucket counts from the session's open, a
    daily bucket is the session, stamped with its date; finer bars outside sessions drop out.

    Two steps, so that it costs about what the UTC grid does: first the UTC time_bucket into the
    largest grid every open and close lies on (30 minutes for New York: 09:30 and 16:00 in either
    DST state), then each of those few rows finds its session by an as-of join on the opens. When
    no such grid holds whole source bars, every source bar is joined instead."""
    step_us = timeframe.seconds * 1_000_000
    bucket = (
        "s_day"
        if timeframe is Timeframe.D1
        else f"s_open + to_microseconds(((epoch_us(ts) - epoch_us(s_open)) // {step_us}) * {step_us})"
    )
    edges = (int(moment.timestamp()) for moment in (*sessions.opens, *sessions.closes))
    grid = math.gcd(timeframe.seconds, 86_400, *edges)
    rows = newest
    if grid % source.seconds == 0 and grid > source.seconds:
        rows = f"""
            SELECT time_bucket(INTERVAL '{grid} seconds', ts) AS ts, arg_min(open, ts) AS open,
                   max(high) AS high, min(low) AS low, arg_max(close, ts) AS close, sum(volume) AS volume
            FROM ({newest}) GROUP BY 1
        """
    sql = f"""
        WITH sessions AS (
            SELECT unnest($s_day) AS s_day, unnest($s_open) AS s_open, unnest($s_close) AS s_close
        )
        SELECT {bucket} AS bucket,
               arg_min(open, ts), max(high), min(low), arg_max(close, ts), sum(volume)
        FROM ({rows}) AS b ASOF JOIN sessions ON b.ts >= sessions.s_open
        WHERE b.ts < sessions.s_close
        GROUP BY bucket ORDER BY bucket LIMIT $limit
    """
    naive = {
        "s_day": [d.replace(tzinfo=None) for d in sessions.days],
        "s_open": [d.replace(tzinfo=None) for d in sessions.opens],
        "s_close": [d.replace(tzinfo=None) for d in sessions.closes],
    }
    return sql, naive


_DECIMALS = ("new_rate", "old_rate", "amount")
_ACTION_SCHEMA = {
    "kind": "VARCHAR",
    "ex_date": "DATE",
    "new_rate": "VARCHAR",
    "old_rate": "VARCHAR",
    "amount": "VARCHAR",
    "currency": "VARCHAR",
    "ingest_id": "VARCHAR",
}
_NEWEST_ACTIONS = """
    SELECT * FROM read_parquet($actions)
    QUALIFY row_number() OVER (PARTITION BY kind, ex_date ORDER BY ingest_id DESC) = 1
"""


def _split_adjusted(newest: str) -> str:
    """The bars back-adjusted for the symbol's splits (files in `$actions`): a bar is divided by the
    product of the ratios of the splits effective after it (its volume multiplied). The splits make
    a few disjoint steps, [previous ex-date, ex-date) -> that product, which a range join attaches
    to each bar (half the cost of an as-of join, which sorts the bars). Same columns as `newest`;
    the reference is `market_data.domain.split_adjusted`."""
    return f"""
        WITH splits AS (
            SELECT CAST(ex_date AS TIMESTAMP) AS ex_ts,
                   CAST(new_rate AS DOUBLE) / CAST(old_rate AS DOUBLE) AS ratio
            FROM ({_NEWEST_ACTIONS}) WHERE kind = 'split'
        ),
        steps AS (
            SELECT coalesce(lag(ex_ts) OVER (ORDER BY ex_ts), TIMESTAMP '-infinity') AS after,
                   ex_ts AS before,
                   product(ratio) OVER (
                       ORDER BY ex_ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                   ) AS factor
            FROM splits
        )
        SELECT b.ts, b.open / coalesce(f.factor, 1) AS open, b.high / coalesce(f.factor, 1) AS high,
               b.low / coalesce(f.factor, 1) AS low, b.close / coalesce(f.factor, 1) AS close,
               b.volume * coalesce(f.factor, 1) AS volume
        FROM ({newest}) AS b LEFT JOIN steps AS f ON b.ts >= f.after AND b.ts < f.before
    """


def _empty_series() -> BarSeries:
    empty = np.zeros(0, dtype=np.float64)
    return BarSeries(np.zeros(0, dtype=np.int64), empty, empty, empty, empty, empty)


class LakeFiles(Protocol):
    """Where the lake's files live: listing, atomic placement and deletion."""

    def staging_target(self, name: str) -> str: ...

    def prepare(self, path: str) -> None: ...

    def publish(self, staging: str, written: list[str]) -> None: ...

    def list_files(self, prefix: str) -> list[str]: ...

    def list_ingests(self, prefix: str) -> tuple[list[str], list[str]]:
        """The commit records (`<prefix>_commits/*.json`) and then the Parquet files under the
        prefix, listed in that order."""

    def write_text(self, relative: str, text: str) -> None:
        """A small file, written whole."""

    def delete(self, paths: list[str]) -> None: ...

    def remove_staging(self, born_before: int) -> int:
        """Delete what writers left in staging before the time (ns); the files removed."""


class LocalFolder:
    def __init__(self, root: str):
        self.root = root

    def staging_target(self, name: str) -> str:
        return f"{self.root}/_staging/{name}"

    def prepare(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)

    def publish(self, staging: str, written: list[str]) -> None:
        """Rename the finished files into place: a reader sees a whole file or none."""
        for path in written:
            final = Path(self.root) / Path(path).relative_to(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            Path(path).replace(final)
        shutil.rmtree(staging, ignore_errors=True)

    def list_files(self, prefix: str) -> list[str]:
        base = Path(self.root) / prefix
        if not base.exists():
            return []
        return sorted(str(p) for p in base.rglob("*.parquet"))

    def list_ingests(self, prefix: str) -> tuple[list[str], list[str]]:
        records = Path(self.root) / prefix / COMMITS
        listed = sorted(str(p) for p in records.glob("*.json")) if records.exists() else []
        return listed, self.list_files(prefix)

    def write_text(self, relative: str, text: str) -> None:
        staged = Path(self.staging_target(f"t{sortable_id()}")) / "file"
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(text)
        final = Path(self.root) / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(final)
        shutil.rmtree(staged.parent, ignore_errors=True)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            Path(path).unlink(missing_ok=True)

    def remove_staging(self, born_before: int) -> int:
        staging = Path(self.root) / "_staging"
        removed = 0
        for folder in staging.iterdir() if staging.exists() else []:
            if _born_at(folder.name) < born_before:
                removed += sum(1 for p in folder.rglob("*") if p.is_file())
                shutil.rmtree(folder, ignore_errors=True)
        return removed


class S3Prefix:
    """S3 objects appear whole when their PUT completes, so files are written in place."""

    def __init__(self, root: str, settings: Settings):
        from trading_system.adapters.aws.clients import client

        self.root = root
        bucket_and_prefix = root.removeprefix("s3://")
        self.bucket, _, prefix = bucket_and_prefix.partition("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.s3 = client("s3", settings)

    def staging_target(self, name: str) -> str:
        return self.root

    def prepare(self, path: str) -> None:
        return None

    def publish(self, staging: str, written: list[str]) -> None:
        return None

    def list_files(self, prefix: str) -> list[str]:
        return [path for path in self._list(prefix) if path.endswith(".parquet")]

    def list_ingests(self, prefix: str) -> tuple[list[str], list[str]]:
        # One listing: S3 lists keys in order, and "_commits/" sorts before "period=", so the
        # records come from pages fetched before the files'.
        listed = self._list(prefix)
        records = [p for p in listed if p.endswith(".json") and f"/{COMMITS}/" in p]
        return records, [p for p in listed if p.endswith(".parquet")]

    def _list(self, prefix: str) -> list[str]:
        paths: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            paths += [f"s3://{self.bucket}/{o['Key']}" for o in page.get("Contents", [])]
        return paths

    def write_text(self, relative: str, text: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + relative, Body=text.encode())

    def remove_staging(self, born_before: int) -> int:
        return 0  # files are written in place; an interrupted upload never becomes an object

    def delete(self, paths: list[str]) -> None:
        keys = [p.removeprefix(f"s3://{self.bucket}/") for p in paths]
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
            )
