"""Signals and scan runs in the Parquet lake (local folder or S3), through DuckDB:
`signals/date=2026-11-24/<id>.parquet` and `scan_runs/scanner_id=<id>/<run id>.parquet`.

Both grow by a file per scan (a scanner every minute writes 1,440 runs a day), so reads open only
what can answer: signals since a time read the days from that time's on, and a scanner's latest
runs read its newest run files, run ids being sortable by the time they were made.

Compaction (nightly, `CompactSignalLog`) keeps the files few: the signals of each day that is over
become one file, and so do each scanner's runs of such a day. A merged file is named
`<newest key>~<compaction id>.parquet`, a file's key being its name up to `~` (a run's id, a
signal file's write id), so a day's merged runs sort where its newest run did
(`_newest_run_files`), and no merge ever replaces a file a reader may be reading. The merged file
is written first and its inputs deleted after: in between (for a whole night, if the compaction
was killed there) some rows are in two files, so a read that lists such a day drops the repeats
by signal_id or run_id, and the next compaction merges the day again. Only such reads pay for
that window: over a million signals it costs six times the scan itself.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from trading_system.adapters import duck
from trading_system.adapters.lake import ParquetLake
from trading_system.kernel.clock import sortable_id
from trading_system.scanning.ports import SignalLogCompaction

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
MERGED = "~"  # in a merged file's name, between its key and the id of the compaction that wrote it
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _key(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".parquet").split(MERGED, 1)[0]


def _is_merged(path: str) -> bool:
    return MERGED in path.rsplit("/", 1)[-1]


def _signal_day(path: str) -> date | None:
    """The UTC day a signal file's signals were detected: its folder's."""
    try:
        return date.fromisoformat(path.rsplit("/", 2)[-2].removeprefix("date="))
    except ValueError:
        return None


def _run_day(path: str) -> date | None:
    """The UTC day a run started (a merged file's newest run), from its id: `run_` and a
    sortable id made of its start (kernel/clock.py: 19 digits of nanoseconds, then randomness)."""
    digits = _key(path).removeprefix("run_")[:19]
    if len(digits) != 19 or not digits.isdigit():
        return None  # not a run id: never merged, and read as a file of its own
    return (_EPOCH + timedelta(microseconds=int(digits) // 1_000)).date()


@dataclass(frozen=True)
class _Table:
    """One of the log's two tables: where its files are, and how a file's day and a row are known."""

    prefix: str
    day_of: Callable[[str], date | None]
    key: str  # the column naming a row: rows repeated in two files share it
    order: str  # a merged file's rows, sorted so its row groups' statistics prune

    @property
    def once(self) -> str:
        """The clause that keeps one row of each key (the first detected or started)."""
        return f"QUALIFY row_number() OVER (PARTITION BY {self.key} ORDER BY {self.order}) = 1"

    def by_day(self, paths: Sequence[str]) -> dict[tuple[str, date], list[str]]:
        """The files by folder and UTC day (files of no known day left out)."""
        days: dict[tuple[str, date], list[str]] = defaultdict(list)
        for path in paths:
            day = self.day_of(path)
            if day is not None:
                days[(path.rsplit("/", 1)[0], day)].append(path)
        return days

    def may_repeat(self, paths: Sequence[str]) -> bool:
        """Whether a row may be in two of the files: a day's merged file beside other files of
        its day (a compaction under way, or killed before it deleted the files it merged)."""
        return any(len(day) > 1 and any(map(_is_merged, day)) for day in self.by_day(paths).values())


SIGNALS = _Table("signals/", _signal_day, "signal_id", "detected_at, signal_id")
RUNS = _Table("scan_runs/", _run_day, "run_id", "started_at, run_id")


class SignalLake:
    """Implements Analytics' SignalLog port and Scanning's SignalLogCompactor."""

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
        where: list[str] = ["TRUE"]
        params: dict[str, Any] = {"limit": limit}
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

        @duck.listed_again_if_compacted
        def read() -> list[dict[str, Any]]:
            files = self.lake.files.list_files(SIGNALS.prefix)
            if since is not None:  # a file's day is when its signals were detected, in UTC
                first_day = f"date={since.astimezone(UTC).date().isoformat()}"
                files = [path for path in files if path.rsplit("/", 2)[-2] >= first_day]
            order = "ORDER BY detected_at DESC, signal_id LIMIT $limit"
            return self._read(SIGNALS, files, f"WHERE {' AND '.join(where)}", order, params)

        return read()

    def runs(self, scanner_id: str, limit: int) -> list[dict[str, Any]]:
        """The scanner's latest runs, newest first, read from its newest run files."""

        @duck.listed_again_if_compacted
        def read() -> list[dict[str, Any]]:
            listed = self.lake.files.list_files(f"{RUNS.prefix}scanner_id={scanner_id}/")
            order = "ORDER BY started_at DESC LIMIT $limit"
            return self._read(RUNS, _newest_run_files(listed, limit), "", order, {"limit": limit})

        return read()

    def compact(self, before: date, budget_s: float) -> SignalLogCompaction:
        """Merge the files of each day before `before`: a day's signals into one file, each
        scanner's runs of a day into one. A day already in one file is left as it is, so a second
        compaction does nothing, and one after a compaction killed part-way finishes its work."""
        stop_at = time.monotonic() + budget_s
        merged: set[date] = set()
        left: set[date] = set()
        files = written = 0
        for table, folder, day, paths in self._days_to_merge(before):
            if time.monotonic() >= stop_at:
                left.add(day)
                continue
            self._merge(table, folder, paths)
            merged.add(day)
            files += len(paths)
            written += 1
        return SignalLogCompaction(
            days=len(merged),
            days_left=len(left),
            files_merged=files,
            files_written=written,
            files_deleted=files,  # each day's, once its merged file was in place
        )

    def _days_to_merge(self, before: date) -> Iterator[tuple[_Table, str, date, list[str]]]:
        """Each folder's days before `before` that are in more than one file, oldest first."""
        for table in (SIGNALS, RUNS):
            listed = self.lake.files.list_files(table.prefix)
            for (folder, day), paths in sorted(table.by_day(listed).items()):
                if day < before and len(paths) > 1:
                    yield table, folder, day, paths

    def _merge(self, table: _Table, folder: str, paths: list[str]) -> None:
        """A day's files as one new file, put in place before they are deleted: a read in between
        finds their rows twice and keeps them once; a compaction killed in between leaves the
        day to the next one, which merges the merged file and what is left again."""
        name = f"{max(map(_key, paths))}{MERGED}{sortable_id()}.parquet"
        self.lake.write_query(
            f"{folder.removeprefix(self.lake.root + '/')}/{name}",
            # Without the folders' partition values (a signal's date): those come of the path.
            "SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false) "
            f"{table.once} ORDER BY {table.order}",
            {"files": paths},
        )
        self.lake.files.delete(paths)

    def _read(
        self, table: _Table, files: list[str], where: str, order: str, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The rows of the files that hold for `where`, in `order` (and its LIMIT), each once."""
        if not files:
            return []
        once = table.once if table.may_repeat(files) else ""
        sql = f"SELECT * FROM read_parquet($files, union_by_name = true) {where} {once} {order}"
        rows = self.lake.query(sql, {**params, "files": files})
        for row in rows:
            for key in ("values", "matches"):
                if isinstance(row.get(key), str):
                    row[key] = json.loads(row[key])
        return rows

    def _append(self, relative: str, rows: Sequence[dict[str, Any]], schema: dict[str, str]) -> None:
        self.lake.write_rows(relative, rows, schema)


def _newest_run_files(paths: list[str], limit: int) -> list[str]:
    """The newest of a scanner's run files that hold its latest `limit` runs.

    A run's file is named by its id (`run_`, its start in nanoseconds, randomness: ids sort as
    the runs started), a merged file by the newest run id it holds and `~`, which sorts after
    every character of an id and after `.`: so a day's merged file sorts after each run of its
    day and before each run of a later day (ids of one length differ within their length). Once
    a compaction is done, every file holds at least one run, and the files hold disjoint ranges
    of runs in the order of their names (today's files a run each, an earlier day's file all of
    its runs), so the newest `limit` files hold at least `limit` runs, each newer than every run
    in an older file: they hold the latest `limit` runs.

    While a day's merged file is beside other files of its day (a compaction under way, or one
    killed before its deletes), those sort below it, so a walk newest first meets them after it,
    and they hold no run it lacks (a day is merged once no run of it can still come:
    scanning.handlers.SIGNAL_LOG_SETTLE). They are read, their repeats dropped, but not counted:
    the files counted then hold disjoint ranges, and the argument above holds again."""
    chosen: list[str] = []
    merged_days: set[date | None] = set()
    counted = 0
    for path in sorted(paths, reverse=True):
        if counted == limit:
            break
        chosen.append(path)
        day = _run_day(path)
        if day in merged_days:
            continue
        counted += 1
        if _is_merged(path):
            merged_days.add(day)
    return chosen
