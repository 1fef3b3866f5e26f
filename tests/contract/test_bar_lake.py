"""One contract for the Parquet lake, in a local folder and on S3 (moto's server): the same
DuckDB code must give the same answers on both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.lake import MINOR_MERGE_FILES, ParquetLake, ShadowCheck
from trading_system.config import load_settings
from trading_system.kernel.clock import sortable_id
from trading_system.market_data.bar_batch import BarColumns, BarSeries
from trading_system.market_data.commands import FileFormat
from trading_system.market_data.domain import Timeframe

T0 = datetime(2024, 3, 4, tzinfo=UTC)
US = 1_000_000


class LakeUnderTest:
    def __init__(self, lake: ParquetLake, put_file: Any, list_files: Any):
        self.lake = lake
        self.put_file = put_file  # (name, bytes) -> path the lake can read
        self.list_files = list_files  # () -> list of parquet files in the lake


@pytest.fixture(params=["local", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LakeUnderTest]:
    if request.param == "local":
        lake = ParquetLake.from_settings(load_settings(data_dir=tmp_path))

        def put_local(name: str, data: bytes) -> str:
            path = tmp_path / "inbox" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return str(path)

        yield LakeUnderTest(lake, put_local, lambda: sorted(Path(lake.root).rglob("*.parquet")))
        return
    url = request.getfixturevalue("moto_url")
    s3 = boto_client("s3", url)
    bucket = unique_name("lake")
    s3.create_bucket(Bucket=bucket)
    settings = load_settings(data_dir=tmp_path, lake_root=f"s3://{bucket}/data", aws_endpoint_url=url)
    lake = ParquetLake.from_settings(settings)

    def put_s3(name: str, data: bytes) -> str:
        s3.put_object(Bucket=bucket, Key=f"inbox/{name}", Body=data)
        return f"s3://{bucket}/inbox/{name}"

    def list_s3() -> list[str]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="data/").get("Contents", [])
        return sorted(o["Key"] for o in listed if o["Key"].endswith(".parquet"))

    yield LakeUnderTest(lake, put_s3, list_s3)


def columns(symbols: list[str], n: int, step: timedelta, seed: int = 0, start: datetime = T0) -> BarColumns:
    rng = np.random.default_rng(seed)
    total = n * len(symbols)
    close = np.round(100 + rng.normal(0, 1, total).cumsum(), 4)
    open_ = np.round(close * (1 + rng.normal(0, 0.001, total)), 4)
    ts = int(start.timestamp()) * US + np.tile(
        np.arange(n, dtype=np.int64) * int(step.total_seconds()) * US, len(symbols)
    )
    return BarColumns(
        row=np.arange(1, total + 1, dtype=np.int64),
        symbols=tuple(symbols),
        symbol_code=np.repeat(np.arange(len(symbols), dtype=np.int64), n),
        ts_us=ts,
        ts_valid=np.ones(total, dtype=np.bool_),
        open=open_,
        high=np.maximum(open_, close) + 0.5,
        low=np.minimum(open_, close) - 0.5,
        close=close,
        volume=np.round(rng.uniform(100, 1000, total)),
    )


def of_symbol(batch: BarColumns, symbol: str) -> dict[str, np.ndarray]:
    mask = batch.symbol_code == batch.symbols.index(symbol)
    order = np.argsort(batch.ts_us[mask], kind="stable")
    return {
        name: getattr(batch, name)[mask][order]
        for name in ("ts_us", "open", "high", "low", "close", "volume")
    }


def assert_series(series: BarSeries, expected: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(series, name), values, rtol=1e-12, err_msg=name)


def everything(lake: ParquetLake, symbol: str, tf: Timeframe, source: Timeframe | None = None) -> BarSeries:
    return lake.bars(
        symbol, tf, datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), 10**6, source or tf
    )


def test_written_bars_read_back_exactly(subject: LakeUnderTest) -> None:
    batch = columns(["AAA", "BBB"], 500, timedelta(hours=1))
    written = subject.lake.write(batch, Timeframe.H1, "0001")
    assert written.rows == 1000
    # One fresh file per period, however many symbols: 500 hours from March 4th is one month.
    assert written.files == len(subject.list_files()) == 1
    assert_series(everything(subject.lake, "BBB", Timeframe.H1), of_symbol(batch, "BBB"))


def test_a_symbol_with_no_files_reads_empty(subject: LakeUnderTest) -> None:
    assert len(everything(subject.lake, "NONE", Timeframe.D1)) == 0


def test_resampling_aggregates_ohlcv_per_utc_bucket(subject: LakeUnderTest) -> None:
    batch = columns(["AAA"], 3 * 1440, timedelta(minutes=1), start=T0 + timedelta(hours=13, minutes=7))
    subject.lake.write(batch, Timeframe.M1, "0001")
    daily = everything(subject.lake, "AAA", Timeframe.D1, Timeframe.M1)
    bars = of_symbol(batch, "AAA")
    day = bars["ts_us"] // (86_400 * US)
    starts = np.unique(day)
    assert list(daily.ts_us) == list(starts * 86_400 * US)
    for i, d in enumerate(starts):
        members = day == d
        assert daily.open[i] == bars["open"][members][0]
        assert daily.close[i] == bars["close"][members][-1]
        assert daily.high[i] == bars["high"][members].max()
        assert daily.low[i] == bars["low"][members].min()
        assert daily.volume[i] == pytest.approx(bars["volume"][members].sum())


def test_ranges_are_half_open_and_limits_apply(subject: LakeUnderTest) -> None:
    subject.lake.write(columns(["AAA"], 48, timedelta(hours=1)), Timeframe.H1, "0001")
    start, end = T0 + timedelta(hours=5), T0 + timedelta(hours=9)
    window = subject.lake.bars("AAA", Timeframe.H1, start, end, 100, Timeframe.H1)
    assert list(window.ts_us) == [int((T0 + timedelta(hours=h)).timestamp()) * US for h in range(5, 9)]
    assert len(subject.lake.bars("AAA", Timeframe.H1, start, end, 2, Timeframe.H1)) == 2


def test_the_newest_ingestion_wins_and_compaction_keeps_every_answer(subject: LakeUnderTest) -> None:
    first = columns(["AAA"], 200, timedelta(minutes=1), seed=1)
    second = columns(["AAA"], 50, timedelta(minutes=1), seed=2, start=T0 + timedelta(minutes=100))
    subject.lake.write(first, Timeframe.M1, "0001")
    subject.lake.write(second, Timeframe.M1, "0002")
    expected = of_symbol(first, "AAA")
    replaced = of_symbol(second, "AAA")
    for name in expected:
        expected[name][100:150] = replaced[name]
    assert_series(everything(subject.lake, "AAA", Timeframe.M1), expected)
    hourly_before = everything(subject.lake, "AAA", Timeframe.H1, Timeframe.M1)

    report = subject.lake.compact(None)
    moved = (report.ingest_files_moved, report.partition_files_written, report.rows_moved)
    assert moved == (2, 1, 200)
    assert (report.files_before, report.files_after, report.partitions_merged) == (2, 1, 0)
    assert len(subject.list_files()) == 1
    assert_series(everything(subject.lake, "AAA", Timeframe.M1), expected)
    assert_series(everything(subject.lake, "AAA", Timeframe.H1, Timeframe.M1), hourly_before.__dict__)
    again = subject.lake.compact(None)
    assert (again.rows_moved, again.rows_merged, again.files_before, again.files_after) == (0, 0, 1, 1)


def test_compaction_merges_settled_partitions_with_new_ingests(subject: LakeUnderTest) -> None:
    first = columns(["AAA", "BBB"], 10, timedelta(days=1), seed=1)
    subject.lake.write(first, Timeframe.D1, "0001")
    assert subject.lake.compact(Timeframe.D1).files_after == 2  # one partition per symbol
    later = columns(["AAA", "BBB"], 10, timedelta(days=1), seed=2, start=T0 + timedelta(days=5))
    subject.lake.write(later, Timeframe.D1, "0002")
    expected = {s: everything(subject.lake, s, Timeframe.D1) for s in ("AAA", "BBB")}
    assert len(expected["AAA"]) == 15
    report = subject.lake.compact(Timeframe.D1)
    counts = (report.ingest_files_moved, report.partition_files_written, report.partitions_merged)
    assert counts == (1, 2, 2)
    assert (report.files_before, report.files_after, report.rows_merged) == (3, 2, 30)
    for symbol, series in expected.items():
        assert_series(everything(subject.lake, symbol, Timeframe.D1), series.__dict__)


def test_files_are_parsed_from_the_lakes_storage(subject: LakeUnderTest) -> None:
    path = subject.put_file(
        "bars.csv",
        b"Symbol,Date,Open,High,Low,Close,Volume\naaa,2024-01-02,1,2,0.5,1.5,10\nAAA,2024-01-03,1,x,0.5,1.5,10\n",
    )
    parsed = subject.lake.read(path, FileFormat.CSV, Timeframe.D1, None)
    assert parsed.columns.symbols == ("AAA",)
    assert [(p.row, p.field, p.value) for p in parsed.problems] == [(2, "high", "x")]
    assert parsed.columns.ts_us[0] == int(datetime(2024, 1, 2, tzinfo=UTC).timestamp()) * US


def test_local_writes_leave_nothing_half_done(tmp_path: Path) -> None:
    lake = ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    lake.write(columns(["AAA"], 10, timedelta(days=1)), Timeframe.D1, "0001")
    staging = Path(lake.root) / "_staging"
    assert not staging.exists() or not any(staging.rglob("*"))


class WriterDied(BaseException):
    """Stands for the process dying: nothing after it runs."""


def test_an_ingestion_without_its_commit_record_is_never_read_and_compaction_removes_it(
    subject: LakeUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = columns(["AAA"], 48, timedelta(hours=1), seed=1)
    subject.lake.write(kept, Timeframe.H1, sortable_id())
    # Two months of hours for two symbols: the dead batch spans several files.
    dead = columns(["AAA", "BBB"], 24 * 45, timedelta(hours=1), seed=2)

    def die(relative: str, text: str) -> None:
        raise WriterDied  # between the last data file and the commit record

    monkeypatch.setattr(subject.lake.files, "write_text", die)
    with pytest.raises(WriterDied):
        subject.lake.write(dead, Timeframe.H1, sortable_id())
    monkeypatch.undo()
    orphans = len(subject.list_files()) - 1
    assert orphans >= 2

    def readable() -> dict[str, int]:
        return {s: len(everything(subject.lake, s, Timeframe.H1)) for s in ("AAA", "BBB")}

    assert_series(everything(subject.lake, "AAA", Timeframe.H1), of_symbol(kept, "AAA"))
    assert readable() == {"AAA": 48, "BBB": 0}
    assert len(subject.lake.committed_ingest_files(Timeframe.H1)) == 1  # what snapshots read
    # A later ingestion into the same range does not make the dead batch's rows readable...
    later = columns(["BBB"], 5, timedelta(hours=1), seed=3, start=T0 + timedelta(days=10))
    subject.lake.write(later, Timeframe.H1, sortable_id())
    assert readable() == {"AAA": 48, "BBB": 5}
    # ...nor does a compaction within the grace, which leaves the young orphans where they are...
    report = subject.lake.compact(Timeframe.H1)
    assert (report.ingest_files_moved, report.orphan_files_removed) == (2, 0)
    assert readable() == {"AAA": 48, "BBB": 5}
    assert len(subject.list_files()) == report.files_after == orphans + 2
    # ...and once they are older than the grace, compaction deletes them.
    subject.lake.orphan_grace_s = 0
    report = subject.lake.compact(Timeframe.H1)
    assert (report.orphan_files_removed, report.files_after) == (orphans, 2)
    assert len(subject.list_files()) == 2
    assert readable() == {"AAA": 48, "BBB": 5}
    assert_series(everything(subject.lake, "AAA", Timeframe.H1), of_symbol(kept, "AAA"))


def test_a_record_without_files_is_removed_by_compaction(subject: LakeUnderTest) -> None:
    """A compaction that died after moving an ingestion's files but before deleting its commit
    record leaves the record alone: the next compaction deletes it and reads nothing from it."""
    ingest_id = sortable_id()
    subject.lake.write(columns(["AAA"], 10, timedelta(days=1)), Timeframe.D1, ingest_id)
    subject.lake.compact(Timeframe.D1)
    subject.lake.files.write_text(f"ingests/timeframe=1d/_commits/{ingest_id}.json", "{}")
    report = subject.lake.compact(Timeframe.D1)
    assert (report.ingest_files_moved, report.files_before, report.files_after) == (0, 1, 1)
    records, files = subject.lake.files.list_ingests("ingests/timeframe=1d/")
    assert (records, files) == ([], [])
    assert len(everything(subject.lake, "AAA", Timeframe.D1)) == 10


# -- shadow markers: a re-ingestion that holds every bar of an older file --------------------------


def markers(lake: ParquetLake, symbol: str = "AAA", tf: Timeframe = Timeframe.M1) -> list[str]:
    """The symbol's shadow markers, as `period=<period>/<marker name>`."""
    listed = lake.files.list_partition(f"bars/timeframe={tf.value}/symbol={symbol}/").markers
    return sorted("/".join(m.rsplit("/", 2)[-2:]) for m in listed)


def files_read(lake: ParquetLake, symbol: str = "AAA", tf: Timeframe = Timeframe.M1) -> list[str]:
    """The files a read of everything would open, as `<period>/<file name>`."""
    far = lake._files_to_read(symbol, tf, "0000", "9999")
    return sorted(
        f"{period}/{f.path.rsplit('/', 1)[-1]}" for period, files in far.periods.items() for f in files
    )


# 40 minutes before a month's end: 1m bars from here on span two periods.
MONTH_END = datetime(2024, 3, 31, 23, 20, tzinfo=UTC)


def compacted_month_end(lake: ParquetLake, ingest_id: str = "0001") -> BarColumns:
    """80 1m bars of AAA across a month end, written and compacted; markers proven from 10 bars."""
    lake.shadow_check = ShadowCheck(min_rows=10)
    first = columns(["AAA"], 80, timedelta(minutes=1), seed=1, start=MONTH_END)
    lake.write(first, Timeframe.M1, ingest_id)
    lake.compact(Timeframe.M1)
    return first


def test_a_whole_re_ingestion_shadows_the_compacted_files_until_compaction(subject: LakeUnderTest) -> None:
    lake = subject.lake
    compacted_month_end(lake)
    assert markers(lake) == []
    # The vendor's corrected file: the same bars with other prices, and 20 more.
    second = columns(["AAA"], 100, timedelta(minutes=1), seed=2, start=MONTH_END)
    lake.write(second, Timeframe.M1, "0002")
    assert sorted(m.split("~")[1] for m in markers(lake)) == ["0002.shadowed"] * 2  # one per period
    assert files_read(lake) == ["2024-03/0002_0~AAA.parquet", "2024-04/0002_0~AAA.parquet"]
    assert_series(everything(lake, "AAA", Timeframe.M1), of_symbol(second, "AAA"))
    hourly = everything(lake, "AAA", Timeframe.H1, Timeframe.M1)
    # Compaction merges the shadowed files away, and their markers with them.
    report = lake.compact(Timeframe.M1)
    assert (report.partitions_merged, report.files_after) == (2, 2)
    assert markers(lake) == []
    assert_series(everything(lake, "AAA", Timeframe.M1), of_symbol(second, "AAA"))
    assert_series(everything(lake, "AAA", Timeframe.H1, Timeframe.M1), hourly.__dict__)


def test_no_marker_when_an_older_bar_is_missing_or_the_older_file_holds_a_newer_id(
    subject: LakeUnderTest,
) -> None:
    lake = subject.lake
    first = compacted_month_end(lake, "0005")
    # One bar short of the first (its last, in April): only March's file is shadowed.
    short = columns(["AAA"], 79, timedelta(minutes=1), seed=2, start=MONTH_END)
    lake.write(short, Timeframe.M1, "0006")
    assert [m.split("/")[0] for m in markers(lake)] == ["period=2024-03"]
    expected = of_symbol(short, "AAA")
    last = of_symbol(first, "AAA")
    expected = {name: np.append(values, last[name][-1]) for name, values in expected.items()}
    assert_series(everything(lake, "AAA", Timeframe.M1), expected)
    # Every bar again, but under an id older than the compacted files': the reads keep theirs.
    lake.write(columns(["AAA"], 80, timedelta(minutes=1), seed=3, start=MONTH_END), Timeframe.M1, "0004")
    assert [m.split("/")[0] for m in markers(lake)] == ["period=2024-03"]
    assert_series(everything(lake, "AAA", Timeframe.M1), expected)


def test_a_marker_counts_only_once_its_ingestion_committed(subject: LakeUnderTest) -> None:
    lake = subject.lake
    first = compacted_month_end(lake)
    lake.write(columns(["AAA"], 80, timedelta(minutes=1), seed=2, start=MONTH_END), Timeframe.M1, "0002")
    assert len(markers(lake)) == 2
    # The writer died before its commit record: the markers are there, and change nothing.
    records, _ = lake.files.list_ingests("ingests/timeframe=1m/")
    lake.files.delete(records)
    assert [name.split("/")[1].startswith("d") for name in files_read(lake)] == [True, True]
    assert_series(everything(lake, "AAA", Timeframe.M1), of_symbol(first, "AAA"))


def test_an_older_ingest_file_is_shadowed_for_the_re_ingested_symbol_only(subject: LakeUnderTest) -> None:
    lake = subject.lake
    lake.shadow_check = ShadowCheck(min_rows=10)
    both = columns(["AAA", "BBB"], 30, timedelta(minutes=1), seed=1, start=MONTH_END)
    lake.write(both, Timeframe.M1, "0001")
    again = columns(["AAA"], 30, timedelta(minutes=1), seed=2, start=MONTH_END)
    lake.write(again, Timeframe.M1, "0002")  # before any compaction: fresh files only
    assert files_read(lake, "AAA") == ["2024-03/0002_0~AAA.parquet"]
    # BBB's read opens the file of both symbols, not the one named for AAA alone.
    assert files_read(lake, "BBB") == ["2024-03/0001_0.parquet"]
    assert_series(everything(lake, "AAA", Timeframe.M1), of_symbol(again, "AAA"))
    assert_series(everything(lake, "BBB", Timeframe.M1), of_symbol(both, "BBB"))
    lake.compact(Timeframe.M1)
    assert markers(lake) == [] and markers(lake, "BBB") == []
    assert_series(everything(lake, "AAA", Timeframe.M1), of_symbol(again, "AAA"))
    assert_series(everything(lake, "BBB", Timeframe.M1), of_symbol(both, "BBB"))


def test_a_read_opens_no_other_symbols_ingest_file_of_one_symbol(subject: LakeUnderTest) -> None:
    """A day of per-symbol pulls is thousands of fresh files: a read of one symbol opens its own
    and those of several symbols, never one named for another symbol (a pair's included)."""
    lake = subject.lake
    many = columns(["AAA", "BBB"], 30, timedelta(minutes=1), seed=1, start=T0)
    lake.write(many, Timeframe.M1, "0001")
    own = {}
    for n, symbol in enumerate(["AAA", "BBB", "BTC/USD", "AAA.B"], start=2):
        own[symbol] = columns([symbol], 40, timedelta(minutes=1), seed=n, start=T0 + timedelta(minutes=10))
        lake.write(own[symbol], Timeframe.M1, f"000{n}")
    assert files_read(lake, "AAA") == ["2024-03/0001_0.parquet", "2024-03/0002_0~AAA.parquet"]
    assert files_read(lake, "BTC/USD") == ["2024-03/0001_0.parquet", "2024-03/0004_0~BTC%2FUSD.parquet"]
    assert files_read(lake, "AAA.B") == ["2024-03/0001_0.parquet", "2024-03/0005_0~AAA.B.parquet"]
    assert files_read(lake, "CCC") == ["2024-03/0001_0.parquet"]
    for symbol in ("AAA", "BBB"):  # the first 10 minutes from 0001, the rest from the newer file
        first = of_symbol(many, symbol)
        newer = of_symbol(own[symbol], symbol)
        expected = {name: np.concatenate([first[name][:10], newer[name]]) for name in newer}
        assert_series(everything(lake, symbol, Timeframe.M1), expected)
    for symbol in ("BTC/USD", "AAA.B"):
        assert_series(everything(lake, symbol, Timeframe.M1), of_symbol(own[symbol], symbol))
    lake.compact(Timeframe.M1)  # the named files move to their symbols' partitions as any other
    assert lake.committed_ingest_files(Timeframe.M1) == []
    for symbol in ("BTC/USD", "AAA.B"):
        assert_series(everything(lake, symbol, Timeframe.M1), of_symbol(own[symbol], symbol))


def test_minor_compactions_keep_a_live_feeds_partition_to_a_few_files(subject: LakeUnderTest) -> None:
    """Through the day a bar a minute (and now and then a correction of an older one) is one
    ingest file each; the minor compaction of every few minutes moves them into the partition and,
    once it holds more than MINOR_MERGE_FILES, merges all but its oldest (the nightly's, whose
    rollups stay). Every read equals the newest bar of each minute written so far."""
    lake = subject.lake
    feed = Timeframe.M1
    base = columns(["AAA", "BBB"], 600, timedelta(minutes=1), seed=1, start=T0)
    lake.write(base, feed, sortable_id())
    lake.compact(feed)  # last night's
    partition = "bars/timeframe=1m/symbol=AAA/"
    [nightly] = lake.files.list_partition(partition).files
    rollups = lake.files.list_partition(partition).rollups
    assert rollups
    newest = {int(ts): row for ts, *row in zip(*of_symbol(base, "AAA").values(), strict=True)}
    most = 0
    for minute in range(1, 31):
        at = T0 + timedelta(minutes=600 + minute)
        if minute % 7 == 0:  # a correction of a bar from earlier in the day
            at = T0 + timedelta(minutes=590 + minute)
        bar = columns(["AAA"], 1, timedelta(minutes=1), seed=100 + minute, start=at)
        lake.write(bar, feed, sortable_id())
        newest.update({int(ts): row for ts, *row in zip(*of_symbol(bar, "AAA").values(), strict=True)})
        if minute % 3 == 0:  # the schedule fires
            report = lake.compact(feed, minor=True)
            assert report.ingest_files_moved == 3 and lake.committed_ingest_files(feed) == []
            listed = lake.files.list_partition(partition)
            assert nightly in listed.files and listed.rollups == rollups
            most = max(most, len(listed.files))
        ordered = sorted(newest)
        expected = {"ts_us": np.array(ordered, dtype=np.int64)}
        for i, name in enumerate(("open", "high", "low", "close", "volume")):
            expected[name] = np.array([newest[ts][i] for ts in ordered])
        assert_series(everything(lake, "AAA", feed), expected)
    assert most == MINOR_MERGE_FILES  # it got there, and never past it
    assert len(lake.files.list_partition("bars/timeframe=1m/symbol=BBB/").files) == 1  # nothing new


def test_a_compaction_lists_each_timeframes_partitions_once(
    subject: LakeUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 a listing is a request per 1,000 files, and the minor compaction runs 144 times a
    day: one listing of the partitions per timeframe, kept up to date through the merges."""
    lake = subject.lake
    for n in range(7):  # one-bar ingests, each moved by a minor compaction: four files left
        lake.write(
            columns(["AAA"], 1, timedelta(minutes=1), seed=n, start=T0 + timedelta(minutes=n)),
            Timeframe.M1,
            sortable_id(),
        )
        lake.compact(Timeframe.M1, minor=True)
    listings: list[str] = []
    for name in ("list_files", "list_partition"):
        method = getattr(lake.files, name)

        def counted(prefix: str, method: Any = method) -> Any:
            if prefix.startswith("bars/"):  # (the local folder lists its ingests with list_files)
                listings.append(prefix)
            return method(prefix)

        monkeypatch.setattr(lake.files, name, counted)
    lake.write(
        columns(["AAA"], 1, timedelta(minutes=1), seed=9, start=T0 + timedelta(minutes=9)),
        Timeframe.M1,
        sortable_id(),
    )
    report = lake.compact(Timeframe.M1, minor=True)
    assert (report.ingest_files_moved, report.partitions_merged) == (1, 1)
    assert listings == ["bars/timeframe=1m/"]
    listings.clear()
    idle = lake.compact(Timeframe.M1, minor=True)  # nothing ingested since: no listing at all
    assert listings == [] and (idle.files_before, idle.files_after, idle.partitions_merged) == (0, 0, 0)
    full = lake.compact(Timeframe.M1)  # what the minor one kept up to date is what is there
    assert listings == ["bars/timeframe=1m/"]
    assert (full.files_before, full.files_after) == (report.files_after, 1)
    assert len(everything(lake, "AAA", Timeframe.M1)) == 8


def test_a_compacted_files_ingest_ids_are_read_from_its_footer_once(
    subject: LakeUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read of a period in several files orders them by their ingest ids, which a compacted
    file's footer holds: read once per file (files never change), not on every read."""
    lake = subject.lake
    compacted_month_end(lake)
    read: list[list[str]] = []
    footers = lake._footer_ingest_ids

    def counted(paths: list[str]) -> dict[str, tuple[str, str] | None]:
        read.append([p.rsplit("/", 2)[-2] for p in paths])
        return footers(paths)

    monkeypatch.setattr(lake, "_footer_ingest_ids", counted)
    lake.write(
        columns(["AAA"], 5, timedelta(minutes=1), seed=2, start=MONTH_END), Timeframe.M1, sortable_id()
    )
    first = everything(lake, "AAA", Timeframe.M1)
    assert read == [["period=2024-03"]]  # March's file: the new bars lie in March only
    assert_series(everything(lake, "AAA", Timeframe.M1), first.__dict__)
    assert len(read) == 1
    lake.compact(Timeframe.M1)  # March's file replaced: the next read reads the new one's footer
    lake.write(
        columns(["AAA"], 5, timedelta(minutes=1), seed=3, start=MONTH_END), Timeframe.M1, sortable_id()
    )
    everything(lake, "AAA", Timeframe.M1)
    assert read == [["period=2024-03"], ["period=2024-03"]]


def test_small_batches_and_many_symbols_prove_nothing(subject: LakeUnderTest) -> None:
    """The proof reads the older files: not for a few bars (a pull's latest minutes), nor for a
    batch of more symbols than `max_symbols` (a day's bars of a whole exchange)."""
    lake = subject.lake
    lake.shadow_check = ShadowCheck(min_rows=20, max_symbols=2)
    lake.write(
        columns(["AAA", "BBB", "CCC"], 30, timedelta(minutes=1), seed=1, start=T0), Timeframe.M1, "0001"
    )
    lake.write(columns(["AAA"], 19, timedelta(minutes=1), seed=2, start=T0), Timeframe.M1, "0002")
    lake.write(
        columns(["AAA", "BBB", "CCC"], 30, timedelta(minutes=1), seed=3, start=T0), Timeframe.M1, "0003"
    )
    assert all(markers(lake, s) == [] for s in ("AAA", "BBB", "CCC"))
    lake.write(columns(["AAA", "BBB"], 30, timedelta(minutes=1), seed=4, start=T0), Timeframe.M1, "0004")
    assert len(markers(lake, "AAA")) == 3  # 0001's, 0002's and 0003's files
    assert len(markers(lake, "BBB")) == 2  # 0002's file is AAA's alone: BBB's reads never open it
    assert markers(lake, "CCC") == []


def test_markers_of_an_ingestion_that_never_committed_go_once_older_than_the_grace(
    subject: LakeUnderTest,
) -> None:
    lake = subject.lake
    compacted_month_end(lake, sortable_id())
    lake.write(
        columns(["AAA"], 80, timedelta(minutes=1), seed=2, start=MONTH_END), Timeframe.M1, sortable_id()
    )
    records, _ = lake.files.list_ingests("ingests/timeframe=1m/")
    lake.files.delete(records)  # the writer died before its commit record
    lake.compact(Timeframe.M1)
    assert len(markers(lake)) == 2  # young: its writer may be at work still
    lake.orphan_grace_s = 0
    lake.compact(Timeframe.M1)
    assert markers(lake) == []


def test_a_proof_that_fails_leaves_no_marker_and_the_ingestion_commits(
    subject: LakeUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = subject.lake
    compacted_month_end(lake)

    def fails(*args: object) -> list[str]:
        raise RuntimeError("the footers could not be read")

    monkeypatch.setattr(lake, "_shadowed_files", fails)
    again = columns(["AAA"], 80, timedelta(minutes=1), seed=2, start=MONTH_END)
    lake.write(again, Timeframe.M1, "0002")
    assert markers(lake) == []
    assert_series(everything(lake, "AAA", Timeframe.M1), of_symbol(again, "AAA"))


# -- rollups: compacted files resampled to 15m, 1h and 1d, for long reads of those ----------------

QUARTER = datetime(2024, 1, 1, tzinfo=UTC)  # 1m bars every 15 minutes over January to March
ROLLUPS = ("15m", "1h", "1d")


def rollups(lake: ParquetLake) -> list[str]:
    """The rollups, as `<period>/<rollup name>` with the file's name cut to its timeframe."""
    listed = lake.files.list_partition("bars/timeframe=1m/").rollups
    return sorted(f"{r.rsplit('/', 2)[-2].removeprefix('period=')}/{r.rsplit('~', 1)[-1]}" for r in listed)


def quarter_lakes(subject: LakeUnderTest, tmp_path: Path) -> tuple[ParquetLake, ParquetLake]:
    """The lake under test with the quarter written and compacted, and a reference lake holding
    the same writes never compacted (its reads resample every bar)."""
    reference = ParquetLake.from_settings(load_settings(data_dir=tmp_path / "reference"))
    batch = columns(["AAA", "BBB"], 91 * 96, timedelta(minutes=15), seed=3, start=QUARTER)
    for lake in (subject.lake, reference):
        lake.write(batch, Timeframe.M1, "0001")
    return subject.lake, reference


READS = {  # name: (timeframe, start, end)
    "15m, all": (Timeframe.M15, datetime(2023, 6, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    "1h, all": (Timeframe.H1, datetime(2023, 6, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    "1d, all": (Timeframe.D1, datetime(2023, 6, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    "1h, February on": (Timeframe.H1, datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)),
    "1h, mid-month to mid-month": (
        Timeframe.H1,
        datetime(2024, 1, 15, 7, tzinfo=UTC),
        datetime(2024, 3, 10, 5, tzinfo=UTC),
    ),
    "1d, within February": (
        Timeframe.D1,
        datetime(2024, 2, 3, tzinfo=UTC),
        datetime(2024, 2, 20, tzinfo=UTC),
    ),
}


def assert_reads_as(lake: ParquetLake, reference: ParquetLake) -> None:
    for name, (tf, start, end) in READS.items():
        for symbol in ("AAA", "BBB"):
            got = lake.bars(symbol, tf, start, end, 10**6, Timeframe.M1)
            want = reference.bars(symbol, tf, start, end, 10**6, Timeframe.M1)
            assert len(got) == len(want) > 0, (name, symbol)
            assert_series(got, want.__dict__)


def tamper(lake: ParquetLake, period: str, tf: Timeframe) -> None:
    """Add 1000 to every close of AAA's rollup of the period: a read that uses it shows it."""
    [rollup] = [
        r
        for r in lake.files.list_partition("bars/timeframe=1m/symbol=AAA/").rollups
        if f"period={period}/" in r
        if r.endswith(f"~{tf.value}.rollup")
    ]
    cur = lake.conn.cursor()
    cur.execute(
        "CREATE TEMP TABLE tampered AS "
        f"SELECT * REPLACE (close + 1000 AS close) FROM read_parquet('{rollup}')"
    )
    cur.execute(f"COPY tampered TO '{rollup}' (FORMAT parquet)")
    cur.close()


def test_compaction_rolls_files_up_and_long_reads_answer_from_the_rollups(
    subject: LakeUnderTest, tmp_path: Path
) -> None:
    lake, reference = quarter_lakes(subject, tmp_path)
    report = lake.compact(Timeframe.M1)
    assert report.rollups_written == 18  # 2 symbols x 3 months x (15m, 1h, 1d)
    assert rollups(lake) == sorted([f"2024-0{m}/{tf}.rollup" for m in (1, 2, 3) for tf in ROLLUPS] * 2)
    assert_reads_as(lake, reference)
    assert lake.compact(Timeframe.M1).rollups_written == 0  # nothing new to roll up
    # A read answers from a rollup for a period wholly in its range, and only then.
    tamper(lake, "2024-02", Timeframe.H1)
    everything_1h = lake.bars("AAA", Timeframe.H1, *READS["1h, all"][1:], 10**6, Timeframe.M1)
    truth = reference.bars("AAA", Timeframe.H1, *READS["1h, all"][1:], 10**6, Timeframe.M1)
    february = (truth.ts_us >= int(datetime(2024, 2, 1, tzinfo=UTC).timestamp()) * US) & (
        truth.ts_us < int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * US
    )
    np.testing.assert_allclose(everything_1h.close, truth.close + np.where(february, 1000, 0))
    # February an edge of the read: on the rollup's grid, its buckets in range still come from it ...
    on_grid = lake.bars(
        "AAA", Timeframe.H1, datetime(2024, 2, 1, 1, tzinfo=UTC), READS["1h, all"][2], 10**6, Timeframe.M1
    )
    assert on_grid.ts_us[0] == int(datetime(2024, 2, 1, 1, tzinfo=UTC).timestamp()) * US
    assert float(on_grid.close[0]) > 1000
    # ... and off it (a bucket would be cut), resampled from its bars.
    edge = lake.bars(
        "AAA", Timeframe.H1, datetime(2024, 2, 1, 1, 30, tzinfo=UTC), READS["1h, all"][2], 10**6, Timeframe.M1
    )
    assert float(edge.close.max()) < 1000


def test_a_period_with_newer_bars_is_read_from_them_and_compaction_rolls_it_up_again(
    subject: LakeUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, reference = quarter_lakes(subject, tmp_path)
    lake.compact(Timeframe.M1)
    tamper(lake, "2024-02", Timeframe.H1)
    # A correction of 50 bars of AAA in February: the period now holds a fresh file too.
    fix = columns(["AAA"], 50, timedelta(minutes=15), seed=4, start=datetime(2024, 2, 10, tzinfo=UTC))
    for target in (lake, reference):
        target.write(fix, Timeframe.M1, "0002")
    assert_reads_as(lake, reference)  # the tampered rollup is not read

    # A compaction that dies before merging: February then holds two compacted files.
    def killed(partition: str, paths: list[str]) -> tuple[int, str]:
        raise RuntimeError("killed")

    with monkeypatch.context() as patched:
        patched.setattr(lake, "_merge", killed)
        with pytest.raises(RuntimeError, match="killed"):
            lake.compact(Timeframe.M1)
    assert_reads_as(lake, reference)
    report = lake.compact(Timeframe.M1)
    assert (report.partitions_merged, report.rollups_written) == (1, 3)
    # The merged-away file's rollups went with it: one file and its three rollups per period.
    assert rollups(lake) == sorted([f"2024-0{m}/{tf}.rollup" for m in (1, 2, 3) for tf in ROLLUPS] * 2)
    assert_reads_as(lake, reference)


def test_compaction_writes_missing_rollups_and_removes_those_without_their_file(
    subject: LakeUnderTest, tmp_path: Path
) -> None:
    lake, reference = quarter_lakes(subject, tmp_path)
    lake.compact(Timeframe.M1)
    listed = lake.files.list_partition("bars/timeframe=1m/symbol=AAA/").rollups
    # A compaction that died before rolling January's file up to 1d, and a rollup left by a file
    # merged away.
    [january_1d] = [r for r in listed if "period=2024-01/" in r and r.endswith("~1d.rollup")]
    lake.files.delete([january_1d])
    orphan = january_1d.rsplit("/", 1)[0] + "/c0000000000000000000~1h.rollup"
    cur = lake.conn.cursor()
    kept = next(r for r in listed if r != january_1d)
    cur.execute(f"COPY (SELECT * FROM read_parquet('{kept}')) TO '{orphan}' (FORMAT parquet)")
    cur.close()
    assert len(rollups(lake)) == 18
    assert_reads_as(lake, reference)  # January's 1d is resampled from its bars meanwhile
    report = lake.compact(Timeframe.M1)
    assert report.rollups_written == 1
    assert orphan not in lake.files.list_partition("bars/timeframe=1m/").rollups
    assert january_1d in lake.files.list_partition("bars/timeframe=1m/").rollups
    assert_reads_as(lake, reference)


def test_a_compaction_out_of_rollup_budget_leaves_them_to_the_next(
    subject: LakeUnderTest, tmp_path: Path
) -> None:
    # A lake compacted before rollups existed, or with more files than a night's budget rolls up:
    # what is not rolled up is counted, read from its bars meanwhile, and made by a later run.
    lake, reference = quarter_lakes(subject, tmp_path)
    report = lake.compact(Timeframe.M1, rollup_budget_s=0)
    assert (report.partitions_merged, report.rollups_written, report.rollups_left) == (0, 0, 18)
    assert rollups(lake) == []
    assert_reads_as(lake, reference)
    later = lake.compact(Timeframe.M1)
    assert (later.rollups_written, later.rollups_left) == (18, 0)
    assert_reads_as(lake, reference)
