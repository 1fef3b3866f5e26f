"""Pairs (BTC/USD) in the Parquet lake, in a local folder and on S3 (moto's server): their slash is
percent-encoded in every partition and file name (`symbol=BTC%2FUSD`, never a folder of its own),
and every read gives the symbol back as it is named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from tests.contract.test_bar_lake import LakeUnderTest, assert_series, columns, everything, of_symbol, subject
from trading_system.adapters.analytics_lake import AnalyticsLake
from trading_system.adapters.lake import ParquetLake
from trading_system.config import load_settings
from trading_system.market_data.commands import FileFormat
from trading_system.market_data.domain import ActionKind, CorporateAction, Timeframe

__all__ = ["subject"]  # the fixture, local and S3: pytest finds it by its name here

PAIR, PLAIN = "BTC/USD", "BTC"


def symbol_values(paths: list[str]) -> set[str]:
    """The `symbol=` values in the files' paths, as the storage names them."""
    return {
        part.removeprefix("symbol=")
        for path in paths
        for part in path.split("/")
        if part.startswith("symbol=")
    }


def test_a_pairs_bars_read_back_before_and_after_compaction(subject: LakeUnderTest) -> None:
    batch = columns([PAIR, PLAIN, "EUR/USD"], 300, timedelta(hours=1))
    subject.lake.write(batch, Timeframe.H1, "0001")
    assert_series(everything(subject.lake, PAIR, Timeframe.H1), of_symbol(batch, PAIR))

    report = subject.lake.compact(Timeframe.H1)
    assert report.partition_files_written == 3  # one partition each, the pair's not split in two
    files = [str(f) for f in subject.list_files()]
    assert symbol_values(files) == {"BTC%2FUSD", "BTC", "EUR%2FUSD"}
    assert not any("symbol=BTC/USD" in f or "symbol=EUR/" in f for f in files)
    for symbol in (PAIR, PLAIN, "EUR/USD"):  # the plain BTC never reads the pair's bars
        assert_series(everything(subject.lake, symbol, Timeframe.H1), of_symbol(batch, symbol))
    daily = everything(subject.lake, PAIR, Timeframe.D1, Timeframe.H1)
    assert len(daily) == 13 and daily.volume.sum() == np.sum(of_symbol(batch, PAIR)["volume"])


def test_a_pairs_partition_merges_with_later_ingests(subject: LakeUnderTest) -> None:
    first = columns([PAIR], 10, timedelta(days=1), seed=1)
    subject.lake.write(first, Timeframe.D1, "0001")
    subject.lake.compact(Timeframe.D1)
    later = columns([PAIR], 10, timedelta(days=1), seed=2, start=first_day() + timedelta(days=5))
    subject.lake.write(later, Timeframe.D1, "0002")
    expected = everything(subject.lake, PAIR, Timeframe.D1)
    assert len(expected) == 15

    report = subject.lake.compact(Timeframe.D1)
    assert (report.partitions_merged, report.rows_merged, report.files_after) == (1, 15, 1)
    assert_series(everything(subject.lake, PAIR, Timeframe.D1), expected.__dict__)


def test_a_pairs_corporate_actions_are_its_own(subject: LakeUnderTest) -> None:
    action = CorporateAction(
        symbol=PAIR,
        kind=ActionKind.SPLIT,
        ex_date=date(2024, 3, 10),
        new_rate=Decimal(2),
        old_rate=Decimal(1),
    )
    subject.lake.write_corporate_actions(PAIR, [action], "0001")
    assert subject.lake.corporate_actions(PAIR) == [action]
    assert subject.lake.corporate_actions(PLAIN) == []
    actions = [str(f) for f in subject.list_files() if "corporate_actions/" in str(f)]
    assert len(actions) == 1 and "/symbol=BTC%2FUSD/" in actions[0]


def test_the_snapshot_history_names_the_pair_read_from_its_partition(subject: LakeUnderTest) -> None:
    subject.lake.write(columns([PAIR, PLAIN], 30, timedelta(days=1)), Timeframe.D1, "0001")
    subject.lake.compact(Timeframe.D1)  # the rebuild reads the compacted partitions' names
    universe = AnalyticsLake(subject.lake).absorb(Timeframe.D1, None, 10)
    assert sorted(universe.symbols) == [PLAIN, PAIR]


def test_a_lake_written_before_pairs_reads_unchanged(tmp_path: Path) -> None:
    """A partition folder named as compaction always named a ticker's is where reads still look."""
    old = ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    batch = columns(["AAA"], 5, timedelta(days=1))
    old.write(batch, Timeframe.D1, "0001")
    old.compact(Timeframe.D1)
    folders = [p.parent.parent.name for p in Path(old.root).rglob("*.parquet")]
    assert folders == ["symbol=AAA"]
    fresh = ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    assert_series(everything(fresh, "AAA", Timeframe.D1), of_symbol(batch, "AAA"))


def first_day() -> datetime:
    return datetime(2024, 3, 4, tzinfo=UTC)


def test_a_files_symbol_column_may_name_pairs_and_bad_ones_are_its_rows_problems(
    subject: LakeUnderTest,
) -> None:
    path = subject.put_file(
        "pairs.csv",
        b"symbol,ts,open,high,low,close,volume\n"
        b"btc/usd,2024-01-02,1,2,0.5,1.5,10\n"
        b"BTC//USD,2024-01-02,1,2,0.5,1.5,10\n"
        b"../USD,2024-01-02,1,2,0.5,1.5,10\n"
        b"BTC/,2024-01-02,1,2,0.5,1.5,10\n",
    )
    parsed = subject.lake.read(path, FileFormat.CSV, Timeframe.D1, None)
    assert [(p.row, p.field, p.value) for p in parsed.problems] == [
        (2, "symbol", "BTC//USD"),
        (3, "symbol", "../USD"),
        (4, "symbol", "BTC/"),
    ]
    assert all("is not a valid symbol" in p.reason for p in parsed.problems)
    assert "BTC/USD" in parsed.columns.symbols
