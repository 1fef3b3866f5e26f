"""What a backtest reports: its definition, what it ran on, the trades, the statistics and,
when asked, the equity curve. Numbers are floats in backtesting.py's units and signs; a
statistic that is undefined (Sharpe with no variance) is null."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel

from trading_system.market_data.domain import Timeframe
from trading_system.strategies.engine import Bars
from trading_system.strategies.statistics import ClosedTrade


class TradeRow(BaseModel):
    symbol: str
    size: float  # negative for shorts
    entry_bar: int
    exit_bar: int
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    pnl: float
    return_pct: float
    commission: float

    @classmethod
    def of(cls, symbol: str, trade: ClosedTrade) -> TradeRow:
        return cls(
            symbol=symbol,
            size=trade.size,
            entry_bar=trade.entry_bar,
            exit_bar=trade.exit_bar,
            entry_time=utc(trade.entry_ns),
            exit_time=utc(trade.exit_ns),
            entry_price=trade.entry_price,
            exit_price=trade.exit_price,
            pnl=trade.pnl,
            return_pct=trade.return_pct * 100,
            commission=trade.commissions,
        )


class EquityPoint(BaseModel):
    ts: datetime
    equity: float
    drawdown_pct: float


class BacktestReport(BaseModel):
    backtest_id: str
    strategy: str
    params: dict[str, Any]
    symbols: list[str]
    timeframe: Timeframe
    source_timeframe: Timeframe
    start: datetime
    end: datetime
    bars: int
    cash: float
    profile: dict[str, Any]
    finalize: bool
    code_version: str
    data_fingerprint: str  # sha256 of the bars the backtest read: same data, same fingerprint
    stats: dict[str, Any]
    trades: list[TradeRow]
    open_trades: int
    equity: list[EquityPoint] | None = None


def fingerprint(bars: Sequence[Bars]) -> str:
    """SHA-256 of every bar read, symbol after symbol: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for one in bars:
        for column in (one.ts_ns, one.open, one.high, one.low, one.close, one.volume):
            digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def equity_points(ts_ns: np.ndarray, equity: np.ndarray) -> list[EquityPoint]:
    peak = np.maximum.accumulate(equity)
    with np.errstate(invalid="ignore", divide="ignore"):
        drawdown = np.nan_to_num(-(1 - equity / peak) * 100)
    return [
        EquityPoint(ts=utc(ts), equity=value, drawdown_pct=dd)
        for ts, value, dd in zip(ts_ns.tolist(), equity.tolist(), drawdown.tolist(), strict=True)
    ]


def utc(ns: int) -> datetime:
    """A bar time (int64 nanoseconds) as a UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, UTC)
