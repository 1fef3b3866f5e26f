"""The signal log in the lake, in a local folder and on S3 (moto's server): what reads open.
Both signals and scan runs grow by a file per scan, so a read must open only the files that can
answer it; a file that cannot be read stands for one that is too costly to (it must stay closed).
Compaction merges the files of the days that are over, and no read, before, during or after it,
returns anything else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.aws_fixtures import boto_client, unique_name
from tests.fakes.signal_log import run_row as run
from tests.fakes.signal_log import signal_row as signal
from trading_system.adapters.lake import ParquetLake
from trading_system.adapters.signal_lake import MERGED, SignalLake
from trading_system.config import load_settings
from trading_system.kernel.clock import sortable_id
from trading_system.scanning.ports import SignalLogCompaction

DAY = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


class LogUnderTest:
    def __init__(self, log: SignalLake, put: Any):
        self.log = log
        self.put = put  # (relative path, bytes) -> None: a file dropped into the lake as is


@pytest.fixture(params=["local", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogUnderTest]:
    if request.param == "local":
        lake = ParquetLake.from_settings(load_settings(data_dir=tmp_path))

        def put_local(relative: str, data: bytes) -> None:
            path = Path(lake.root) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        yield LogUnderTest(SignalLake(lake), put_local)
        return
    url = request.getfixturevalue("moto_url")
    s3 = boto_client("s3", url)
    bucket = unique_name("signals")
    s3.create_bucket(Bucket=bucket)
    lake = ParquetLake.from_settings(
        load_settings(data_dir=tmp_path, lake_root=f"s3://{bucket}/data", aws_endpoint_url=url)
    )
    yield LogUnderTest(
        SignalLake(lake),
        lambda relative, data: s3.put_object(Bucket=bucket, Key=f"data/{relative}", Body=data),
    )


def test_signals_since_a_time_read_only_the_days_from_it_on(subject: LogUnderTest) -> None:
    for days in range(3):
        subject.log.append_signals([signal(DAY + timedelta(days=days), symbol=f"S{days}")])
    # A file of the 24th that cannot be read: a read since the 25th must not open it.
    subject.put("signals/date=2026-11-24/broken.parquet", b"not parquet")
    since = DAY + timedelta(hours=10)  # the 25th, 00:30 UTC
    found = subject.log.signals(None, None, since, 10)
    assert [s["symbol"] for s in found] == ["S2", "S1"]
    # The same instant in New York is still the 24th there: the days are UTC's.
    assert subject.log.signals(None, None, since.astimezone(timezone(timedelta(hours=-5))), 10) == found
    with pytest.raises(Exception, match="broken"):
        subject.log.signals(None, None, None, 10)  # without a since, every day is read


def test_a_scanners_latest_runs_read_only_its_newest_run_files(subject: LogUnderTest) -> None:
    started = [DAY + timedelta(minutes=m) for m in (0, 1, 2, 3, 4)]
    for at in started[1:]:
        subject.log.append_run(run(at))
    # The oldest run's file, unreadable: the three latest must not need it.
    subject.put(f"scan_runs/scanner_id=scn_1/{run(started[0])['run_id']}.parquet", b"not parquet")
    latest = subject.log.runs("scn_1", 3)
    assert [r["started_at"] for r in latest] == [at.isoformat() for at in reversed(started[2:])]
    assert len(subject.log.runs("scn_1", 4)) == 4
    with pytest.raises(Exception, match="run_"):
        subject.log.runs("scn_1", 5)


# -- compaction ----------------------------------------------------------------------------------

TODAY = date(2026, 11, 26)  # the 24th and the 25th are over, the 26th is not
BUDGET_S = 60.0  # far more than any compaction here takes


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


# Each scanner's runs, a day's first and last ones among them (scn_2 ran once on the 24th).
RUNS_AT = {
    "scn_1": [
        *(at(24, 0), at(24, 9), at(24, 14, 30), at(24, 23, 59, 59)),
        *(at(25, 0), at(25, 12), at(25, 23, 59)),
        *(at(26, 0, 0, 1), at(26, 10)),
    ],
    "scn_2": [at(24, 10), at(25, 1), at(25, 2)],
}
# Each file of signals: when they were detected, and of which scanner (None: Analytics') and symbols.
SIGNAL_FILES: list[tuple[datetime, str | None, tuple[str, ...]]] = [
    (at(24, 9), "scn_1", ("AAA", "BBB")),
    (at(24, 10), "scn_2", ("AAA",)),
    (at(24, 12), None, ("CCC",)),
    (at(25, 1), "scn_2", ("AAA",)),
    (at(25, 12), "scn_1", ("BBB",)),
    (at(25, 23, 59), None, ("CCC",)),
    (at(26, 0, 0, 1), "scn_2", ("BBB",)),
    (at(26, 10), "scn_1", ("AAA",)),
]
# What a compaction before TODAY merges: 3 + 3 files of signals, scn_1's 4 + 3 runs, scn_2's 2
# runs of the 25th (its one run of the 24th is in one file already), into 5 files.
FULL_COMPACTION = SignalLogCompaction(days=2, days_left=0, files_merged=15, files_written=5, files_deleted=15)


def seed(log: SignalLake) -> None:
    for detected_at, scanner_id, symbols in SIGNAL_FILES:
        log.append_signals([signal(detected_at, symbol, scanner_id) for symbol in symbols])
    for scanner_id, times in RUNS_AT.items():
        for started_at in times:
            log.append_run(run(started_at, scanner_id))


def reads(log: SignalLake) -> dict[str, list[dict[str, Any]]]:
    """The log's answers to each kind of read: signals with each filter, since several times
    (the days' edges among them), with limits; each scanner's latest runs at every limit."""
    answers = {
        f"since {since}": log.signals(None, None, since, 100)
        for since in (None, at(24, 9, 30), at(25, 0), at(25, 23, 59), at(26, 5))
    }
    answers["newest 3"] = log.signals(None, None, None, 3)
    answers["scn_1's"] = log.signals(["scn_1"], None, None, 100, analytics=False)
    answers["scn_2's and Analytics'"] = log.signals(["scn_2"], None, at(24, 11), 100)
    answers["nobody's scanners"] = log.signals([], None, None, 100)
    answers["BBB, newest 2"] = log.signals(None, "BBB", None, 2)
    for scanner_id, times in RUNS_AT.items():
        for limit in range(1, len(times) + 2):
            answers[f"{scanner_id}'s latest {limit} runs"] = log.runs(scanner_id, limit)
    return answers


def listing(log: SignalLake) -> dict[str, list[str]]:
    """The log's file names by folder."""
    folders: dict[str, list[str]] = {}
    for path in log.lake.files.list_files(""):
        folder, name = path.removeprefix(f"{log.lake.root}/").rsplit("/", 1)
        folders.setdefault(folder, []).append(name)
    return {folder: sorted(names) for folder, names in sorted(folders.items())}


def run_file(started_at: datetime) -> str:
    return f"{run(started_at)['run_id']}.parquet"


def stamp(started_at: datetime) -> str:
    """What the name of a run's file (or of a day's merged runs, its newest's) starts with: its
    run id's time, without its randomness."""
    return f"run_{sortable_id(started_at)[:19]}"


def runs_named(names: list[str]) -> list[tuple[str, bool]]:
    """Each file's run time, and whether it is a merged file."""
    return [(name[: len("run_") + 19], MERGED in name) for name in names]


def assert_compacted(log: SignalLake, before: dict[str, list[str]]) -> None:
    """One file for each day that is over, the day's newest run naming a scanner's, and today's
    files as they were."""
    after = listing(log)
    assert set(after) == set(before)
    for day in ("2026-11-24", "2026-11-25"):
        (merged,) = after[f"signals/date={day}"]
        assert MERGED in merged
    assert after["signals/date=2026-11-26"] == before["signals/date=2026-11-26"]
    assert runs_named(after["scan_runs/scanner_id=scn_1"]) == [
        (stamp(at(24, 23, 59, 59)), True),
        (stamp(at(25, 23, 59)), True),
        (stamp(at(26, 0, 0, 1)), False),
        (stamp(at(26, 10)), False),
    ]
    assert after["scan_runs/scanner_id=scn_1"][2:] == before["scan_runs/scanner_id=scn_1"][-2:]
    single, merged = after["scan_runs/scanner_id=scn_2"]
    assert single == before["scan_runs/scanner_id=scn_2"][0]
    assert runs_named([merged]) == [(stamp(at(25, 2)), True)]


def test_compaction_merges_the_days_that_are_over_and_leaves_todays_files(subject: LogUnderTest) -> None:
    seed(subject.log)
    before = listing(subject.log)
    assert len(before["scan_runs/scanner_id=scn_1"]) == 9
    assert subject.log.compact(TODAY, BUDGET_S) == FULL_COMPACTION
    assert_compacted(subject.log, before)


def test_reads_answer_the_same_after_compaction(subject: LogUnderTest) -> None:
    seed(subject.log)
    before = reads(subject.log)
    assert [r["started_at"] for r in before["scn_1's latest 10 runs"]] == [
        t.isoformat() for t in reversed(RUNS_AT["scn_1"])
    ]
    assert len(before["since None"]) == 9 and len(before["scn_2's and Analytics'"]) == 4
    subject.log.compact(TODAY, BUDGET_S)
    assert reads(subject.log) == before


def test_a_second_compaction_changes_nothing(subject: LogUnderTest) -> None:
    seed(subject.log)
    subject.log.compact(TODAY, BUDGET_S)
    compacted = listing(subject.log)
    assert subject.log.compact(TODAY, BUDGET_S) == SignalLogCompaction(
        days=0, days_left=0, files_merged=0, files_written=0, files_deleted=0
    )
    assert listing(subject.log) == compacted


def test_a_compaction_out_of_time_starts_no_merge_and_says_what_is_left(subject: LogUnderTest) -> None:
    seed(subject.log)
    files = listing(subject.log)
    assert subject.log.compact(TODAY, 0) == SignalLogCompaction(
        days=0, days_left=2, files_merged=0, files_written=0, files_deleted=0
    )
    assert listing(subject.log) == files
    assert subject.log.compact(TODAY, BUDGET_S) == FULL_COMPACTION


def _killed(*args: Any) -> None:
    raise RuntimeError("killed")


def _lost(*args: Any) -> None:
    return None


# Where a compaction dies: writing its first merged file; after it, at the first delete of what
# it merged (the 24th's signals); or deleting nothing at all (each day's merged file then beside
# every file it holds).
KILLS = {
    "at-first-write": ("write_query", _killed),
    "at-first-delete": ("delete", _killed),
    "before-any-delete": ("delete", _lost),
}


@pytest.mark.parametrize("kill", KILLS.values(), ids=KILLS.keys())
def test_a_compaction_killed_part_way_reads_the_same_and_the_next_finishes(
    subject: LogUnderTest, monkeypatch: pytest.MonkeyPatch, kill: tuple[str, Any]
) -> None:
    seed(subject.log)
    before, files = reads(subject.log), listing(subject.log)
    step, effect = kill
    with monkeypatch.context() as patch:
        lake = subject.log.lake
        patch.setattr(lake if step == "write_query" else lake.files, step, effect)
        try:
            subject.log.compact(TODAY, BUDGET_S)
        except RuntimeError:
            assert effect is _killed
    if step == "delete":  # rows in two files: the 24th's signals in its merged file and their own
        signals_of_24th = listing(subject.log)["signals/date=2026-11-24"]
        assert len(signals_of_24th) == 4 and sum(MERGED in name for name in signals_of_24th) == 1
    assert reads(subject.log) == before
    report = subject.log.compact(TODAY, BUDGET_S)
    assert report.days == 2 and report.files_written == 5
    # A day's merged file, or files, are merged again with what is left of the day.
    assert report.files_merged == report.files_deleted >= FULL_COMPACTION.files_merged
    assert_compacted(subject.log, files)
    assert reads(subject.log) == before


def test_a_scanners_latest_runs_across_a_day_boundary_after_compaction(subject: LogUnderTest) -> None:
    """The newest `limit` files hold the latest `limit` runs, a day's merged file among them."""
    started = [at(24, 12), at(25, 23, 58), at(25, 23, 59), at(26, 0, 0), at(26, 0, 1)]
    for started_at in started:
        subject.log.append_run(run(started_at))
    # The 23rd's one run, in a file that cannot be read: no read of fewer files may open it.
    subject.put(f"scan_runs/scanner_id=scn_1/{run_file(at(23, 12))}", b"not parquet")
    assert subject.log.compact(TODAY, BUDGET_S).files_written == 1  # the 25th's two runs
    newest_first = [t.isoformat() for t in reversed(started)]
    for limit in range(1, 5):  # 5 files: the 25th's merged file holds two runs
        assert [r["started_at"] for r in subject.log.runs("scn_1", limit)] == newest_first[:limit]
    with pytest.raises(Exception, match="run_"):
        subject.log.runs("scn_1", 5)


def test_a_read_that_listed_files_a_compaction_deleted_meanwhile_lists_again(
    subject: LogUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(subject.log)
    files = subject.log.lake.files
    listed_before = files.list_files("")
    before = reads(subject.log)
    subject.log.compact(TODAY, BUDGET_S)
    real_list = files.list_files
    stale = {"next": True}

    def listed_before_compaction_once(prefix: str) -> list[str]:
        if stale["next"]:
            stale["next"] = False
            return [path for path in listed_before if path.startswith(f"{subject.log.lake.root}/{prefix}")]
        return real_list(prefix)

    monkeypatch.setattr(files, "list_files", listed_before_compaction_once)
    for read in (
        lambda: subject.log.signals(None, None, None, 100),
        lambda: subject.log.runs("scn_1", 9),
    ):
        stale["next"] = True
        answer = read()
        assert not stale["next"]
        assert answer in (before["since None"], before["scn_1's latest 9 runs"])
