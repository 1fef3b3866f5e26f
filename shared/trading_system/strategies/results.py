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
    """The fingerprint of the data a run read: the same bars give the same fingerprint, whether
    one process read them all (a backtest) or each block of a sweep read its own symbols."""
    return combined_fingerprint([symbol_fingerprint(one) for one in bars])


def symbol_fingerprint(bars: Bars) -> str:
    """SHA-256 of every bar of one symbol."""
    digest = hashlib.sha256()
    for column in (bars.ts_ns, bars.open, bars.high, bars.low, bars.close, bars.volume):
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def combined_fingerprint(symbol_fingerprints: Sequence[str]) -> str:
    """SHA-256 of the symbols' fingerprints, in the run's symbol order."""
    return hashlib.sha256("".join(symbol_fingerprints).encode()).hexdigest()


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """The drawdown from the running peak on each bar, in negative percent (backtesting.py's sign)."""
    peak = np.maximum.accumulate(equity)
    with np.errstate(invalid="ignore", divide="ignore"):
        drawdown: np.ndarray = np.nan_to_num(-(1 - equity / peak) * 100)
    return drawdown


def utc(ns: int) -> datetime:
    """A bar time (int64 nanoseconds) as a UTC datetime."""
    return datetime.fromtimestamp(ns / 1e9, UTC)
