"""The snapshot history, kept as a base file plus one delta per ingestion, must always equal a
rebuild from the whole lake, on a local folder and on S3."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.analytics_lake import AnalyticsLake
from trading_system.adapters.lake import ParquetLake
from trading_system.analytics.snapshot import UniverseBars
from trading_system.config import load_settings
from trading_system.market_data.bar_batch import BarColumns
from trading_system.market_data.domain import Timeframe

DAY = 86_400_000_000
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> ParquetLake:
    if request.param == "local":
        return ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    url = request.getfixturevalue("moto_url")
    bucket = unique_name("snap")
    boto_client("s3", url).create_bucket(Bucket=bucket)
    return ParquetLake.from_settings(
        load_settings(data_dir=tmp_path, lake_root=f"s3://{bucket}", aws_endpoint_url=url)
    )


def bars(symbols: list[str], days: list[int], seed: int) -> BarColumns:
    rng = np.random.default_rng(seed)
    n = len(symbols) * len(days)
    close = 50 + rng.random(n) * 10
    return BarColumns(
        row=np.arange(1, n + 1),
        symbols=tuple(symbols),
        symbol_code=np.repeat(np.arange(len(symbols)), len(days)),
        ts_us=np.tile(T0 + np.array(days, dtype=np.int64) * DAY, len(symbols)),
        ts_valid=np.ones(n, dtype=np.bool_),
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=np.full(n, 100.0),
    )


def as_dict(universe: UniverseBars) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for i, symbol in enumerate(universe.symbols):
        mask = universe.ts_us[i] != 0
        out[symbol] = list(
            zip(universe.ts_us[i][mask].tolist(), universe.close[i][mask].tolist(), strict=True)
        )
    return out


def snapshot_files(lake: ParquetLake) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in lake.files.list_files("snapshots/timeframe=1d/")]


def test_deltas_equal_a_rebuild_and_corrections_are_merged_too(lake: ParquetLake) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA", "BBB"], list(range(30)), 1), Timeframe.D1, "0001")
    first = store.absorb(Timeframe.D1, "0001", 20)
    assert first.ts_us.shape == (2, 20)
    assert snapshot_files(lake) == ["history_20.parquet"]

    lake.write(bars(["AAA", "BBB"], [30], 2), Timeframe.D1, "0002")
    lake.write(bars(["BBB", "CCC"], [31, 32], 3), Timeframe.D1, "0003")  # a new symbol, two bars
    store.absorb(Timeframe.D1, "0002", 20)
    merged = store.absorb(Timeframe.D1, "0003", 20)
    assert sorted(snapshot_files(lake)) == ["delta_0002.parquet", "delta_0003.parquet", "history_20.parquet"]
    rebuilt = store.absorb(Timeframe.D1, None, 25)  # a longer history asked: rebuilt from the lake
    assert snapshot_files(lake) == ["history_25.parquet"]
    expected = {s: v[-20:] for s, v in as_dict(rebuilt).items()}
    assert as_dict(merged) == expected
    assert [ts for ts, _ in as_dict(merged)["CCC"]] == [T0 + 31 * DAY, T0 + 32 * DAY]

    lake.write(bars(["AAA"], [10, 31], 4), Timeframe.D1, "0004")  # corrects a kept bar, adds one
    corrected = store.absorb(Timeframe.D1, "0004", 25)
    assert sorted(snapshot_files(lake)) == ["delta_0004.parquet", "history_25.parquet"]
    aaa = dict(as_dict(corrected)["AAA"])
    assert aaa[T0 + 10 * DAY] == pytest.approx(bars(["AAA"], [10, 31], 4).close[0])
    assert as_dict(corrected) == as_dict(rebuilt_from_scratch(lake, 25))


def rebuilt_from_scratch(lake: ParquetLake, keep: int) -> UniverseBars:
    """What the lake holds, without the snapshot files kept so far."""
    return AnalyticsLake(lake)._rebuild(Timeframe.D1, "snapshots/scratch", keep, [])


def by_the_rule(lake: ParquetLake, keep: int) -> dict[str, list[tuple[int, float]]]:
    """The rule a rebuild keeps, stated as plainly as SQL can: over every row of the lake, the
    newest ingestion's bar per (symbol, ts), then each symbol's last `keep` of those."""
    settled = lake.files.list_files("bars/timeframe=1d/")
    fresh = lake.committed_ingest_files(Timeframe.D1)
    sources = [
        f"SELECT symbol, ts, close, ingest_id FROM read_parquet({files!r}, hive_partitioning = true)"
        for files in (settled, fresh)
        if files
    ]
    rows = lake.conn.execute(
        f"""
        SELECT symbol, epoch_us(ts), close FROM (
            SELECT * FROM ({" UNION ALL ".join(sources)})
            QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingest_id DESC) = 1
        )
        QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) <= {keep}
        ORDER BY symbol, ts
        """
    ).fetchall()
    out: dict[str, list[tuple[int, float]]] = {}
    for symbol, ts, close in rows:
        out.setdefault(symbol, []).append((ts, close))
    return out


def test_the_latest_bar_can_be_corrected_in_place(lake: ParquetLake) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA"], list(range(5)), 1), Timeframe.D1, "0001")
    store.absorb(Timeframe.D1, "0001", 10)
    lake.write(bars(["AAA"], [4], 9), Timeframe.D1, "0002")
    fixed = store.absorb(Timeframe.D1, "0002", 10)
    assert as_dict(fixed)["AAA"][-1] == (T0 + 4 * DAY, pytest.approx(bars(["AAA"], [4], 9).close[0]))
    assert len(as_dict(fixed)["AAA"]) == 5


def test_a_base_kept_longer_than_asked_gives_each_symbols_newest_bars(lake: ParquetLake) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA", "BBB"], list(range(30)), 1), Timeframe.D1, "0001")
    lake.write(bars(["CCC"], list(range(25, 30)), 2), Timeframe.D1, "0002")  # fewer bars than asked
    store.absorb(Timeframe.D1, None, 25)
    lake.write(bars(["AAA", "BBB", "CCC"], [30], 3), Timeframe.D1, "0003")
    shorter = store.absorb(Timeframe.D1, "0003", 20)  # the 25-bar base, cut to 20, plus a delta
    assert sorted(snapshot_files(lake)) == ["delta_0003.parquet", "history_25.parquet"]
    assert shorter.ts_us.shape == (3, 20)
    lake.files.delete(lake.files.list_files("snapshots/timeframe=1d/"))
    rebuilt = store.absorb(Timeframe.D1, None, 20)  # no base: rebuilt from the lake
    assert snapshot_files(lake) == ["history_20.parquet"]
    assert as_dict(shorter) == as_dict(rebuilt)
    assert [ts for ts, _ in as_dict(shorter)["CCC"]] == [T0 + d * DAY for d in range(25, 31)]
    assert np.isnan(shorter.close[2, :14]).all() and not np.isnan(shorter.close[2, 14:]).any()


def test_a_correcting_ingestion_is_kept_as_a_delta_of_its_symbols_last_bars(
    lake: ParquetLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA", "BBB"], list(range(30)), 1), Timeframe.D1, "0001")
    store.absorb(Timeframe.D1, "0001", 20)
    written: list[str] = []
    write_query = lake.write_query
    monkeypatch.setattr(
        lake, "write_query", lambda target, *a, **k: written.append(target) or write_query(target, *a, **k)
    )

    lake.write(bars(["AAA"], [30, 31], 2), Timeframe.D1, "0002")  # appends
    store.absorb(Timeframe.D1, "0002", 20)
    lake.write(bars(["BBB"], list(range(40)), 3), Timeframe.D1, "0003")  # rewrites all of BBB's
    corrected = store.absorb(Timeframe.D1, "0003", 20)

    assert written == [
        "snapshots/timeframe=1d/delta_0002.parquet",
        "snapshots/timeframe=1d/delta_0003.parquet",
    ]
    assert sorted(snapshot_files(lake)) == ["delta_0002.parquet", "delta_0003.parquet", "history_20.parquet"]
    delta = lake.conn.execute(
        f"SELECT count(*), min(ts) FROM read_parquet('{lake.root}/snapshots/timeframe=1d/delta_0003.parquet')"
    ).fetchone()
    assert delta is not None and delta[0] == 20  # only the bars a 20-bar history can keep
    assert as_dict(corrected) == as_dict(rebuilt_from_scratch(lake, 20))
    assert dict(as_dict(corrected)["BBB"])[T0 + 39 * DAY] == pytest.approx(
        bars(["BBB"], list(range(40)), 3).close[-1]
    )


def test_a_refresh_delivered_late_merges_in_ingestion_order_or_rebuilds(lake: ParquetLake) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA"], list(range(10)), 1), Timeframe.D1, "0001")
    store.absorb(Timeframe.D1, "0001", 5)
    lake.write(bars(["AAA"], [8, 9], 2), Timeframe.D1, "0002")
    lake.write(bars(["AAA"], [9], 3), Timeframe.D1, "0003")
    store.absorb(Timeframe.D1, "0003", 5)
    late = store.absorb(Timeframe.D1, "0002", 5)  # 0003 still wins day 9
    assert sorted(snapshot_files(lake)) == ["delta_0002.parquet", "delta_0003.parquet", "history_5.parquet"]
    assert as_dict(late) == as_dict(rebuilt_from_scratch(lake, 5))
    assert dict(as_dict(late)["AAA"])[T0 + 9 * DAY] == pytest.approx(bars(["AAA"], [9], 3).close[0])

    store.absorb(Timeframe.D1, None, 6)  # a base holding everything up to 0003
    again = store.absorb(Timeframe.D1, "0002", 5)  # not newer than the base: rebuilt
    assert snapshot_files(lake) == ["history_5.parquet"]
    assert as_dict(again) == as_dict(rebuilt_from_scratch(lake, 5))


def test_a_base_that_does_not_record_its_ingestions_is_rebuilt(lake: ParquetLake) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA"], list(range(10)), 1), Timeframe.D1, "0001")
    store.absorb(Timeframe.D1, "0001", 5)
    base = f"{lake.root}/snapshots/timeframe=1d/history_5.parquet"
    lake.write_query(  # as versions before the ingest_id column wrote it
        "snapshots/timeframe=1d/history_5.parquet",
        "SELECT symbol, ts, open, high, low, close, volume FROM read_parquet($p)",
        {"p": base},
    )
    lake.write(bars(["AAA"], [3, 10], 2), Timeframe.D1, "0002")
    rebuilt = store.absorb(Timeframe.D1, "0002", 5)
    assert snapshot_files(lake) == ["history_5.parquet"]
    assert as_dict(rebuilt) == as_dict(rebuilt_from_scratch(lake, 5))
    assert lake.conn.execute(f"SELECT count(ingest_id) FROM read_parquet('{base}')").fetchone() == (5,)


@pytest.mark.parametrize("seed", range(8))
def test_any_sequence_of_ingestions_and_refreshes_equals_a_rebuild(tmp_path: Path, seed: int) -> None:
    """Appends, corrections, backfills, new symbols and refreshes delivered late or twice, in a
    random order: once every ingestion is delivered, the history kept is what a rebuild from the
    lake gives (before, it may lag the ingestions not yet delivered, never contradict them)."""
    rng = np.random.default_rng(seed)
    lake = ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    store = AnalyticsLake(lake)
    universe = ["AAA", "BBB", "CCC", "DDD"]
    undelivered: list[str] = []
    checked = 0
    for n in range(1, 31):
        ingest_id = f"{n:04d}"
        symbols = sorted(rng.choice(universe, size=int(rng.integers(1, 5)), replace=False).tolist())
        first = int(rng.integers(0, 40 + n))
        days = sorted(set(rng.integers(first, first + 12, size=int(rng.integers(1, 12))).tolist()))
        lake.write(bars(symbols, days, seed * 100 + n), Timeframe.D1, ingest_id)
        undelivered.append(ingest_id)
        while undelivered and (rng.random() < 0.7 or n == 30):  # not always in order
            chosen = undelivered.pop(int(rng.integers(0, len(undelivered))))
            width = int(rng.choice([8, 8, 8, 12]))
            got = store.absorb(Timeframe.D1, chosen, width)
            if not undelivered:
                assert as_dict(got) == as_dict(rebuilt_from_scratch(lake, width)), (seed, n, chosen)
                assert as_dict(got) == by_the_rule(lake, width), (seed, n, chosen)
                checked += 1
            if rng.random() < 0.15:
                lake.compact(Timeframe.D1)  # settled files too: partitions read beside fresh ones
            if rng.random() < 0.1 and n < 30:
                undelivered.append(chosen)  # delivered again later
    assert checked >= 5


def test_a_rebuild_reads_only_what_can_be_among_the_last_bars_and_keeps_the_rule(lake: ParquetLake) -> None:
    # A symbol's bars spread over settled and fresh files, corrected in older and newer periods,
    # with an ingestion holding an older id than the settled rows it overlaps.
    lake.write(bars(["AAA", "BBB"], list(range(0, 400, 2)), 1), Timeframe.D1, "0003")
    lake.compact(Timeframe.D1)
    lake.write(bars(["AAA"], list(range(380, 420)), 2), Timeframe.D1, "0005")  # newer: wins
    lake.write(bars(["AAA", "BBB"], list(range(390, 400)), 3), Timeframe.D1, "0001")  # older: loses
    lake.write(bars(["CCC"], [5, 700], 4), Timeframe.D1, "0004")  # two years apart
    for keep in (1, 7, 30, 500):
        assert as_dict(rebuilt_from_scratch(lake, keep)) == by_the_rule(lake, keep), keep


@pytest.mark.parametrize("keep", [20, 100])
def test_a_one_symbol_ingestion_is_read_from_the_newest_periods_that_hold_its_last_bars(
    lake: ParquetLake, monkeypatch: pytest.MonkeyPatch, keep: int
) -> None:
    store = AnalyticsLake(lake)
    lake.write(bars(["AAA", "BBB"], list(range(40)), 1), Timeframe.D1, "0001")
    store.absorb(Timeframe.D1, "0001", keep)
    read: list[list[str]] = []
    write_query = lake.write_query
    monkeypatch.setattr(
        lake,
        "write_query",
        lambda target, sql, params, *a: (
            read.append(params.get("fresh", [])) or write_query(target, sql, params, *a)
        ),
    )
    # A backfill of AAA over 2024 to 2026 (yearly partitions of 1d bars: 2026 holds 70 of them).
    lake.write(bars(["AAA"], list(range(300, 801)), 2), Timeframe.D1, "0002")
    got = store.absorb(Timeframe.D1, "0002", keep)

    assert [[p.rsplit("/", 2)[-2] for p in paths] for paths in read] == [
        ["period=2026"] if keep == 20 else ["period=2026", "period=2025"]
    ]
    assert as_dict(got) == as_dict(rebuilt_from_scratch(lake, keep))
    assert len(as_dict(got)["AAA"]) == keep


def test_an_ingestion_of_several_symbols_is_read_whole_for_its_last_bars(lake: ParquetLake) -> None:
    lake.write(bars(["AAA", "BBB"], list(range(300, 801)), 1), Timeframe.D1, "0001")
    files = [p for p in lake.files.list_files("ingests/timeframe=1d/") if "/0001_" in p]
    assert len(files) == 3
    assert sorted(lake.holding_last(files, 1)) == sorted(files)  # a footer cannot count one symbol's rows
