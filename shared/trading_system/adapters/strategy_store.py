"""Strategies' stores: declarative strategies (kind `strategy`) and backtest jobs (kind
`backtest`) in the write store, backtest results in the Parquet lake.

- `backtests/backtest_id=<id>/trades.parquet`: every closed trade;
- `backtests/backtest_id=<id>/equity.parquet`: the equity and drawdown on every bar.

Each file is published whole (lake.write_query), and a job is marked completed only after both
are written, so readers that go through the job never see half a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trading_system.adapters.lake import ParquetLake
from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.kinds import DEPLOYMENTS, STRATEGIES
from trading_system.strategies.definitions import SavedStrategy
from trading_system.strategies.deployments import Deployment
from trading_system.strategies.ports import SweptBlock

TRADE_SCHEMA = {
    "symbol": "VARCHAR",
    "size": "DOUBLE",
    "entry_bar": "BIGINT",
    "exit_bar": "BIGINT",
    "entry_time": "TIMESTAMPTZ",
    "exit_time": "TIMESTAMPTZ",
    "entry_price": "DOUBLE",
    "exit_price": "DOUBLE",
    "pnl": "DOUBLE",
    "return_pct": "DOUBLE",
    "commission": "DOUBLE",
}


class BacktestLake:
    def __init__(self, lake: ParquetLake):
        self.lake = lake

    def write(self, backtest_id: str, trades: Sequence[dict[str, Any]], equity: dict[str, Any]) -> None:
        folder = _folder(backtest_id)
        try:
            self.lake.write_rows(f"{folder}trades.parquet", trades, TRADE_SCHEMA)
            cur = self.lake.conn.cursor()
            try:
                ts_ns = np.asarray(equity["ts_ns"], dtype=np.int64)
                cur.register(
                    "curve",
                    {
                        # the bar number from numpy, not row_number() OVER (): DuckDB 1.5.5's
                        # window operator fails now and then on a small registered relation
                        "bar": np.arange(len(ts_ns), dtype=np.int64),
                        "ts_ns": ts_ns,
                        "equity": np.asarray(equity["equity"], dtype=np.float64),
                        "drawdown_pct": np.asarray(equity["drawdown_pct"], dtype=np.float64),
                    },
                )
                self.lake.write_query(
                    f"{folder}equity.parquet",
                    "SELECT bar, make_timestamp(ts_ns // 1000) AS ts, equity, drawdown_pct FROM curve",
                    {},
                    cur,
                )
            finally:
                cur.close()
        except BaseException:
            self.delete(backtest_id)  # a half-written result must not stay behind
            raise

    def trades(self, backtest_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        files = self._file(backtest_id, "trades.parquet")
        if not files:
            return []
        return self.lake.query(
            "SELECT * EXCLUDE (entry_time, exit_time), "
            "strftime(entry_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS entry_time, "
            "strftime(exit_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS exit_time "
            "FROM read_parquet($files, hive_partitioning = false) "
            "ORDER BY exit_bar, entry_bar, symbol LIMIT $limit OFFSET $offset",
            {"files": files, "limit": limit, "offset": offset},
        )

    def equity(self, backtest_id: str, points: int) -> list[dict[str, Any]]:
        files = self._file(backtest_id, "equity.parquet")
        if not files:
            return []
        # Every n-th bar so at most `points` come back, the last bar always among them.
        return self.lake.query(
            """
            WITH curve AS (SELECT * FROM read_parquet($files, hive_partitioning = false)),
                 size AS (SELECT count(*) AS n FROM curve)
            SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, equity, drawdown_pct
            FROM curve, size
            WHERE (n - 1 - bar) % greatest(1, ceil(n / $points)::BIGINT) = 0
            ORDER BY bar
            """,
            {"files": files, "points": points},
        )

    def delete(self, backtest_id: str) -> None:
        self.lake.files.delete(self.lake.files.list_files(_folder(backtest_id)))

    def _file(self, backtest_id: str, name: str) -> list[str]:
        """The file as a list for read_parquet: empty if it is not there."""
        return [
            path for path in self.lake.files.list_files(_folder(backtest_id)) if path.endswith(f"/{name}")
        ]


class SweepLake:
    """A sweep's statistics, block by block, under `sweeps/sweep_id=<id>/`:
    - `stats-<block>.parquet`: one row per (combination, symbol) with every statistic (NaN where
      undefined);
    - `block-<block>.parquet`: the block's symbols, their bars and data fingerprints, written
      after its statistics, so a block is there once this file is;
    - `failed-<block>.parquet`: why a block failed.
    A block run again (a retried invocation) writes the same two names again, replacing them."""

    def __init__(self, lake: ParquetLake):
        self.lake = lake

    def write_block(self, sweep_id: str, block: SweptBlock, keys: Sequence[str], stats: np.ndarray) -> None:
        combos, count = stats.shape[0], len(block.symbols)
        columns: dict[str, np.ndarray] = {
            "combination": np.repeat(np.arange(combos, dtype=np.int64) + block.first_combination, count),
            "symbol_index": np.tile(np.arange(count, dtype=np.int64), combos),
        }
        flat = stats.reshape(combos * count, len(keys))
        for k, key in enumerate(keys):
            columns[key] = np.ascontiguousarray(flat[:, k])
        cur = self.lake.conn.cursor()
        try:
            cur.register("results", columns)
            cur.register(
                "names",
                {
                    "symbol_index": np.arange(count, dtype=np.int64),
                    "symbol": np.array(block.symbols, dtype=object),
                },
            )
            self.lake.write_query(
                f"{_sweep_folder(sweep_id)}stats-{block.block:05d}.parquet",
                "SELECT r.combination, n.symbol, r.* EXCLUDE (combination, symbol_index) "
                "FROM results r JOIN names n USING (symbol_index) ORDER BY r.combination, r.symbol_index",
                {},
                cur,
            )
        finally:
            cur.close()
        rows = [
            {
                "block": block.block,
                "first_combination": block.first_combination,
                "position": position,
                "symbol": symbol,
                "bars": bars,
                "fingerprint": fingerprint,
                "vectorised": block.vectorised,
            }
            for position, (symbol, bars, fingerprint) in enumerate(
                zip(block.symbols, block.bars, block.fingerprints, strict=True)
            )
        ]
        self.lake.write_rows(f"{_sweep_folder(sweep_id)}block-{block.block:05d}.parquet", rows, _BLOCK_SCHEMA)

    def blocks(self, sweep_id: str) -> list[SweptBlock]:
        files = self._files(sweep_id, "block-")
        if not files:
            return []
        rows = self.lake.query(
            "SELECT block, first_combination, list(symbol ORDER BY position) AS symbols, "
            "list(bars ORDER BY position) AS bars, list(fingerprint ORDER BY position) AS fingerprints, "
            "any_value(vectorised) AS vectorised FROM read_parquet($files, hive_partitioning = false) "
            "GROUP BY block, first_combination ORDER BY block",
            {"files": files},
        )
        return [SweptBlock(**row) for row in rows]

    def write_failure(self, sweep_id: str, block: int, error: str) -> None:
        self.lake.write_rows(
            f"{_sweep_folder(sweep_id)}failed-{block:05d}.parquet",
            [{"block": block, "error": error}],
            {"block": "BIGINT", "error": "VARCHAR"},
        )

    def failures(self, sweep_id: str) -> list[str]:
        files = self._files(sweep_id, "failed-")
        if not files:
            return []
        rows = self.lake.query(
            "SELECT error FROM read_parquet($files, hive_partitioning = false) ORDER BY block",
            {"files": files},
        )
        return [row["error"] for row in rows]

    def read(self, sweep_id: str, symbols: Sequence[str], keys: Sequence[str], combos: int) -> np.ndarray:
        """The statistics as written: shape (combinations, symbols, keys); NaN where no block wrote."""
        files = self._files(sweep_id, "stats-")
        stats = np.full((combos, len(symbols), len(keys)), np.nan)
        if not files:
            return stats
        index = {symbol: i for i, symbol in enumerate(symbols)}
        cur = self.lake.conn.cursor()
        try:
            selected = ", ".join(f'"{key}"' for key in keys)
            rows = cur.execute(
                f"SELECT combination, symbol, {selected} "
                "FROM read_parquet($files, hive_partitioning = false)",
                {"files": files},
            ).fetchnumpy()
        finally:
            cur.close()
        places = np.array([index[s] for s in rows["symbol"].tolist()], dtype=np.int64)
        for k, key in enumerate(keys):
            # DuckDB hands back NaN as NULL, a masked value: undefined again, never its fill value
            stats[rows["combination"], places, k] = np.ma.filled(
                np.ma.asarray(rows[key], dtype=np.float64), np.nan
            )
        return stats

    def delete(self, sweep_id: str) -> None:
        self.lake.files.delete(self.lake.files.list_files(_sweep_folder(sweep_id)))

    def _files(self, sweep_id: str, prefix: str) -> list[str]:
        folder = _sweep_folder(sweep_id)
        return [
            path
            for path in self.lake.files.list_files(folder)
            if path.rsplit("/", 1)[-1].startswith(prefix) and path.endswith(".parquet")
        ]


_BLOCK_SCHEMA = {
    "block": "BIGINT",
    "first_combination": "BIGINT",
    "position": "BIGINT",
    "symbol": "VARCHAR",
    "bars": "BIGINT",
    "fingerprint": "VARCHAR",
    "vectorised": "BIGINT",
}


def _sweep_folder(sweep_id: str) -> str:
    return f"sweeps/sweep_id={sweep_id}/"


def _folder(backtest_id: str) -> str:
    return f"backtests/backtest_id={backtest_id}/"


class DocumentSavedStrategies:
    """Declarative strategies by name."""

    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, name: str) -> SavedStrategy | None:
        doc = self.store.get(STRATEGIES, name)
        return SavedStrategy.model_validate(doc) if doc else None

    def add(self, strategy: SavedStrategy) -> None:
        self.store.put(STRATEGIES, strategy.name, strategy.model_dump(mode="json"), if_absent=True)

    def save(self, strategy: SavedStrategy) -> None:
        self.store.put(STRATEGIES, strategy.name, strategy.model_dump(mode="json"))

    def delete(self, name: str) -> None:
        self.store.delete(STRATEGIES, name)

    def list(self) -> list[SavedStrategy]:
        return [SavedStrategy.model_validate(doc) for _, doc in scan_all(self.store, STRATEGIES)]


class DocumentDeployments:
    """Live deployments by id (few: read whole, they are what every new bar is checked against)."""

    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, deployment_id: str) -> Deployment | None:
        doc = self.store.get(DEPLOYMENTS, deployment_id)
        return Deployment.model_validate(doc) if doc else None

    def add(self, deployment: Deployment) -> None:
        self.store.put(
            DEPLOYMENTS, deployment.deployment_id, deployment.model_dump(mode="json"), if_absent=True
        )

    def save(self, deployment: Deployment) -> None:
        self.store.put(DEPLOYMENTS, deployment.deployment_id, deployment.model_dump(mode="json"))

    def list(self) -> list[Deployment]:
        return [Deployment.model_validate(doc) for _, doc in scan_all(self.store, DEPLOYMENTS)]
