"""What a backtest keeps besides its statistics: the trades, the equity and drawdown curves and
a fingerprint of the data. Numbers are floats in backtesting.py's units and signs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel

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


def fingerprint(bars: Sequence[Bars]) -> str:
    """SHA-256 of every bar read, symbol after symbol: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for one in bars:
        for column in (one.ts_ns, one.open, one.high, one.low, one.close, one.volume):
            digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """The drawdown from the running peak on each bar, in negative percent (backtesting.py's sign)."""
    peak = np.maximum.accumulate(equity)
    with np.errstate(invalid="ignore", divide="ignore"):
        drawdown: np.ndarray = np.nan_to_num(-(1 - equity / peak) * 100)
    return drawdown


def utc(ns: int) -> datetime:
    """A bar time (int64 nanoseconds) as a UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, UTC)
