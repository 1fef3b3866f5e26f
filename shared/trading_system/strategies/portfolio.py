"""Portfolio backtests: one strategy over several symbols sharing one cash account.

Each symbol keeps its own book (orders, trades, bars) run by the single-symbol broker's rules;
what they share is the cash, the equity (cash plus every book's open profit, each at its own
last close) and so the margin a fraction-sized order may use. The symbols' bars are merged on
one timeline: at each moment every symbol that has a bar then processes its waiting orders (in
the order the symbols were given), the portfolio's equity is recorded, and then the strategy
sees each of those symbols' bars. A symbol without a bar at a moment (a holiday, a later
listing) keeps its last close. With one symbol this is exactly the single-symbol engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from trading_system.strategies.engine import Bars, Broker, Trade, closed_trade, fill_gaps, warmup_bars
from trading_system.strategies.fills import FillProfile
from trading_system.strategies.statistics import ClosedTrade


class Account:
    """The cash the books share; equity and margin across the books, marked at the current
    moment's closes. What each book holds is kept in arrays, refreshed only for the books whose
    trades changed, so marking 500 books costs a few vectorised operations, not 500 calls."""

    def __init__(self, cash: float, closes: np.ndarray):
        self.cash = cash
        self.books: list[Book] = []
        self.closes = closes  # (books, moments): each symbol's last close at each moment
        self.t = 0
        count = closes.shape[0]
        self._held = np.zeros(count)
        self._entries = np.zeros(count)
        self._gross = np.zeros(count)
        self._holding = np.zeros(count, dtype=bool)
        self._changed: set[int] = set()

    def changed(self, book: Book) -> None:
        self._changed.add(book.k)

    def equity(self) -> float:
        self._refresh()
        held = self._holding
        if not held.any():
            return self.cash
        # each book's open profit with the single-symbol arithmetic (price x size - entries)
        unrealized = self.closes[held, self.t] * self._held[held] - self._entries[held]
        return self.cash + float(unrealized.sum())

    def margin_used(self) -> float:
        self._refresh()
        held = self._holding
        return float((self._gross[held] * self.closes[held, self.t]).sum()) if held.any() else 0.0

    def _refresh(self) -> None:
        for k in self._changed:
            book = self.books[k]
            book._remember_trades()
            self._held[k], self._entries[k] = book._held, book._entries
            self._gross[k] = sum(abs(t.size) for t in book.trades)
            self._holding[k] = bool(book.trades)
        self._changed.clear()


class Book(Broker):
    """One symbol's orders and trades in a portfolio: its cash, equity and margin are the account's."""

    def __init__(self, k: int, symbol: str, bars: Bars, account: Account, profile: FillProfile):
        self.account = account
        self.k = k
        self.symbol = symbol
        super().__init__(bars, account.cash, profile)
        account.books.append(self)

    @property  # type: ignore[override]
    def cash(self) -> float:
        return self.account.cash

    @cash.setter
    def cash(self, value: float) -> None:
        self.account.cash = value

    @property
    def equity(self) -> float:
        return self.account.equity()

    @property
    def margin_available(self) -> float:
        return max(0.0, self.account.equity() - self.account.margin_used())

    def margin_used(self) -> float:
        return self.account.margin_used()

    def positions_held(self) -> int:
        """Symbols holding a position or with an order waiting (Context.positions_held)."""
        return sum(1 for book in self.account.books if book.trades or book.orders)

    def _open_trade(
        self, price: float, size: float, sl: float | None, tp: float | None, bar: int, tag: str | None
    ) -> None:
        super()._open_trade(price, size, sl, tp, bar, tag)
        self.account.changed(self)

    def _close_trade(self, trade: Trade, price: float, bar: int) -> None:
        super()._close_trade(trade, price, bar)
        self.account.changed(self)


@dataclass
class Leg:
    """What a portfolio backtest needs of one symbol."""

    symbol: str
    bars: Bars
    indicators: dict[str, np.ndarray]
    decide: Callable[[Broker, int], None]
    active: np.ndarray | None = None


@dataclass
class PortfolioRun:
    timeline_ns: np.ndarray
    equity: np.ndarray
    trades: list[tuple[str, ClosedTrade]]  # bars counted on the timeline (for exposure)
    symbol_trades: list[tuple[str, ClosedTrade]]  # bars counted in each symbol's own bars
    open_trades: list[tuple[str, Trade]]
    warmup: int  # timeline index of the first bar after every symbol's warm-up, less one


def run_portfolio(
    legs: Sequence[Leg], cash: float, profile: FillProfile, finalize: bool = True
) -> PortfolioRun:
    timeline = np.unique(np.concatenate([leg.bars.ts_ns for leg in legs]))
    moments = len(timeline)
    starts = [1 + warmup_bars(leg.indicators) for leg in legs]
    # where each moment falls in each symbol's bars (-1: no bar of it then), each symbol's last
    # close at each moment, and the moments at which each symbol's strategy may act
    at = np.full((len(legs), moments), -1, dtype=np.int64)
    closes = np.full((len(legs), moments), np.nan)
    acts = np.zeros((len(legs), moments), dtype=bool)
    for k, (leg, start) in enumerate(zip(legs, starts, strict=True)):
        where = np.searchsorted(timeline, leg.bars.ts_ns)
        at[k, where] = np.arange(len(leg.bars))
        last = np.maximum.accumulate(np.where(at[k] >= 0, np.arange(moments), 0))
        closes[k] = leg.bars.close[at[k, last]]
        may = np.ones(len(leg.bars), dtype=bool) if leg.active is None else leg.active.astype(bool).copy()
        may[:start] = False
        acts[k, where] = may
    account = Account(cash, closes)
    books = [Book(k, leg.symbol, leg.bars, account, profile) for k, leg in enumerate(legs)]
    first_trading = min(
        int(np.searchsorted(timeline, leg.bars.ts_ns[start])) if start < len(leg.bars) else moments
        for leg, start in zip(legs, starts, strict=True)
    )
    # The warm-up as the statistics count it (backtesting.py's: the slowest indicator's first
    # value, one bar before trading can begin), on the timeline.
    warmed = min(
        int(np.searchsorted(timeline, leg.bars.ts_ns[start - 1])) if start <= len(leg.bars) else moments
        for leg, start in zip(legs, starts, strict=True)
    )
    equity = np.full(moments, np.nan)
    waiting: set[int] = set()  # books with orders
    broke = False
    for t in range(first_trading, moments):
        account.t = t
        acting = np.flatnonzero(acts[:, t]).tolist()
        for k in sorted(waiting.union(acting)):
            i = int(at[k, t])
            if i < 0:  # no bar of this symbol now: its orders wait
                continue
            book = books[k]
            book.i = i
            if book.orders:
                book._process_orders()
                if not book.orders:
                    waiting.discard(k)
        value = account.equity()
        equity[t] = value
        if value <= 0:
            for book in books:
                for trade in list(book.trades):
                    book._close_trade(trade, book.last_price, book.i)
            account.cash = 0.0
            equity[t:] = 0.0
            broke = True
            break
        for k in acting:
            book = books[k]
            legs[k].decide(book, book.i)
            if book.orders:
                waiting.add(k)
    if not broke and finalize and first_trading < moments:
        for book in books:
            for trade in reversed(book.trades):
                book.close_trade_order(trade)
        account.t = moments - 1
        for book, leg, start in zip(books, legs, starts, strict=True):
            if start < len(leg.bars) and book.orders:
                book.i = len(leg.bars) - 1
                book._process_orders()
        value = account.equity()
        equity[-1] = value if value > 0 else 0.0
    equity = fill_gaps(equity, account.cash)
    own, on_timeline = [], []
    for book in books:
        for trade in book.closed:
            assert trade.exit_bar is not None
            own.append((book.symbol, closed_trade(trade, book.bars)))
            entry, exit_ = np.searchsorted(timeline, book.bars.ts_ns[[trade.entry_bar, trade.exit_bar]])
            on_timeline.append((book.symbol, closed_trade(trade, book.bars, int(entry), int(exit_))))
    order = sorted(range(len(own)), key=lambda n: (own[n][1].entry_ns, own[n][1].exit_ns, own[n][0]))
    return PortfolioRun(
        timeline_ns=timeline,
        equity=equity,
        trades=[on_timeline[n] for n in order],
        symbol_trades=[own[n] for n in order],
        open_trades=[(book.symbol, trade) for book in books for trade in book.trades],
        warmup=min(warmed, len(timeline) - 1),
    )


def buy_and_hold_index(legs: Sequence[Leg], timeline: np.ndarray) -> np.ndarray:
    """An equal-weight index of the symbols' closes (each forward-filled and divided by its first
    close), the portfolio's buy-and-hold benchmark."""
    scaled = np.full((len(legs), len(timeline)), np.nan)
    for k, leg in enumerate(legs):
        where = np.searchsorted(timeline, leg.bars.ts_ns)
        scaled[k, where] = leg.bars.close / leg.bars.close[0]
        filled = np.maximum.accumulate(np.where(np.isnan(scaled[k]), -1, np.arange(len(timeline))))
        valid = filled >= 0
        scaled[k, valid] = scaled[k, filled[valid]]
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(scaled), axis=0)
        index: np.ndarray = np.where(counts > 0, np.nansum(scaled, axis=0) / np.maximum(counts, 1), np.nan)
    return index
