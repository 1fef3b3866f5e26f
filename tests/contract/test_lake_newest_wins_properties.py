"""The lake's read of periods re-ingested and not yet compacted, against a reference: over random
ingest histories (several symbols, periods, ingestions in and out of id order, re-ingestions of
earlier batches, compactions at any point), every read keeps the bar of the newest ingestion per
timestamp, resampled or split-adjusted alike, whichever older files shadow markers let it skip,
and the file-ordered read (newest file whole, older ones anti-joined on ts) answers exactly as
the per-row window it replaces."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_system.adapters import lake as lake_module
from trading_system.adapters.lake import RANKED_FILES, LakeFile, ParquetLake, ReadOrder, ShadowCheck
from trading_system.config import load_settings
from trading_system.market_data.bar_batch import BarColumns, BarSeries
from trading_system.market_data.domain import (
    ActionKind,
    Adjustment,
    Bar,
    CorporateAction,
    SessionWindows,
    Timeframe,
    split_adjusted,
)

US = 1_000_000
SYMBOLS = ("AAA", "BBB")
# 1m bars around two month ends, so that a history spans three periods (a month each).
SLOTS = tuple(
    moment + timedelta(minutes=17 * i)
    for moment in (datetime(2024, 1, 31, 22, tzinfo=UTC), datetime(2024, 2, 29, 22, tzinfo=UTC))
    for i in range(20)
)
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
SPLIT_DAYS = (date(2024, 2, 1), date(2024, 3, 1))
# Two sessions across the month ends (opens and closes on the 30-minute grid, as New York's).
SESSIONS = SessionWindows(
    days=(datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
    opens=(datetime(2024, 1, 31, 22, 30, tzinfo=UTC), datetime(2024, 2, 29, 22, tzinfo=UTC)),
    closes=(datetime(2024, 2, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 3, tzinfo=UTC)),
)


@dataclass(frozen=True)
class Ingest:
    rank: int  # its id's place among the history's ids: ingestions need not run in id order
    rows: dict[tuple[str, int], float]  # (symbol, slot) -> price


Step = Ingest | Literal["compact", "minor"]  # or compact the lake, fully or as every 10 minutes

prices = st.integers(100, 999).map(lambda cents: cents / 4)
ingests = st.dictionaries(
    st.tuples(st.sampled_from(SYMBOLS), st.integers(0, len(SLOTS) - 1)), prices, min_size=1, max_size=30
)


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    batches = draw(st.lists(ingests, min_size=1, max_size=5))
    for i in range(1, len(batches)):
        if draw(st.booleans()):  # a re-ingestion: every bar of an earlier batch again, and more
            again = {key: price + 0.25 for key, price in batches[draw(st.integers(0, i - 1))].items()}
            batches[i] = again | batches[i]
    in_order = draw(st.booleans())  # mostly the id order of real ingestions, sometimes shuffled
    ranks = list(range(len(batches))) if in_order else draw(st.permutations(range(len(batches))))
    steps: list[Step] = []
    for rank, rows in zip(ranks, batches, strict=True):
        steps.append(Ingest(rank, rows))
        if draw(st.integers(0, 3)) == 0:
            steps.append(draw(st.sampled_from(["compact", "minor"])))
    return steps


def ingest_id(rank: int) -> str:
    return f"{1_700_000_000_000_000_000 + rank:019d}abcdef0"


def write(lake: ParquetLake, step: Ingest) -> None:
    keys = sorted(step.rows)
    price = np.array([step.rows[k] for k in keys])
    n = len(keys)
    lake.write(
        BarColumns(
            row=np.arange(1, n + 1, dtype=np.int64),
            symbols=SYMBOLS,
            symbol_code=np.array([SYMBOLS.index(s) for s, _ in keys], dtype=np.int64),
            ts_us=np.array([int(SLOTS[slot].timestamp()) * US for _, slot in keys], dtype=np.int64),
            ts_valid=np.ones(n, dtype=np.bool_),
            open=price,
            high=price + 1,
            low=price - 1,
            close=price + 0.5,
            volume=price * 4 + step.rank,
        ),
        Timeframe.M1,
        ingest_id(step.rank),
    )


def reference(steps: list[Step], symbol: str) -> list[Bar]:
    """The bar of the newest ingestion (highest id) per timestamp, in time order."""
    newest: dict[int, tuple[int, float]] = {}
    for step in steps:
        if isinstance(step, str):
            continue
        for (s, slot), price in step.rows.items():
            if s == symbol and step.rank >= newest.get(slot, (-1, 0.0))[0]:
                newest[slot] = (step.rank, price)
    return [
        Bar(ts=SLOTS[slot], open=p, high=p + 1, low=p - 1, close=p + 0.5, volume=p * 4 + rank)
        for slot, (rank, p) in sorted(newest.items())
    ]


def resampled(bars: list[Bar], seconds: int) -> dict[str, list[float]]:
    buckets: dict[int, list[Bar]] = {}
    for bar in bars:
        buckets.setdefault(int(bar.ts.timestamp()) // seconds * seconds, []).append(bar)
    return {
        "ts_us": [b * US for b in buckets],
        "open": [members[0].open for members in buckets.values()],
        "high": [max(m.high for m in members) for members in buckets.values()],
        "low": [min(m.low for m in members) for members in buckets.values()],
        "close": [members[-1].close for members in buckets.values()],
        "volume": [sum(m.volume for m in members) for members in buckets.values()],
    }


def columns_of(bars: list[Bar]) -> dict[str, list[float]]:
    return {
        "ts_us": [int(b.ts.timestamp()) * US for b in bars],
        **{name: [getattr(b, name) for b in bars] for name in ("open", "high", "low", "close", "volume")},
    }


def assert_equal(series: BarSeries, expected: dict[str, list[float]]) -> None:
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(series, name), values, rtol=1e-12, err_msg=name)


Read = Callable[[ParquetLake], BarSeries]


def reads(symbol: str) -> dict[str, Read]:
    """Every kind of read: raw, UTC-resampled, session-following, split-adjusted and both."""
    m1, h1, d1 = Timeframe.M1, Timeframe.H1, Timeframe.D1
    split = Adjustment.SPLIT
    return {
        "1m": lambda lake: lake.bars(symbol, m1, START, END, 10_000, m1),
        "1h": lambda lake: lake.bars(symbol, h1, START, END, 10_000, m1),
        "1d": lambda lake: lake.bars(symbol, d1, START, END, 10_000, m1),
        "1h sessions": lambda lake: lake.bars(symbol, h1, START, END, 10_000, m1, SESSIONS),
        "1d sessions": lambda lake: lake.bars(symbol, d1, START, END, 10_000, m1, SESSIONS),
        "1m split": lambda lake: lake.bars(symbol, m1, START, END, 10_000, m1, adjustment=split),
        "1h split sessions": lambda lake: lake.bars(symbol, h1, START, END, 10_000, m1, SESSIONS, split),
        "limit 3": lambda lake: lake.bars(symbol, m1, START, END, 3, m1),
    }


def windowed_only(lake: ParquetLake) -> ParquetLake:
    """The same lake read as before the file order: every period of several files through the
    per-row window (no file's ingest ids known)."""
    lake._ingest_ranges = lambda periods: {}  # type: ignore[method-assign]
    return lake


@settings(max_examples=25, deadline=None)
@given(steps=histories(), split_day=st.sampled_from(SPLIT_DAYS), ratio=st.sampled_from(("2", "4")))
def test_every_read_keeps_the_newest_ingestion_per_timestamp(
    steps: list[Step], split_day: date, ratio: str
) -> None:
    # A minor compaction merges a partition's files but its oldest from 2 files on (4 in use): any
    # subset of a period's files merged, which short histories would otherwise rarely reach.
    with (
        tempfile.TemporaryDirectory(prefix="lake-") as folder,
        mock.patch.object(lake_module, "MINOR_MERGE_FILES", 1),
    ):
        lake = ParquetLake.from_settings(load_settings(data_dir=Path(folder)))
        lake.shadow_check = ShadowCheck(min_rows=1)  # every write proves what it shadows
        window = windowed_only(ParquetLake(lake.root, lake.conn, lake.files))
        split = CorporateAction(
            symbol="AAA",
            kind=ActionKind.SPLIT,
            ex_date=split_day,
            new_rate=Decimal(ratio),
            old_rate=Decimal(1),
        )
        lake.write_corporate_actions("AAA", [split], ingest_id(99))
        for step in steps:
            if isinstance(step, str):
                lake.compact(Timeframe.M1, minor=step == "minor")
            else:
                write(lake, step)
        for symbol in SYMBOLS:
            bars = reference(steps, symbol)
            assert_equal(reads(symbol)["1m"](lake), columns_of(bars))
            assert_equal(reads(symbol)["limit 3"](lake), columns_of(bars[:3]))
            assert_equal(reads(symbol)["1h"](lake), resampled(bars, 3_600))
            assert_equal(reads(symbol)["1d"](lake), resampled(bars, 86_400))
            adjusted = [split_adjusted(bar, [split]) for bar in bars] if symbol == "AAA" else bars
            assert_equal(reads(symbol)["1m split"](lake), columns_of(adjusted))
            for name, read in reads(symbol).items():
                fast, slow = read(lake), read(window)
                for column in ("ts_us", "open", "high", "low", "close", "volume"):
                    assert np.array_equal(getattr(fast, column), getattr(slow, column)), (name, column)


def test_files_in_ingestion_order_are_read_newest_first_and_interleaved_ones_through_the_window() -> None:
    compacted = LakeFile("bars/timeframe=1m/symbol=AAA/period=2024-02/c1_0.parquet", fresh=False)
    first = LakeFile("ingests/timeframe=1m/period=2024-02/0003_0.parquet", fresh=True)
    second = LakeFile("ingests/timeframe=1m/period=2024-02/0005_0.parquet", fresh=True)
    alone = LakeFile("ingests/timeframe=1m/period=2024-03/0004_0.parquet", fresh=True)
    ranges = {compacted.path: ("0001", "0002"), first.path: ("0003",) * 2, second.path: ("0005",) * 2}
    order = ReadOrder.of({"2024-02": [compacted, second, first], "2024-03": [alone]}, ranges)
    assert order.ranks == [[second, alone], [first], [compacted]]
    assert order.newer == [[], [second], [second, first]]
    assert order.windowed == []
    # The compacted file holds an ingestion newer than the first fresh one: no file order exists.
    ranges[compacted.path] = ("0001", "0004")
    order = ReadOrder.of({"2024-02": [compacted, second, first]}, ranges)
    assert (order.ranks, order.windowed) == ([], [compacted, second, first])
    # A file without statistics: its period goes through the window too.
    order = ReadOrder.of({"2024-02": [compacted, first]}, {first.path: ("0003",) * 2})
    assert order.windowed == [compacted, first]


def test_a_period_of_many_files_windows_its_newer_ones_and_anti_joins_its_oldest_once() -> None:
    """Ranked, K files take K(K+1)/2 scans: a day of single-bar ingests would be tens of thousands."""
    compacted = LakeFile("bars/timeframe=1m/symbol=AAA/period=2024-02/c1_0.parquet", fresh=False)
    ids = [f"{i:04d}" for i in range(3, 7)]  # one ingestion per file, in id order
    fresh = [LakeFile(f"ingests/timeframe=1m/period=2024-02/{i}_0.parquet", fresh=True) for i in ids]
    alone = LakeFile("ingests/timeframe=1m/period=2024-03/0004_0.parquet", fresh=True)
    ranges = {compacted.path: ("0001", "0002")} | {f.path: (i, i) for f, i in zip(fresh, ids, strict=True)}
    order = ReadOrder.of({"2024-02": [compacted, *fresh[: RANKED_FILES - 1]], "2024-03": [alone]}, ranges)
    assert (len(order.ranks), order.windowed, order.oldest) == (RANKED_FILES, [], [])
    order = ReadOrder.of({"2024-02": [compacted, *fresh], "2024-03": [alone]}, ranges)
    assert order.ranks == [[alone]]
    assert (order.windowed, order.oldest) == (fresh[::-1], [compacted])
    query, params = order.newest_rows("AAA")
    assert query.count("read_parquet") == 3  # the lone period, the windowed files, the oldest: once each
    assert params["windowed_fresh"] == [f.path for f in fresh[::-1]] and params["oldest"] == [compacted.path]


@pytest.mark.parametrize("repeats", [1, RANKED_FILES - 1, RANKED_FILES, 12])  # ranked; windowed after
def test_a_period_re_ingested_again_and_again_reads_the_last_ingestion(tmp_path: Path, repeats: int) -> None:
    lake = ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    history = [Ingest(0, {("AAA", slot): 100.0 for slot in range(len(SLOTS))})]
    history += [  # each a correction of a few slots of both periods, not yet compacted
        Ingest(rank, {("AAA", slot): 100.0 + rank for slot in range(rank, len(SLOTS), 7)})
        for rank in range(1, repeats + 1)
    ]
    write(lake, history[0])
    lake.compact(Timeframe.M1)
    for step in history[1:]:
        write(lake, step)
    assert_equal(reads("AAA")["1m"](lake), columns_of(reference(list(history), "AAA")))
    assert_equal(reads("AAA")["1h"](lake), resampled(reference(list(history), "AAA"), 3_600))
