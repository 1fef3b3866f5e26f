"""The Parquet lake through DuckDB, in a local folder or on S3 (DuckDB reads both alike).

Two levels, like a log-structured merge tree:
- `ingests/timeframe=1d/period=2026/<ingest id>_<n>.parquet`: what each ingestion wrote, all its
  symbols in one file per period (sorted by symbol, so row-group statistics prune reads). Writing
  5,000 symbols' end-of-day bars is one file, not 5,000. The file of an ingestion of one symbol
  (a pull's, a backfill's, a live bar's) names it, `<ingest id>_<n>~<symbol>.parquet`, so another
  symbol's read does not open it: a day of per-symbol pulls is thousands of such files.
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

A large re-ingestion (a vendor's corrected file) usually holds every bar an older file has for
its symbol and period. The writer then proves it, before its commit record, and leaves a marker
beside the symbol's partition: `bars/timeframe=1m/symbol=AAPL/period=2026-11/<older file's
stem>~<ingest id>.shadowed`. A read drops the older file when the marker's ingestion committed,
so the period reads as if compacted instead of anti-joining the older file on every request.
Compaction removes markers whose older file it merged away.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import duckdb
import numpy as np
import numpy.typing as npt

from trading_system.adapters import duck
from trading_system.config import SettingsError
from trading_system.kernel.clock import sortable_id
from trading_system.market_data.bar_batch import BarColumns, BarSeries, ParsedBars, in_order
from trading_system.market_data.domain import (
    ActionKind,
    Adjustment,
    CorporateAction,
    Period,
    SessionWindows,
    Timeframe,
    symbol_segment,
)
from trading_system.market_data.ports import ROLLUP_BUDGET_S, CompactionReport, WrittenBars

if TYPE_CHECKING:
    from trading_system.config import Settings
    from trading_system.market_data.commands import FileFormat

# numpy datetime64 units whose text is a period's partition value: 2026-11-05, 2026-11, 2026.
_PERIOD_UNITS = {Period.DAY: "D", Period.MONTH: "M", Period.YEAR: "Y"}
_PARALLEL_COPIES = 4  # periods copied at once by one write: measured 1.6x over one at a time
COMMITS = "_commits"  # the folder of commit records, beside each timeframe's ingest periods
log = logging.getLogger(__name__)
FOR_SYMBOL = "~"  # an ingest file of one symbol: `<ingest id>_<n>~<symbol segment>.parquet`
SHADOWED = ".shadowed"  # a marker's suffix: an older file every bar of which a newer ingestion holds
# A rollup: a compacted file's bars resampled to a coarser timeframe, beside it as
# `<file stem>~<timeframe>.rollup` (a Parquet file the `.parquet` listings do not see). A long read
# of hours or days (a chart over years) then reads a sixtieth of the rows or fewer. Compacted files
# never change, so a rollup holds as long as its file does, and a read uses it only where that file
# alone holds the period. Each of these timeframes divides a day: no bucket straddles two periods.
ROLLUP = ".rollup"
ROLLED_UP = (Timeframe.M15, Timeframe.H1, Timeframe.D1)  # finest first: each made from the one before


@dataclass(frozen=True)
class ShadowCheck:
    """When a write proves that it shadows older files (see the module's docstring). The proof
    reads the older files' timestamps, so it is only worth it where a read would otherwise
    anti-join many rows: a symbol's period of at least `min_rows` new bars, in a batch of at most
    `max_symbols` such symbols (a day's bars of 5,000 symbols shadow nothing and list nothing)."""

    min_rows: int = 1_000
    max_symbols: int = 16


class ParquetLake:
    """Implements the BarLake port: bars in, bars out, bar files parsed."""

    def __init__(
        self,
        root: str,
        conn: duckdb.DuckDBPyConnection,
        files: LakeFiles,
        orphan_grace_s: int = 3_600,
        shadow_check: ShadowCheck | None = None,
    ):
        self.root = root.rstrip("/")
        self.conn = conn
        self.files = files
        self.orphan_grace_s = orphan_grace_s
        self.shadow_check = shadow_check or ShadowCheck()
        self._write_lock = threading.Lock()
        # compacted file -> its lowest and highest ingest id (None: no statistics). A file never
        # changes and its name is never reused, so what its footer said holds as long as it exists.
        self._ingest_ids_of: dict[str, tuple[str, str] | None] = {}

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
        staging = self.files.staging_target(ingest_id)
        target = f"{staging}/ingests/timeframe={timeframe.value}"
        # Rows sorted by symbol make row groups of few symbols, which reads prune by their
        # statistics. Batches mostly come sorted (a vendor's file, a provider's pages), and a
        # scan keeps their order: sorting them again was a quarter of the write.
        order = "" if _sorted_by_symbol_and_time(bars) else "ORDER BY symbol, ts"
        # The ingest id, the same in every row, as a one-value ENUM: the Parquet writer then takes
        # its dictionary as it is instead of hashing a million equal strings (a sixth of the
        # write). It reads back as VARCHAR, and the footer's statistics are the id's, as before.
        # Not so the symbol: an ENUM column's statistics span every value of its type.
        id_literal = f"'{duck.literal(ingest_id)}'"
        sql = f"""
            SELECT $symbols[code + 1] AS symbol, make_timestamp(ts_us) AS ts,
                   open, high, low, close, volume, CAST({id_literal} AS ENUM({id_literal})) AS ingest_id
            FROM batch {order}
        """
        params = {"symbols": list(bars.symbols)}

        tag = f"{FOR_SYMBOL}{symbol_segment(bars.symbols[0])}" if len(bars.symbols) == 1 else ""

        def copy(period: str, part: dict[str, npt.NDArray[Any]]) -> tuple[str, int]:
            out = f"{target}/period={period}/{ingest_id}_0{tag}.parquet"
            self.files.prepare(out)
            cur = self.conn.cursor()
            try:
                cur.register("batch", part)
                copied = cur.execute(
                    f"COPY ({sql}) TO '{duck.literal(out)}' (FORMAT parquet, COMPRESSION zstd)", params
                ).fetchone()
            finally:
                cur.close()
            assert copied is not None
            return out, int(copied[0])

        # One plain COPY per period rather than one PARTITION_BY: the partitioned writer cost a
        # third more, and more again the more periods a batch spans. A COPY of a period's few
        # rows is mostly fixed cost that DuckDB spends outside the GIL, so a batch spanning
        # periods (a symbol's years) copies them four at a time: 1.6x faster for 25 months.
        parts = _by_period(bars, timeframe.period)
        if len(parts) == 1:
            written = [copy(*parts[0])]
        else:
            with ThreadPoolExecutor(max_workers=_PARALLEL_COPIES) as pool:
                written = list(pool.map(lambda part: copy(*part), parts))
        paths = [path for path, _ in written]
        rows = sum(count for _, count in written)
        self.files.publish(staging, paths)
        try:
            self._mark_shadowed(bars, parts, timeframe, ingest_id)
        except Exception:  # a proof that fails only leaves the reads as they were: still commit
            log.warning("ingestion %s: its shadowed files were not marked", ingest_id, exc_info=True)
        record = {"ingest_id": ingest_id, "rows": rows, "files": len(paths)}
        self.files.write_text(_commit_record(timeframe, ingest_id), json.dumps(record))
        return WrittenBars(ingest_id=ingest_id, rows=rows, files=len(paths))

    def committed_ingest_files(self, timeframe: Timeframe) -> list[str]:
        """The fresh ingest files of the timeframe whose ingestion committed."""
        return self._ingests(timeframe).committed_files

    def holding_last(self, ingest_files: list[str], n: int) -> list[str]:
        """Of one ingestion's files, those that hold each of its symbols' last n bars. For an
        ingestion of one symbol, the newest periods' files until they hold n rows (an ingestion
        holds a bar once, so a file's rows are that many distinct times; the footers say how
        many): a refresh after a year's backfill reads the last month, not the year. For one of
        several symbols, every file, since a footer does not count a symbol's rows."""
        if len(ingest_files) < 2 or any(_only_symbol(path) is None for path in ingest_files):
            return ingest_files
        cur = self.conn.cursor()
        try:
            counted = cur.execute(
                "SELECT file_name, num_rows FROM parquet_file_metadata($paths)", {"paths": ingest_files}
            ).fetchall()
        finally:
            cur.close()
        rows = dict(counted)
        if not rows.keys() >= set(ingest_files):  # a name spelled otherwise than asked: read them all
            return ingest_files
        kept, held = [], 0
        for path in sorted(ingest_files, key=_period_of, reverse=True):
            kept.append(path)
            held += rows[path]
            if held >= n:
                break
        return kept

    def _ingests(self, timeframe: Timeframe) -> IngestListing:
        records, files = self.files.list_ingests(f"ingests/timeframe={timeframe.value}/")
        return IngestListing(records, files)

    def _mark_shadowed(
        self,
        bars: BarColumns,
        parts: list[tuple[str, dict[str, npt.NDArray[Any]]]],
        timeframe: Timeframe,
        ingest_id: str,
    ) -> None:
        """Leave a marker for each older file whose every bar of a symbol this ingestion holds
        again, and whose ingestions are all older than this one (ids, not write order, decide
        which bar a read keeps). Called after the files are in place and before the commit
        record; a marker left by a writer that dies before committing is never used."""
        periods = self._shadow_candidates(bars, parts)
        if not periods:
            return
        ingests = self._ingests(timeframe)
        markers: list[str] = []
        for code, symbol_periods in periods.items():
            symbol = bars.symbols[code]
            # What a read would use: files an earlier marker shadows need no second proof.
            files = [
                file
                for period, files in self._symbol_files(symbol, timeframe, ingests).periods.items()
                if period in symbol_periods
                for file in files
            ]
            if not files:
                continue
            stamps = bars.ts_us[bars.symbol_code == code]
            compacted = [f.path for f in files if not f.fresh]
            fresh = [f.path for f in files if f.fresh]
            folder = _partition(symbol, timeframe)
            for path in self._shadowed_files(symbol, stamps, compacted, fresh, ingest_id):
                markers.append(f"{folder}period={_period_of(path)}/{_stem(path)}~{ingest_id}{SHADOWED}")
        if markers:  # on S3 each is a PUT: a few at a time, as the copies
            with ThreadPoolExecutor(max_workers=_PARALLEL_COPIES) as pool:
                list(pool.map(lambda marker: self.files.write_text(marker, ""), markers))

    def _shadow_candidates(
        self, bars: BarColumns, parts: list[tuple[str, dict[str, npt.NDArray[Any]]]]
    ) -> dict[int, set[str]]:
        """The batch's symbols (codes) with enough bars in a period to be worth a proof, and
        those periods; none when too many symbols qualify."""
        check = self.shadow_check
        periods: dict[int, set[str]] = defaultdict(set)
        for period, part in parts:
            counts = np.bincount(part["code"], minlength=len(bars.symbols))
            for code in np.flatnonzero(counts >= check.min_rows).tolist():
                periods[code].add(period)
                if len(periods) > check.max_symbols:
                    return {}
        return periods

    def _shadowed_files(
        self,
        symbol: str,
        stamps: npt.NDArray[np.int64],
        compacted: list[str],
        fresh: list[str],
        ingest_id: str,
    ) -> list[str]:
        """Of the symbol's older files, those whose every bar's timestamp is among `stamps` and
        whose ingest ids are all below `ingest_id`. Compacted files that cannot be (a newer id,
        or more bars in their time range than the batch has) are left out by their footers;
        the others are anti-joined with the batch, all at once (a whole re-ingestion shadows
        them all) and, when some bar is left over, file by file."""
        ordered = stamps if bool(np.all(stamps[1:] >= stamps[:-1])) else np.sort(stamps)
        cur = self.conn.cursor()
        try:
            cur.register("new_stamps", {"ts_us": ordered})
            compacted = self._may_be_shadowed(cur, compacted, ordered, ingest_id)
            fresh = [path for path in fresh if _ingest_id_of(path) < ingest_id]
            sources: list[str] = []
            params: dict[str, Any] = {}
            if compacted:
                params["compacted"] = compacted
                sources.append("SELECT {columns} FROM read_parquet($compacted{options})")
            if fresh:
                params.update(fresh=fresh, symbol=symbol)
                sources.append("SELECT {columns} FROM read_parquet($fresh{options}) WHERE symbol = $symbol")
            if not sources:
                return []
            older = " UNION ALL ".join(sources)
            left = cur.execute(
                f"SELECT count(*) FROM ({older.format(columns='ts', options='')}) AS o "
                "ANTI JOIN (SELECT make_timestamp(ts_us) AS ts FROM new_stamps) AS n ON o.ts = n.ts",
                params,
            ).fetchone()
            if left is not None and left[0] == 0:
                return [*compacted, *fresh]
            by_file = older.format(columns="filename AS file, ts", options=", filename = true")
            rows = cur.execute(
                f"""
                SELECT o.file FROM ({by_file}) AS o
                LEFT JOIN (SELECT make_timestamp(ts_us) AS ts FROM new_stamps) AS n ON o.ts = n.ts
                GROUP BY o.file HAVING count(*) FILTER (WHERE n.ts IS NULL) = 0
                """,
                params,
            ).fetchall()
            return [str(file) for (file,) in rows]
        except duckdb.IOException as error:
            if not duck.vanished(error):
                raise
            return []  # an older file compacted away meanwhile: nothing proven, nothing marked
        finally:
            cur.close()

    @staticmethod
    def _may_be_shadowed(
        cur: duckdb.DuckDBPyConnection, compacted: list[str], ordered: npt.NDArray[np.int64], ingest_id: str
    ) -> list[str]:
        """The compacted files whose footers allow it: every ingest id below `ingest_id`, and no
        more bars than the batch has between their first and last timestamp (a file's bars have
        distinct timestamps). A file without statistics is left out."""
        if not compacted:
            return []
        footers = cur.execute(
            """
            SELECT file_name,
                   sum(row_group_num_rows) FILTER (WHERE path_in_schema = 'ts'),
                   epoch_us(min(TRY_CAST(stats_min_value AS TIMESTAMP)) FILTER (WHERE path_in_schema = 'ts')),
                   epoch_us(max(TRY_CAST(stats_max_value AS TIMESTAMP)) FILTER (WHERE path_in_schema = 'ts')),
                   max(stats_max_value) FILTER (WHERE path_in_schema = 'ingest_id')
            FROM parquet_metadata($paths) WHERE path_in_schema IN ('ts', 'ingest_id')
            GROUP BY file_name
            """,
            {"paths": compacted},
        ).fetchall()
        possible = []
        for name, rows, first, last, newest in footers:
            if None in (rows, first, last, newest) or newest >= ingest_id:
                continue
            within = int(np.searchsorted(ordered, last, "right") - np.searchsorted(ordered, first, "left"))
            if within >= rows:
                possible.append(str(name))
        return possible

    # -- reading -------------------------------------------------------------------------

    @duck.listed_again_if_compacted
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
        found = self._files_to_read(symbol, source, first_period, last_period)
        periods = found.periods
        if not periods:
            return _empty_series()
        actions = self._action_files(symbol) if adjustment is Adjustment.SPLIT else []
        rollups: list[str] = []
        grid = _session_grid(timeframe, sessions) if sessions is not None else 0
        if source is not timeframe and not actions:
            rolled = timeframe if sessions is None else _rollup_within(source, grid)
            if rolled is not None:
                rollups, periods = _rolled_up(found, source.period, rolled, start, end)
        newest, params = ReadOrder.of(periods, self._ingest_ranges(periods)).newest_rows(symbol)
        if actions:
            newest = _split_adjusted(newest)  # before any resampling: a bucket may straddle a split
        if rollups:
            params["rollups"] = rollups
        if source is timeframe:
            sql = f"SELECT * FROM ({newest}) ORDER BY ts LIMIT $limit"
        elif sessions is not None:
            if not sessions.opens:
                return _empty_series()  # a range outside the calendar: no session to follow
            newest = newest if periods else ""  # every period read from its rollup
            sql = _session_grid_rows(newest, rollups, source, grid)
        else:
            buckets = [_resampled(newest, timeframe.seconds)] if periods else []  # those not rolled up
            if rollups:
                buckets.append(_ROLLUP_ROWS)
            sql = f"SELECT * FROM ({' UNION ALL '.join(buckets)}) ORDER BY ts LIMIT $limit"
        params.update(start=start.replace(tzinfo=None), end=end.replace(tzinfo=None))
        if sessions is None:
            params["limit"] = limit  # a session read limits its buckets, not the rows it reads
        if actions:
            params["actions"] = actions
        cur = self.conn.cursor()
        try:
            columns = cur.execute(sql, params).fetchnumpy()
        finally:
            cur.close()
        ts, opens, highs, lows, closes, volumes = columns.values()
        series = BarSeries(
            ts_us=duck.contiguous(ts.astype("datetime64[us]").astype(np.int64), np.int64),
            open=duck.contiguous(opens, np.float64),
            high=duck.contiguous(highs, np.float64),
            low=duck.contiguous(lows, np.float64),
            close=duck.contiguous(closes, np.float64),
            volume=duck.contiguous(volumes, np.float64),
        )
        return series if sessions is None else _follow_sessions(series, timeframe, sessions, limit)

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
    ) -> SymbolFiles:
        """The files that may hold the symbol's bars in the period range, by period."""
        files = self._symbol_files(symbol, timeframe, self._ingests(timeframe))
        periods = {p: found for p, found in files.periods.items() if first_period <= p <= last_period}
        return SymbolFiles(periods, files.rollups)

    def _symbol_files(self, symbol: str, timeframe: Timeframe, ingests: IngestListing) -> SymbolFiles:
        """The files that may hold the symbol's bars, by period: the fresh ingest files whose
        ingestion committed and the symbol's compacted partition files, less those a committed
        ingestion's marker shadows; and the rollups beside those compacted files."""
        sources: dict[str, list[LakeFile]] = defaultdict(list)
        segment = symbol_segment(symbol)
        for path in ingests.committed_files:
            if _only_symbol(path) in (None, segment):
                sources[_period_of(path)].append(LakeFile(path, fresh=True))
        listed = self.files.list_partition(_partition(symbol, timeframe))
        for path in listed.files:
            sources[_period_of(path)].append(LakeFile(path, fresh=False))
        shadowed = {
            (_period_of(marker), older)
            for marker in listed.markers
            for older, by in [_marker_parts(marker)]
            if ingests.committed(by)
        }
        periods = {
            period: [f for f in files if (period, _stem(f.path)) not in shadowed]
            for period, files in sources.items()
        }
        return SymbolFiles(periods, frozenset(listed.rollups))

    def _ingest_ranges(self, periods: dict[str, list[LakeFile]]) -> dict[str, tuple[str, str]]:
        """The lowest and highest ingest id in each file of the periods held in several files.
        A fresh file holds one ingestion, named in its file name; a compacted file holds many,
        found in its row groups' statistics (the footers only, not the rows). A file whose
        statistics are missing is left out (its period is then read through the window)."""
        ranges: dict[str, tuple[str, str]] = {}
        compacted: list[str] = []
        for files in periods.values():
            if len(files) > 1:
                for file in files:
                    if file.fresh:
                        ranges[file.path] = (_ingest_id_of(file.path),) * 2
                    else:
                        compacted.append(file.path)
        known = self._ingest_ids_of
        unread = [path for path in compacted if path not in known]
        if unread:
            if len(known) + len(unread) > _FOOTERS_KEPT:
                known.clear()  # rarely: a lake of many files read by one long-lived process
            known.update(self._footer_ingest_ids(unread))
        ranges.update({path: found for path in compacted if (found := known.get(path)) is not None})
        return ranges

    def _footer_ingest_ids(self, paths: list[str]) -> dict[str, tuple[str, str] | None]:
        """Each compacted file's lowest and highest ingest id, from its footer's row-group
        statistics (None where they are missing); nothing when a file vanished meanwhile."""
        cur = self.conn.cursor()
        try:
            rows = cur.execute(
                """
                SELECT file_name, min(stats_min_value), max(stats_max_value)
                FROM parquet_metadata($paths) WHERE path_in_schema = 'ingest_id'
                GROUP BY file_name
                HAVING bool_and(stats_min_value IS NOT NULL AND stats_max_value IS NOT NULL)
                """,
                {"paths": paths},
            ).fetchall()
        except duckdb.IOException as error:
            if not duck.vanished(error):
                raise
            return {}  # a file compacted away under us: the read itself reports it
        finally:
            cur.close()
        found: dict[str, tuple[str, str] | None] = dict.fromkeys(paths)
        found.update({name: (low, high) for name, low, high in rows})
        return found

    # -- compaction ----------------------------------------------------------------------

    def compact(
        self, timeframe: Timeframe | None, rollup_budget_s: float = ROLLUP_BUDGET_S, *, minor: bool = False
    ) -> CompactionReport:
        """Move committed ingest files into per-symbol partitions, merge each partition's files
        into one, delete what dead writers left, and roll the compacted files up (none started
        after `rollup_budget_s`). Query results are the same before, during and after, and a
        compaction killed at any point leaves a lake the next one finishes.

        A `minor` compaction (the one run every few minutes through the day) merges only the
        files of partitions holding more than MINOR_MERGE_FILES, and leaves each one's oldest
        file (the month or year so far, as the last full compaction wrote it) as it is: what it
        rewrites is the day's bars, not the period's. It writes no rollup, and with no ingest
        file to move it lists nothing more (what an idle run costs, 144 times a day)."""
        rollups_until = time.monotonic() + (0.0 if minor else rollup_budget_s)
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
                moving = ingests.committed_files
                written = 0
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
                if minor and not moving:  # its partitions are as the last run left them
                    report.files_before += len(ingests.files)
                    report.files_after += len(ingests.files) - len(orphans)
                    continue
                # One listing of the timeframe's partitions, kept up to date below: on S3 a lake
                # of many files takes a LIST request per 1,000, and a minor compaction runs 144
                # times a day.
                listed = self.files.list_partition(f"bars/timeframe={tf.value}/")
                report.files_before += len(ingests.files) + len(listed.files) - written
                by_partition: dict[str, list[str]] = defaultdict(list)
                for path in listed.files:
                    by_partition[path.rsplit("/", 1)[0]].append(path)
                present = set(listed.files)
                for partition, paths in sorted(by_partition.items()):
                    merged = _minor_merge(paths) if minor else sorted(paths) if len(paths) > 1 else []
                    if merged:
                        rows, out = self._merge(partition, merged)
                        report.rows_merged += rows
                        report.partitions_merged += 1
                        present = present.difference(merged) | {out}
                listed = listed._replace(files=sorted(present))
                remaining = self._ingests(tf)
                self._remove_stale_markers(listed, remaining, born_before)
                written, left = self._roll_up(tf, listed, rollups_until)
                report.rollups_written += written
                report.rollups_left += left
                report.files_after += len(present) + len(remaining.files)
            report.orphan_files_removed += self.files.remove_staging(born_before)
        return report

    def _remove_stale_markers(
        self, listed: PartitionListing, ingests: IngestListing, born_before: int
    ) -> None:
        """Delete the shadow markers whose older file is gone (moved or merged away: a file's
        name is never reused), and those of ingestions that never committed, once older than
        the grace (a writer still at work may commit yet)."""
        present = {(_period_of(path), _stem(path)) for path in [*listed.files, *ingests.files]}
        stale = []
        for marker in listed.markers:
            older, by = _marker_parts(marker)
            gone = (_period_of(marker), older) not in present
            if gone or (not ingests.committed(by) and _born_at(by) < born_before):
                stale.append(marker)
        self.files.delete(stale)

    def _roll_up(self, timeframe: Timeframe, listed: PartitionListing, until: float) -> tuple[int, int]:
        """Delete the rollups whose file is gone and write those the timeframe's compacted files
        lack, a file's at a time, none started after `until` (time.monotonic); the rollups
        written, and those left for a later compaction."""
        present = set(listed.files)
        self.files.delete([path for path in listed.rollups if _rolled_up_file(path) not in present])
        chains = _missing_rollups(timeframe, listed)
        if not chains:
            return 0, 0
        staging = self.files.staging_target(f"r{sortable_id()}")
        staged = {rollup: self._staged(staging, rollup) for chain in chains for _, rollup, _ in chain}

        def write_chain(chain: list[RollupStep]) -> list[str]:
            if time.monotonic() >= until:
                return []
            for source, rollup, target in chain:  # a source written in this run is still staged
                self._write_rollup(staged.get(source, source), staged[rollup], target)
            return [staged[rollup] for _, rollup, _ in chain]

        with ThreadPoolExecutor(max_workers=_PARALLEL_COPIES) as pool:
            written = [path for paths in pool.map(write_chain, chains) for path in paths]
        self.files.publish(staging, written)
        return len(written), sum(map(len, chains)) - len(written)

    def _write_rollup(self, source: str, out: str, target: Timeframe) -> None:
        self.files.prepare(out)
        cur = self.conn.cursor()
        try:
            rows = _resampled(
                f"SELECT {_FIELDS} FROM read_parquet($source, hive_partitioning = false)", target.seconds
            )
            cur.execute(
                f"COPY (SELECT * FROM ({rows}) ORDER BY ts) "
                f"TO '{duck.literal(out)}' (FORMAT parquet, COMPRESSION zstd)",
                {"source": source},
            ).fetchone()
        finally:
            cur.close()

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

    def _staged(self, staging: str, path: str) -> str:
        """Where a file bound for `path` in the lake is written first: the same place under the
        staging folder, which publishing renames into the lake (on S3 the path itself)."""
        return f"{staging}/{path.removeprefix(self.root + '/')}"

    def _merge(self, partition: str, paths: list[str]) -> tuple[int, str]:
        """Merge the partition's files into one, newest ingestion first: its rows and its path."""
        name = f"c{sortable_id()}"
        final = f"{partition}/{name}.parquet"
        staging = self.files.staging_target(name)
        out = self._staged(staging, final)
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
        return (int(result[0]) if result else 0), final

    # -- bar files ----------------------------------------------------------------------

    def read(
        self, path: str, fmt: FileFormat, timeframe: Timeframe, default_symbol: str | None
    ) -> ParsedBars:
        # Imported here: a read of bars, the lake's other use, needs no file parser.
        from trading_system.adapters.bar_files import BarFileParser

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


def _by_period(bars: BarColumns, period: Period) -> list[tuple[str, dict[str, npt.NDArray[Any]]]]:
    """The batch's columns split by lake period, each part in the batch's order: slices when the
    periods come in runs (one symbol, or one period), else gathered after a stable sort."""
    columns = {
        "code": bars.symbol_code,
        "ts_us": bars.ts_us,
        "open": bars.open,
        "high": bars.high,
        "low": bars.low,
        "close": bars.close,
        "volume": bars.volume,
    }
    unit = f"datetime64[{_PERIOD_UNITS[period]}]"
    if len(bars.ts_us):
        # One period (a day's bars, a vendor's month): known from the first and last times, not
        # by converting every row's time (a fifth of a 1M-bar write's own Python time).
        first, last = np.array([bars.ts_us.min(), bars.ts_us.max()]).astype("datetime64[us]").astype(unit)
        if first == last:
            return [(str(first), columns)]
    stamps = bars.ts_us.astype("datetime64[us]").astype(unit)
    keys = stamps.view(np.int64)
    if len(keys) and not bool(np.all(keys[1:] >= keys[:-1])):
        offsets = keys - keys.min()
        # numpy's stable sort is a radix sort for 16-bit keys: linear for the usual few periods.
        small = offsets.astype(np.int16) if offsets.max() < 2**15 else offsets
        order = np.argsort(small, kind="stable")
        stamps, keys = stamps[order], keys[order]
        columns = {name: values[order] for name, values in columns.items()}
    starts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()]
    ends = [*starts[1:], len(keys)]
    return [
        (
            str(stamps[a]),
            {name: values[a:b] for name, values in columns.items()},
        )
        for a, b in zip(starts, ends, strict=True)
        if b > a
    ]


def _sorted_by_symbol_and_time(bars: BarColumns) -> bool:
    """Whether the rows are in (symbol, ts) order already: a linear check, not a sort."""
    code = bars.symbol_code
    if list(bars.symbols) != sorted(bars.symbols):  # codes then do not follow the symbols' order
        rank = np.empty(len(bars.symbols), dtype=np.int64)
        rank[sorted(range(len(bars.symbols)), key=bars.symbols.__getitem__)] = np.arange(len(bars.symbols))
        code = rank[code]
    return in_order(code, bars.ts_us, strict=False)


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

    def committed(self, ingest_id: str) -> bool:
        return ingest_id in self._committed

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


def _partition(symbol: str, timeframe: Timeframe) -> str:
    """The folder of a symbol's compacted files (and shadow markers), as compaction's
    PARTITION_BY writes it: DuckDB percent-encodes the value as symbol_segment does (letters,
    digits and `._-~` as they are, `/` as %2F)."""
    return f"bars/timeframe={timeframe.value}/symbol={symbol_segment(symbol)}/"


def _stem(path: str) -> str:
    """A data file's name without `.parquet`: what a shadow marker names it by."""
    return _name(path).removesuffix(".parquet")


def _marker_parts(marker: str) -> tuple[str, str]:
    """A shadow marker's older file (stem) and the ingestion that shadows it."""
    older, _, by = _name(marker).removesuffix(SHADOWED).rpartition("~")
    return older, by


def _ingest_id_of(path: str) -> str:
    return _name(path).split("_", 1)[0]


def _minor_merge(paths: list[str]) -> list[str]:
    """The files a minor compaction merges in a partition: none until it holds more than
    MINOR_MERGE_FILES, then all but its oldest (named from sortable ids; a name without one counts
    as the oldest)."""
    if len(paths) <= MINOR_MERGE_FILES:
        return []
    oldest_first = sorted(paths, key=lambda path: (_born_at(_name(path)), path))
    return sorted(oldest_first[1:])


def _only_symbol(path: str) -> str | None:
    """The symbol (as its path segment) an ingest file named for its one symbol holds; None
    for a file of several symbols (or one written before files were named so)."""
    _, tagged, segment = _stem(path).partition(FOR_SYMBOL)
    return segment if tagged else None


def _born_at(name: str) -> int:
    """When a lake name made from a sortable id (an ingest id, or a staging folder's letter and
    id) was created, in ns since the epoch; 0 for any other name, which counts as old."""
    digits = name.lstrip("abcdefghijklmnopqrstuvwxyz")[:19]
    return int(digits) if digits.isdigit() and len(digits) == 19 else 0


def _period_of(path: str) -> str:
    return path.rsplit("/", 2)[-2].removeprefix("period=")


def _rollup_path(path: str, timeframe: Timeframe) -> str:
    """Where a compacted file's rollup to the timeframe lies: beside it."""
    return f"{path.removesuffix('.parquet')}~{timeframe.value}{ROLLUP}"


def _rolled_up_file(rollup: str) -> str:
    """The compacted file a rollup was made from."""
    return f"{rollup.rsplit('~', 1)[0]}.parquet"


RollupStep = tuple[str, str, Timeframe]  # (source, rollup, timeframe): the source resampled


def _missing_rollups(timeframe: Timeframe, listed: PartitionListing) -> list[list[RollupStep]]:
    """What each compacted file lacks of its rollups, finest first: a coarser one is made from
    the finer rollup (a sixtieth of the rows) rather than from the file."""
    have = set(listed.rollups)
    chains = []
    for path in listed.files:
        chain, source = [], path
        for target in (tf for tf in ROLLED_UP if tf.seconds > timeframe.seconds):
            rollup = _rollup_path(path, target)
            if rollup not in have:
                chain.append((source, rollup, target))
            source = rollup
        if chain:
            chains.append(chain)
    return chains


def _rolled_up(
    found: SymbolFiles, period: Period, timeframe: Timeframe, start: datetime, end: datetime
) -> tuple[list[str], dict[str, list[LakeFile]]]:
    """The rollups that answer for periods of the read, and the periods left to read from their
    files. A rollup answers for a period that its compacted file alone holds (no fresh file,
    nothing else unshadowed) and whose part in [start, end) is made of whole buckets of the
    rollup: the period lies wholly in the range, or the edge that cuts it lies on the rollup's
    grid (a session read from 14:30 on the 15m rollup; the read keeps its buckets in range)."""
    rollups: list[str] = []
    rest: dict[str, list[LakeFile]] = {}
    step = timeframe.seconds
    whole_start = _on_grid(start, step)
    whole_end = _on_grid(end, step)
    for key, files in found.periods.items():
        first, after = period.span(key)
        cut = (start > first and not whole_start) or (end < after and not whole_end)
        if len(files) == 1 and not files[0].fresh and not cut:
            rollup = _rollup_path(files[0].path, timeframe)
            if rollup in found.rollups:
                rollups.append(rollup)
                continue
        rest[key] = files
    return rollups, rest


def _resampled(rows: str, seconds: int) -> str:
    """The query of the rows' bars resampled into UTC buckets of `seconds` (columns `_FIELDS`, in
    no order): what reads, session grids and rollups all aggregate by."""
    return f"""
        SELECT time_bucket(INTERVAL '{seconds} seconds', ts) AS ts, arg_min(open, ts) AS open,
               max(high) AS high, min(low) AS low, arg_max(close, ts) AS close, sum(volume) AS volume
        FROM ({rows}) GROUP BY 1
    """


def _on_grid(moment: datetime, seconds: int) -> bool:
    """Whether the moment starts a bucket of that many seconds (on the UTC grid, from the epoch)."""
    return moment.microsecond == 0 and int(moment.timestamp()) % seconds == 0


def _session_grid(timeframe: Timeframe, sessions: SessionWindows) -> int:
    """The largest UTC grid (seconds) every bucket edge lies on: the timeframe's step, days, and
    every open and close (30 minutes for New York: 09:30 and 16:00 in either DST state)."""
    _, opens, closes = sessions.microseconds
    return math.gcd(timeframe.seconds * 1_000_000, 86_400_000_000, *opens, *closes) // 1_000_000


def _rollup_within(source: Timeframe, grid: int) -> Timeframe | None:
    """The coarsest rollup of the source's files whose buckets each lie within one cell of the
    grid (15m within New York's 30 minutes), if any."""
    fitting = [tf for tf in ROLLED_UP if tf.seconds > source.seconds and grid % tf.seconds == 0]
    return fitting[-1] if fitting else None


def _session_grid_rows(newest: str, rollups: list[str], source: Timeframe, grid: int) -> str:
    """The query of a session read's rows, in no order: the bars UTC-bucketed into the grid every
    open and close lies on (`_session_grid`), so that `_follow_sessions` has fewer rows to place,
    and whole periods as rollups that fit the grid (`_rollup_within`: a fifteenth of 1m bars)
    already are. When no grid holds whole source bars (no rollups then), the bars themselves."""
    parts = []
    if newest:
        fits = grid % source.seconds == 0 and grid > source.seconds
        parts.append(_resampled(newest, grid) if fits else newest)
    if rollups:
        parts.append(_ROLLUP_ROWS)
    return " UNION ALL ".join(parts)


def _follow_sessions(
    rows: BarSeries, timeframe: Timeframe, sessions: SessionWindows, limit: int
) -> BarSeries:
    """Rows (in any order) bucketed along the sessions: an intraday bucket counts from its
    session's open, a daily bucket is the session, stamped with its date; rows outside sessions
    drop out. Each row finds its session by a binary search on the opens: after the grid a few
    thousand rows, placed in numpy rather than by a join and a sort in the query, whose set-up
    cost more than the rest of the read."""
    days, opens, closes = (np.array(moments, dtype=np.int64) for moments in sessions.microseconds)
    in_time = np.argsort(rows.ts_us, kind="stable")
    ts = rows.ts_us[in_time]
    at = np.searchsorted(opens, ts, side="right") - 1
    inside = at >= 0
    inside[inside] = ts[inside] < closes[at[inside]]
    if not inside.any():
        return _empty_series()
    kept, ts, at = in_time[inside], ts[inside], at[inside]
    if timeframe is Timeframe.D1:
        buckets = days[at]
    else:
        step = timeframe.seconds * 1_000_000
        buckets = opens[at] + (ts - opens[at]) // step * step
    # Sessions follow one another, so buckets never decrease: each starts where its value changes.
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    firsts = starts[:limit]
    if not len(firsts):  # a limit of 0
        return _empty_series()
    end = int(starts[limit]) if len(starts) > limit else len(buckets)  # the rows of kept buckets
    lasts = np.r_[firsts[1:], end] - 1
    kept = kept[:end]
    return BarSeries(
        ts_us=buckets[firsts],
        open=rows.open[kept[firsts]],
        high=np.maximum.reduceat(rows.high[kept], firsts),
        low=np.minimum.reduceat(rows.low[kept], firsts),
        close=rows.close[kept[lasts]],
        volume=np.add.reduceat(rows.volume[kept], firsts),
    )


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


class PartitionListing(NamedTuple):
    """What one listing under a partition prefix found, by kind."""

    files: list[str]  # compacted data files (`.parquet`)
    markers: list[str]  # shadow markers
    rollups: list[str]


class SymbolFiles(NamedTuple):
    """What a read of one symbol may use."""

    periods: dict[str, list[LakeFile]]  # the data files a read may use, by period
    rollups: frozenset[str]  # the rollups beside the symbol's compacted files


class LakeFile(NamedTuple):
    path: str
    fresh: bool  # an ingest file (every symbol of one ingestion) rather than a compacted one


_FIELDS = "ts, open, high, low, close, volume"
# The rollups of a read (`$rollups`): whole buckets (`_rolled_up`), of which those in its range.
_ROLLUP_ROWS = (
    f"SELECT {_FIELDS} FROM read_parquet($rollups, hive_partitioning = false) "
    "WHERE ts >= $start AND ts < $end"
)
_FOOTERS_KEPT = 50_000  # compacted files whose ingest ids a lake remembers (about 10 MB)
# A partition's files beyond which a minor compaction merges them (but the oldest): a read of
# the period then opens at most this many compacted files, plus the ingest files since.
MINOR_MERGE_FILES = 4
RANKED_FILES = 3  # a period's files read in ingestion order, beyond which most go through the window


@dataclass
class ReadOrder:
    """How a read keeps the newest ingestion's bar for each timestamp.

    One ingestion never holds two bars for one timestamp, so when a period's files can be
    ordered by ingestion (each file's ingest ids all at or above the next older file's), the
    newest file is read whole and each older one only for the timestamps no newer file of its
    period holds: an anti-join on `ts` rather than a per-timestamp window over every row (which
    costs several times the scan). A period in one file is read whole. Periods whose files'
    ingestions interleave, or whose ids are unknown, go through the window, row by row.

    Anti-joining each file with every newer one scans K(K+1)/2 files for a period of K: a day of
    single-bar ingests (a live deployment's 1m bars before the nightly compaction) is hundreds of
    files, tens of thousands of scans. A period of more than RANKED_FILES files reads all but its
    oldest through the window (small ingests, as a rule) and anti-joins its oldest (the compacted
    file, as a rule the big one) with them once: each file scanned at most twice."""

    ranks: list[list[LakeFile]] = field(default_factory=list)  # [k]: the k-th newest file of periods
    newer: list[list[LakeFile]] = field(default_factory=list)  # [k]: their periods' newer files
    windowed: list[LakeFile] = field(default_factory=list)
    oldest: list[LakeFile] = field(default_factory=list)  # of periods whose newer files are windowed

    @classmethod
    def of(cls, periods: dict[str, list[LakeFile]], ranges: dict[str, tuple[str, str]]) -> ReadOrder:
        order = cls()
        for files in periods.values():
            newest_first = _newest_first(files, ranges)
            if newest_first is None:
                order.windowed += files
                continue
            if len(newest_first) > RANKED_FILES:
                order.windowed += newest_first[:-1]
                order.oldest.append(newest_first[-1])
                continue
            for rank, file in enumerate(newest_first):
                if rank == len(order.ranks):
                    order.ranks.append([])
                    order.newer.append([])
                order.ranks[rank].append(file)
                order.newer[rank] += newest_first[:rank]
        return order

    def newest_rows(self, symbol: str) -> tuple[str, dict[str, Any]]:
        """The query of the newest bar per timestamp (columns `_FIELDS`, unordered) and its
        parameters (besides $start and $end)."""
        params: dict[str, Any] = {}

        def scan(name: str, files: list[LakeFile], columns: str) -> str:
            parts = []
            compacted = [f.path for f in files if not f.fresh]
            fresh = [f.path for f in files if f.fresh]
            if compacted:
                params[name] = compacted
                parts.append(f"SELECT {columns} FROM read_parquet(${name}) WHERE ts >= $start AND ts < $end")
            if fresh:  # every symbol of an ingestion: row-group statistics on symbol prune the rest
                params[f"{name}_fresh"], params["symbol"] = fresh, symbol
                parts.append(
                    f"SELECT {columns} FROM read_parquet(${name}_fresh) "
                    "WHERE symbol = $symbol AND ts >= $start AND ts < $end"
                )
            return " UNION ALL ".join(parts)

        parts = []
        for rank, files in enumerate(self.ranks):
            rows = scan(f"rank{rank}", files, _FIELDS)
            if rank:
                newer = scan(f"newer{rank}", self.newer[rank], "ts")
                rows = f"SELECT o.* FROM ({rows}) AS o ANTI JOIN ({newer}) AS n ON o.ts = n.ts"
            parts.append(rows)
        if self.windowed:
            candidates = scan("windowed", self.windowed, f"{_FIELDS}, ingest_id")
            window = "QUALIFY row_number() OVER (PARTITION BY ts ORDER BY ingest_id DESC) = 1"
            if not self.oldest:
                parts.append(f"SELECT {_FIELDS} FROM ({candidates}) {window}")
            else:  # materialized: the anti-join reads the rows again, not the files
                older = scan("oldest", self.oldest, _FIELDS)
                parts.append(
                    f"SELECT * FROM (WITH candidates AS MATERIALIZED ({candidates}) "
                    f"SELECT {_FIELDS} FROM candidates {window} UNION ALL "
                    # periods are disjoint in time: another period's rows never match
                    f"SELECT o.* FROM ({older}) AS o ANTI JOIN candidates AS n ON o.ts = n.ts)"
                )
        return " UNION ALL ".join(parts), params


def _newest_first(files: list[LakeFile], ranges: dict[str, tuple[str, str]]) -> list[LakeFile] | None:
    """A period's files newest ingestion first, or None when their ingestions interleave (a file
    holding ids both below and above another's) or a file's ids are unknown. Files sharing an id
    hold that ingestion's same bars, so either may come first."""
    if len(files) == 1:
        return files
    if any(f.path not in ranges for f in files):
        return None
    oldest_first = sorted(files, key=lambda f: (ranges[f.path][1], ranges[f.path][0]))
    for older, newer in pairwise(oldest_first):
        if ranges[older.path][1] > ranges[newer.path][0]:
            return None
    return oldest_first[::-1]


class LakeFiles(Protocol):
    """Where the lake's files live: listing, atomic placement and deletion."""

    def staging_target(self, name: str) -> str: ...

    def prepare(self, path: str) -> None: ...

    def publish(self, staging: str, written: list[str]) -> None: ...

    def list_files(self, prefix: str) -> list[str]: ...

    def list_partition(self, prefix: str) -> PartitionListing:
        """The Parquet files, shadow markers and rollups under the prefix, in one listing."""

    def list_ingests(self, prefix: str) -> tuple[list[str], list[str]]:
        """The commit records (`<prefix>_commits/*.json`) and then the Parquet files under the
        prefix, listed in that order."""

    def write_text(self, relative: str, text: str) -> None:
        """A small file, written whole."""

    def delete(self, paths: list[str]) -> None: ...

    def remove_staging(self, born_before: int) -> int:
        """Delete what writers left in staging before the time (ns); the files removed."""


def _by_kind(listed: list[str]) -> PartitionListing:
    return PartitionListing(
        [p for p in listed if p.endswith(".parquet")],
        [p for p in listed if p.endswith(SHADOWED)],
        [p for p in listed if p.endswith(ROLLUP)],
    )


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
        return [path for path in _files_under(f"{self.root}/{prefix}") if path.endswith(".parquet")]

    def list_partition(self, prefix: str) -> PartitionListing:
        return _by_kind(_files_under(f"{self.root}/{prefix}"))

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


def _files_under(folder: str) -> list[str]:
    """The paths of the files under a folder, at any depth, sorted; none if it does not exist.
    (os.walk, not Path.rglob: every read lists its partitions, and rglob took three times as long.)"""
    found = [f"{top}/{name}" for top, _, names in os.walk(folder.rstrip("/")) for name in names]
    found.sort()
    return found


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

    def list_partition(self, prefix: str) -> PartitionListing:
        return _by_kind(self._list(prefix))

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
