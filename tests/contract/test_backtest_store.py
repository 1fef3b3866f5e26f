"""Backtest and sweep results in the lake, on a local folder and on S3 (moto): written whole,
read back exactly, thinned with the last bar kept, and deleted without touching another's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.lake import ParquetLake
from trading_system.adapters.strategy_store import BacktestLake, SweepLake
from trading_system.config import load_settings
from trading_system.strategies.ports import SweptBlock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> ParquetLake:
    if request.param == "local":
        return ParquetLake.from_settings(load_settings(data_dir=tmp_path))
    url = request.getfixturevalue("moto_url")
    bucket = unique_name("backtests")
    boto_client("s3", url).create_bucket(Bucket=bucket)
    settings = load_settings(data_dir=tmp_path, lake_root=f"s3://{bucket}", aws_endpoint_url=url)
    return ParquetLake.from_settings(settings)


@pytest.fixture
def results(lake: ParquetLake) -> BacktestLake:
    return BacktestLake(lake)


def trade(i: int) -> dict[str, Any]:
    entry, exit_ = T0 + timedelta(days=i), T0 + timedelta(days=i + 3)
    return {
        "symbol": "GOOG" if i % 2 else "MSFT",
        "size": -3.0 if i % 3 == 0 else 7.0,
        "entry_bar": i,
        "exit_bar": i + 3,
        "entry_time": entry.isoformat(),
        "exit_time": exit_.isoformat(),
        "entry_price": 100.125 + i,
        "exit_price": 101.5 + i,
        "pnl": 1.375 * i - 0.1,
        "return_pct": 0.0137 * i,
        "commission": 0.4,
    }


def curve(n: int, seed: int) -> dict[str, np.ndarray]:
    equity = 10_000 * np.cumprod(1 + np.random.default_rng(seed).normal(0, 0.01, n))
    peak = np.maximum.accumulate(equity)
    ts_ns = np.array([int((T0 + timedelta(days=i)).timestamp()) * 10**9 for i in range(n)], dtype=np.int64)
    return {"ts_ns": ts_ns, "equity": equity, "drawdown_pct": -(1 - equity / peak) * 100}


def test_results_are_read_back_exactly(results: BacktestLake) -> None:
    written = [trade(i) for i in range(25)]
    equity = curve(300, 1)
    results.write("bt_a", written, equity)
    results.write("bt_b", [trade(99)], curve(5, 2))

    read = results.trades("bt_a", 0, 1000)
    assert len(read) == 25
    for got, want in zip(read, written, strict=True):
        assert got == {
            **want,
            "entry_time": want["entry_time"][:19] + "Z",
            "exit_time": want["exit_time"][:19] + "Z",
        }
    assert results.trades("bt_a", 20, 3) == read[20:23]

    points = results.equity("bt_a", 100_000)
    assert [p["equity"] for p in points] == equity["equity"].tolist()
    assert [p["drawdown_pct"] for p in points] == equity["drawdown_pct"].tolist()
    assert points[0]["ts"] == "2024-01-01T00:00:00Z"
    thinned = results.equity("bt_a", 7)
    assert 4 <= len(thinned) <= 7 and thinned[-1] == points[-1]
    assert [p["ts"] for p in thinned] == sorted(p["ts"] for p in thinned)


def test_deleting_one_backtest_leaves_the_others(results: BacktestLake) -> None:
    results.write("bt_a", [trade(1)], curve(3, 1))
    results.write("bt_b", [trade(2)], curve(3, 2))
    results.delete("bt_a")
    assert results.trades("bt_a", 0, 10) == [] and results.equity("bt_a", 10) == []
    assert len(results.trades("bt_b", 0, 10)) == 1 and len(results.equity("bt_b", 10)) == 3


def test_a_failed_write_leaves_nothing_behind(results: BacktestLake) -> None:
    broken = {"ts_ns": np.arange(3), "equity": np.ones(2), "drawdown_pct": np.zeros(3)}  # mismatched lengths
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's own error for ragged columns
        results.write("bt_bad", [trade(1)], broken)
    assert results.trades("bt_bad", 0, 10) == [] and results.equity("bt_bad", 10) == []


def test_no_trades_is_an_empty_file_not_a_missing_one(results: BacktestLake) -> None:
    results.write("bt_none", [], curve(4, 3))
    assert results.trades("bt_none", 0, 10) == []
    assert len(results.equity("bt_none", 10)) == 4


def block(number: int, first: int, symbols: list[str], vectorised: int = 0) -> SweptBlock:
    return SweptBlock(
        block=number,
        first_combination=first,
        symbols=symbols,
        bars=[100 + i for i in range(len(symbols))],
        fingerprints=[f"fp-{s}" for s in symbols],
        vectorised=vectorised,
    )


def test_sweep_statistics_are_read_back_exactly_from_its_blocks_with_undefined_ones_kept(
    lake: ParquetLake,
) -> None:
    sweeps = SweepLake(lake)
    keys = ("return_pct", "sharpe_ratio", "trades")
    stats = np.random.default_rng(5).normal(size=(4, 3, len(keys)))
    stats[1, 2, 1] = np.nan  # a Sharpe ratio undefined on one symbol
    symbols = ["GOOG", "MSFT", "AAPL"]
    # three blocks: GOOG+MSFT with every combination, AAPL split in two by combination
    sweeps.write_block("sw_a", block(0, 0, symbols[:2], vectorised=8), keys, stats[:, :2])
    sweeps.write_block("sw_a", block(2, 2, symbols[2:]), keys, stats[2:, 2:])
    sweeps.write_block("sw_a", block(1, 0, symbols[2:], vectorised=2), keys, stats[:2, 2:])
    sweeps.write_block("sw_b", block(0, 0, symbols[:1]), keys, stats[:, :1])
    back = sweeps.read("sw_a", symbols, keys, 4)
    assert np.array_equal(back, stats, equal_nan=True)
    reordered = sweeps.read("sw_a", list(reversed(symbols)), keys[::-1], 4)
    assert np.array_equal(reordered, stats[:, ::-1, ::-1], equal_nan=True)
    assert sweeps.blocks("sw_a") == [
        block(0, 0, symbols[:2], vectorised=8),
        block(1, 0, symbols[2:], vectorised=2),
        block(2, 2, symbols[2:]),
    ]
    sweeps.delete("sw_a")
    assert np.isnan(sweeps.read("sw_a", symbols, keys, 4)).all()
    assert sweeps.blocks("sw_a") == []
    assert np.array_equal(sweeps.read("sw_b", symbols[:1], keys, 4), stats[:, :1], equal_nan=True)


def test_a_block_written_again_replaces_itself_and_failures_are_kept_by_block(lake: ParquetLake) -> None:
    sweeps = SweepLake(lake)
    keys = ("return_pct",)
    first, again = np.zeros((2, 1, 1)), np.ones((2, 1, 1))
    sweeps.write_block("sw_r", block(0, 0, ["GOOG"]), keys, first)
    sweeps.write_block("sw_r", block(0, 0, ["GOOG"]), keys, again)  # a retried invocation
    assert np.array_equal(sweeps.read("sw_r", ["GOOG"], keys, 2), again)
    assert len(sweeps.blocks("sw_r")) == 1
    assert sweeps.failures("sw_r") == []
    sweeps.write_failure("sw_r", 3, "ValueError: three")
    sweeps.write_failure("sw_r", 1, "RuntimeError: one")
    assert sweeps.failures("sw_r") == ["RuntimeError: one", "ValueError: three"]
    sweeps.delete("sw_r")
    assert sweeps.failures("sw_r") == []
