"""The lake's heavy queries run at once on cursors of its one DuckDB connection, as the local
server's handler threads run them, and each answers as it does alone.

DuckDB 1.5.5 failed now and then on a window query (`count(*) OVER ()`) with several cursors at
work ("Attempted to access index 0 within vector of size 0"), a fatal error after which every
query of the process failed (commit 6d52bf9, test_ingest_shortcuts). These tests put the lake's
other windows and heavy scans under the same load, mixed with the writes that really happen
beside them: newest-wins reads (the QUALIFY window and the anti-joins), split-adjusted reads
(lag and product windows), reads while ingesting and while compacting, rollup reads while a
compaction writes the rollups, snapshot rebuilds (a top-n aggregate and the newest-wins window)
and the signal log's reads (which drop repeats through a window) while its compaction runs.
Each test ends with one more read, which fails if DuckDB invalidated the database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.contract.test_analytics_lake import as_dict
from tests.contract.test_analytics_lake import bars as daily_bars
from tests.contract.test_bar_lake import QUARTER, READS, columns, everything
from tests.contract.test_corporate_actions_lake import split
from tests.contract.test_signal_lake import TODAY, reads, seed
from trading_system.adapters.analytics_lake import AnalyticsLake
from trading_system.adapters.lake import ParquetLake
from trading_system.adapters.signal_lake import SignalLake
from trading_system.config import load_settings
from trading_system.kernel.clock import sortable_id
from trading_system.market_data.bar_batch import BarColumns, BarSeries
from trading_system.market_data.domain import ActionKind, Adjustment, CorporateAction, Timeframe

THREADS = 4
ROUNDS = 12  # each reader's rounds of its reads; a stress run outside the suite sets more
START, END = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
MARCH = datetime(2024, 3, 4, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> ParquetLake:
    return ParquetLake.from_settings(load_settings(data_dir=tmp_path))


def at_once(*work: Callable[[], None]) -> list[str]:
    """Run each callable in a thread of its own, started together; what any of them raised."""
    failures: list[str] = []
    ready = threading.Barrier(len(work))

    def guarded(job: Callable[[], None]) -> None:
        try:
            ready.wait()
            job()
        except Exception as error:  # what the thread saw, reported by the test
            failures.append(f"{type(error).__name__}: {str(error)[:300]}")

    threads = [threading.Thread(target=guarded, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return failures


def same(got: BarSeries, want: BarSeries) -> bool:
    return len(got) > 0 and all(
        np.array_equal(a, b) for a, b in zip(astuple(got), astuple(want), strict=True)
    )


def as_batch(series: BarSeries, symbol: str) -> BarColumns:
    """A symbol's bars as read, to write again: a re-ingestion that changes no answer."""
    n = len(series)
    return BarColumns(
        row=np.arange(1, n + 1, dtype=np.int64),
        symbols=(symbol,),
        symbol_code=np.zeros(n, dtype=np.int64),
        ts_us=series.ts_us.copy(),
        ts_valid=np.ones(n, dtype=np.bool_),
        open=series.open.copy(),
        high=series.high.copy(),
        low=series.low.copy(),
        close=series.close.copy(),
        volume=series.volume.copy(),
    )


# -- newest-wins reads --------------------------------------------------------------------------

BarRead = Callable[[ParquetLake], BarSeries]
BAR_READS: dict[str, BarRead] = {
    "AAA 1m": lambda lake: everything(lake, "AAA", Timeframe.M1),
    "BBB 1m": lambda lake: everything(lake, "BBB", Timeframe.M1),
    "AAA 1h from 1m": lambda lake: everything(lake, "AAA", Timeframe.H1, Timeframe.M1),
    "AAA 1d from 1m, split-adjusted": lambda lake: lake.bars(
        "AAA", Timeframe.D1, START, END, 10**6, Timeframe.M1, adjustment=Adjustment.SPLIT
    ),
    # BBB's only action is a dividend: the split windows run over no rows.
    "BBB 1h from 1m, split-adjusted": lambda lake: lake.bars(
        "BBB", Timeframe.H1, START, END, 10**6, Timeframe.M1, adjustment=Adjustment.SPLIT
    ),
    "AAA 1m, April": lambda lake: lake.bars(
        "AAA", Timeframe.M1, datetime(2024, 4, 1, tzinfo=UTC), END, 10**6, Timeframe.M1
    ),
}


def mixed_lake(lake: ParquetLake) -> dict[str, BarSeries]:
    """AAA and BBB's 1m bars over March and half of April, each read the ways a lake keeps the
    newest ingestion's bar: March through the window (a compacted file holding ingestions 0001 and
    0003, a fresh file of 0002 between them), April through an anti-join (compacted 0001, fresh
    0004); with a split of AAA and a dividend of BBB. The single-threaded answer of each of
    BAR_READS."""
    lake.write(
        columns(["AAA", "BBB"], 30_000, timedelta(minutes=2), seed=1, start=MARCH), Timeframe.M1, "0001"
    )
    later = MARCH + timedelta(days=2)
    lake.write(
        columns(["AAA", "BBB"], 5_000, timedelta(minutes=1), seed=3, start=later), Timeframe.M1, "0003"
    )
    lake.compact(Timeframe.M1)
    between = MARCH + timedelta(days=1)
    lake.write(columns(["AAA"], 8_000, timedelta(minutes=1), seed=2, start=between), Timeframe.M1, "0002")
    april = datetime(2024, 4, 3, tzinfo=UTC)
    lake.write(
        columns(["AAA", "BBB"], 3_000, timedelta(minutes=3), seed=4, start=april), Timeframe.M1, "0004"
    )
    lake.write_corporate_actions("AAA", [split("AAA", date(2024, 3, 20), "4")], sortable_id())
    dividend = CorporateAction(
        symbol="BBB",
        kind=ActionKind.CASH_DIVIDEND,
        ex_date=date(2024, 3, 20),
        amount=Decimal(1),
        currency="USD",
    )
    lake.write_corporate_actions("BBB", [dividend], sortable_id())
    answers = {name: read(lake) for name, read in BAR_READS.items()}
    assert all(len(answer) > 0 for answer in answers.values())
    return answers


def reading(lake: ParquetLake, answers: dict[str, BarSeries], failures: list[str], rounds: int) -> None:
    """Each of BAR_READS, `rounds` times, every answer not the single-threaded one noted."""
    for _ in range(rounds):
        for name, read in BAR_READS.items():
            if not same(read(lake), answers[name]):
                failures.append(f"{name}: another answer")


def test_newest_wins_reads_at_once_answer_as_alone(lake: ParquetLake) -> None:
    answers = mixed_lake(lake)
    wrong: list[str] = []
    failures = at_once(*[lambda: reading(lake, answers, wrong, ROUNDS)] * THREADS)
    assert failures + wrong == []
    assert same(BAR_READS["AAA 1m"](lake), answers["AAA 1m"])


def test_reads_while_ingesting_answer_as_alone_and_the_writer_reads_its_own_bars(lake: ParquetLake) -> None:
    # Each ingestion re-writes CCC's March (every bar, new prices: it shadows the older files)
    # beside the files the readers read; AAA and BBB's answers stay what they were.
    answers = mixed_lake(lake)
    wrong: list[str] = []

    def ingest() -> None:
        for k in range(ROUNDS // 2):
            batch = columns(["CCC"], 3_000, timedelta(minutes=5), seed=10 + k, start=MARCH)
            lake.write(batch, Timeframe.M1, sortable_id())
            got = everything(lake, "CCC", Timeframe.M1)
            if not np.array_equal(got.close, batch.close):
                wrong.append(f"CCC after ingestion {k}: not its bars")

    failures = at_once(ingest, *[lambda: reading(lake, answers, wrong, ROUNDS // 2)] * (THREADS - 1))
    assert failures + wrong == []
    assert same(BAR_READS["AAA 1m"](lake), answers["AAA 1m"])
    assert len(lake.committed_ingest_files(Timeframe.M1)) == 2 + ROUNDS // 2


def test_reads_while_ingesting_and_compacting_answer_as_alone(lake: ParquetLake) -> None:
    # A read that listed a file a compaction then merged away lists again (ParquetLake.bars):
    # every answer is the one it gives alone, never one with files missing. One thread re-ingests
    # AAA's bars as they read (new ids, the same answers: each ingestion shadows the older
    # files), another compacts after each ingestion, while the next one is written.
    answers = mixed_lake(lake)
    wrong: list[str] = []
    ingested = threading.Semaphore(0)
    done = threading.Event()
    ingestions = ROUNDS // 3

    def ingest() -> None:
        for _ in range(ingestions):
            lake.write(as_batch(answers["AAA 1m"], "AAA"), Timeframe.M1, sortable_id())
            ingested.release()

    def compact() -> None:
        try:
            for _ in range(ingestions):
                assert ingested.acquire(timeout=60)
                lake.compact(Timeframe.M1)
        finally:
            done.set()

    def read_until_done() -> None:
        while not done.is_set():
            for name, read in BAR_READS.items():
                if not same(read(lake), answers[name]):
                    wrong.append(f"{name}: another answer")

    failures = at_once(ingest, compact, *[read_until_done] * (THREADS - 2))
    assert failures + wrong == []
    lake.compact(Timeframe.M1)
    assert lake.committed_ingest_files(Timeframe.M1) == []
    for name, read in BAR_READS.items():
        assert same(read(lake), answers[name]), name


# -- rollups: long reads answered from `~15m.rollup`, `~1h.rollup` and `~1d.rollup` files ---------


def rollup_reads(lake: ParquetLake) -> dict[tuple[str, str], BarSeries]:
    return {
        (name, symbol): lake.bars(symbol, tf, start, end, 10**6, Timeframe.M1)
        for name, (tf, start, end) in READS.items()
        for symbol in ("AAA", "BBB")
    }


def test_rollup_reads_at_once_while_a_compaction_writes_the_rollups(lake: ParquetLake) -> None:
    lake.write(
        columns(["AAA", "BBB"], 91 * 96, timedelta(minutes=15), seed=3, start=QUARTER), Timeframe.M1, "0001"
    )
    lake.compact(Timeframe.M1, rollup_budget_s=0)  # compacted, not yet rolled up: reads resample
    answers = rollup_reads(lake)
    wrong: list[str] = []

    def read(rounds: int) -> None:
        for _ in range(rounds):
            for key, got in rollup_reads(lake).items():
                if not same(got, answers[key]):
                    wrong.append(f"{key}: another answer")

    def roll_up_then_read() -> None:
        assert lake.compact(Timeframe.M1).rollups_written == 18  # 2 symbols x 3 months x 3
        read(ROUNDS // 3)

    failures = at_once(roll_up_then_read, *[lambda: read(ROUNDS // 3)] * (THREADS - 1))
    assert failures + wrong == []
    # Now every whole period is read from its rollups, by every thread at once.
    failures = at_once(*[lambda: read(ROUNDS // 3)] * THREADS)
    assert failures + wrong == []
    assert all(same(got, answers[key]) for key, got in rollup_reads(lake).items())


# -- the snapshot's rebuild: a top-n aggregate per file and symbol, then newest-wins ------------


def test_snapshot_rebuilds_at_once_answer_as_alone_beside_bar_reads(lake: ParquetLake) -> None:
    symbols = [f"S{i:03d}" for i in range(150)]
    lake.write(daily_bars(symbols, list(range(200)), 1), Timeframe.D1, "0001")
    lake.write(daily_bars(symbols[::3], list(range(150, 260)), 2), Timeframe.D1, "0002")
    lake.compact(Timeframe.D1)
    lake.write(daily_bars(symbols[::2], list(range(240, 300)), 3), Timeframe.D1, "0003")
    lake.write(daily_bars(symbols[:40], list(range(100, 120)), 4), Timeframe.D1, "0004")
    keep = 50

    def rebuilt(folder: str) -> dict[str, list[tuple[int, float]]]:
        return as_dict(AnalyticsLake(lake)._rebuild(Timeframe.D1, folder, keep, []))

    answer = rebuilt("snapshots/alone")
    assert len(answer) == 150 and all(len(bars) == keep for bars in answer.values())
    series = everything(lake, "S000", Timeframe.D1)
    wrong: list[str] = []

    def rebuild_and_read(n: int) -> None:
        for k in range(ROUNDS // 3):
            if rebuilt(f"snapshots/thread{n}_{k}") != answer:
                wrong.append(f"rebuild {n}/{k}: another answer")
            if not same(everything(lake, "S000", Timeframe.D1), series):
                wrong.append(f"S000 in thread {n}: another answer")

    failures = at_once(*[lambda n=n: rebuild_and_read(n) for n in range(THREADS)])
    assert failures + wrong == []
    assert rebuilt("snapshots/after") == answer


# -- the signal log: reads drop the repeats of a day in two files, through a window -------------


def test_signal_log_reads_at_once_while_its_compaction_runs_answer_as_alone(
    lake: ParquetLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each round puts back the files of the days that are over beside their merged files, as a
    # compaction killed before its deletes leaves them (every read then drops repeats), and
    # compacts them again while the readers read.
    log = SignalLake(lake)
    seed(log)
    answers = reads(log)
    root = Path(lake.root)
    originals = {path: Path(path).read_bytes() for path in lake.files.list_files("")}
    with monkeypatch.context() as killed:
        killed.setattr(lake.files, "delete", lambda paths: None)
        log.compact(TODAY, 60.0)
    assert reads(log) == answers
    done = threading.Event()
    wrong: list[str] = []
    # Compactions come one per pass of every reader, not back to back: a read gives up after
    # three listings that each lost a file to a compaction (duck.listed_again_if_compacted),
    # which nightly compactions never do, but a loop of them could on a loaded machine.
    passes = threading.Condition()
    passes_done = [0]

    def put_back() -> None:
        for path, data in originals.items():
            if not Path(path).exists():
                staged = root / "_staging" / f"t{sortable_id()}"
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_bytes(data)
                staged.replace(path)

    def compact_again_and_again() -> None:
        try:
            for _ in range(ROUNDS // 3):
                with passes:
                    wanted = passes_done[0] + THREADS - 1
                    assert passes.wait_for(lambda n=wanted: passes_done[0] >= n, timeout=60)
                put_back()
                assert log.compact(TODAY, 60.0).days == 2
        finally:
            done.set()

    def read_until_done() -> None:
        while not done.is_set():
            if reads(log) != answers:
                wrong.append("another answer")
            with passes:
                passes_done[0] += 1
                passes.notify_all()

    failures = at_once(compact_again_and_again, *[read_until_done] * (THREADS - 1))
    assert failures + wrong == []
    assert reads(log) == answers
