"""Fills in the Parquet lake: `fills/date=<market day>/<id>.parquet`, one file per recorded
batch, and P&L by day or symbol computed over them in DuckDB.

Decimals are stored as DECIMAL(38, 9) (quantities, prices, money): sums stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from trading_system.adapters.lake import ParquetLake
from trading_system.kernel.clock import sortable_id

_MONEY = "DECIMAL(38, 9)"
FILL_SCHEMA = {
    "fill_id": "VARCHAR",
    "order_id": "VARCHAR",
    "account_id": "VARCHAR",
    "epoch": "BIGINT",
    "symbol": "VARCHAR",
    "side": "VARCHAR",
    "qty": _MONEY,
    "price": _MONEY,
    "commission": _MONEY,
    "realized_pl": _MONEY,
    "market_time": "TIMESTAMPTZ",
    "recorded_at": "TIMESTAMPTZ",
}


class FillLake:
    def __init__(self, lake: ParquetLake):
        self.lake = lake

    def append(self, fills: Sequence[dict[str, Any]]) -> None:
        by_day: dict[str, list[dict[str, Any]]] = {}
        for fill in fills:
            by_day.setdefault(str(fill["market_time"])[:10], []).append(fill)
        for day, rows in by_day.items():
            self.lake.write_rows(f"fills/date={day}/{sortable_id()}.parquet", rows, FILL_SCHEMA)

    def pnl(
        self,
        account_id: str,
        by: Literal["day", "symbol"],
        epoch: int | None,
        start: date | None,
        end: date | None,
    ) -> list[dict[str, Any]]:
        files = self.lake.files.list_files("fills/")
        if not files:
            return []
        where = ["account_id = $account_id"]
        params: dict[str, Any] = {"files": files, "account_id": account_id}
        if epoch is not None:
            where.append("epoch = $epoch")
            params["epoch"] = epoch
        if start is not None:
            where.append("CAST(market_time AT TIME ZONE 'UTC' AS DATE) >= $start")
            params["start"] = start
        if end is not None:
            where.append("CAST(market_time AT TIME ZONE 'UTC' AS DATE) <= $end")
            params["end"] = end
        key = "CAST(market_time AT TIME ZONE 'UTC' AS DATE)" if by == "day" else "symbol"
        # One fill may be recorded twice (at-least-once delivery): count each fill_id once.
        rows = self.lake.query(
            f"""
            WITH fills AS (
                SELECT * FROM read_parquet($files, union_by_name = true)
                WHERE {" AND ".join(where)}
                QUALIFY row_number() OVER (PARTITION BY fill_id ORDER BY recorded_at) = 1
            )
            SELECT {key} AS {by},
                   sum(realized_pl) AS realized_pl,
                   sum(commission) AS commission,
                   sum(realized_pl) - sum(commission) AS net_pl,
                   count(*) AS fills,
                   sum(CASE WHEN side = 'buy' THEN qty ELSE 0 END) AS bought_qty,
                   sum(CASE WHEN side = 'sell' THEN qty ELSE 0 END) AS sold_qty,
                   sum(qty * price) AS traded_value
            FROM fills GROUP BY {key} ORDER BY {key}
            """,
            params,
        )
        return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return value
