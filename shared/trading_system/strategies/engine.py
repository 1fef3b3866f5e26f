"""The backtest engine: walks the bars of one symbol, lets a strategy decide on each one, and
fills its orders with the fill profile's rules.

The broker follows backtesting.py 0.6.6's (FIFO netting, no hedging, orders processed at the
start of the next bar, stop orders turning into market or limit orders once touched, stop-loss
and take-profit brackets attached to the trade they protect, fractional sizes sized from the
margin available), so that with the `backtesting_py` profile the same strategy gives the same
trades to the last digit. Prices and cash are floats here: the engine runs millions of bar-steps
in a sweep; Decimal belongs in the ledger of a live account.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import copysign

import numpy as np

from trading_system.strategies.fills import FillProfile
from trading_system.strategies.statistics import ClosedTrade

_INF = float("inf")
FULL_EQUITY = 1 - sys.float_info.epsilon  # backtesting.py's default size: all the margin available


class OrderRejected(ValueError):
    """An order the strategy cannot place (brackets on the wrong side of the price, no size)."""


@dataclass(slots=True, eq=False)
class Order:
    size: float  # signed; a fraction of the margin available when -1 < size < 1
    limit: float | None = None
    stop: float | None = None
    sl: float | None = None
    tp: float | None = None
    parent: Trade | None = None  # set on bracket orders and on orders closing a trade
    tag: str | None = None

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def is_contingent(self) -> bool:
        parent = self.parent
        return parent is not None and (self is parent.sl_order or self is parent.tp_order)


@dataclass(slots=True, eq=False)
class Trade:
    size: float
    entry_price: float
    entry_bar: int
    tag: str | None = None
    sl_order: Order | None = None
    tp_order: Order | None = None
    exit_price: float | None = None
    exit_bar: int | None = None
    commissions: float = 0.0

    @property
    def is_long(self) -> bool:
        return self.size > 0


@dataclass
class Bars:
    """One symbol's bars, as arrays (ts in int64 nanoseconds, UTC)."""

    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)

    def column(self, name: str) -> np.ndarray:
        array: np.ndarray = getattr(self, name)
        return array


@dataclass
class Broker:
    bars: Bars
    cash: float
    profile: FillProfile
    orders: list[Order] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    closed: list[Trade] = field(default_factory=list)
    i: int = 0

    def __post_init__(self) -> None:
        # Lists, not arrays, for the one-value-per-bar reads of the inner loop (several times faster).
        self._open: list[float] = self.bars.open.tolist()
        self._high: list[float] = self.bars.high.tolist()
        self._low: list[float] = self.bars.low.tolist()
        self._close: list[float] = self.bars.close.tolist()
        self._held: float | None = None  # position size and entry values, while trades do not change
        self._entries: float = 0.0
        profile = self.profile  # read once: the inner loop uses these on every fill
        self._rate, self._fixed, self._spread = profile.commission, profile.commission_fixed, profile.spread
        self._on_close, self._whole = profile.market_fill == "last_close", profile.whole_units

    # -- what the strategy reads ----------------------------------------------------------------

    @property
    def last_price(self) -> float:
        return self._close[self.i]

    @property
    def position_size(self) -> float:
        if self._held is None:
            self._remember_trades()
        return self._held  # type: ignore[return-value]

    @property
    def equity(self) -> float:
        return self.cash + self.unrealized()

    def unrealized(self) -> float:
        """The open trades' profit at the current close: backtesting.py's very arithmetic (price
        x size - the sum of entry values), so results are equal to the last bit."""
        if self._held is None:
            self._remember_trades()
        return self._close[self.i] * self._held - self._entries  # type: ignore[operator]

    def _remember_trades(self) -> None:
        """What equity needs of the open trades, kept until they change (most bars they do not)."""
        trades = self.trades
        self._held = float(sum(int(t.size) for t in trades)) if self._whole else sum(t.size for t in trades)
        self._entries = sum(t.size * t.entry_price for t in trades)

    @property
    def margin_available(self) -> float:
        if not self.trades:
            return max(0.0, self.cash)
        return max(0.0, self.equity - self.margin_used())

    def margin_used(self) -> float:
        price = self._close[self.i]
        return sum(abs(t.size) * price for t in self.trades)  # margin 1: no leverage

    # -- orders ---------------------------------------------------------------------------------

    def new_order(
        self,
        size: float,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: str | None = None,
        parent: Trade | None = None,
    ) -> Order:
        if size == 0:
            raise OrderRejected("an order needs a size")
        price = limit or stop or self._adjusted(size, self.last_price)
        if size > 0 and not (sl or -_INF) < price < (tp or _INF):
            raise OrderRejected(f"a long order needs stop loss ({sl}) < price ({price}) < take profit ({tp})")
        if size < 0 and not (tp or -_INF) < price < (sl or _INF):
            raise OrderRejected(
                f"a short order needs take_profit ({tp}) < price ({price}) < stop_loss ({sl})"
            )
        order = Order(size, limit, stop, sl, tp, parent, tag)
        # bracket stops go first, so a stop-loss is met before anything else on a bar
        self.orders.insert(0 if parent is not None and stop else len(self.orders), order)
        return order

    def close_trade_order(self, trade: Trade, portion: float = 1.0) -> None:
        size = copysign(max(1, round(abs(trade.size) * portion)), -trade.size)
        self.orders.insert(0, Order(size, parent=trade, tag=trade.tag))

    def set_bracket(self, trade: Trade, kind: str, price: float | None) -> None:
        current = trade.sl_order if kind == "sl" else trade.tp_order
        if current is not None:
            self._cancel(current)
        if price:
            order = self.new_order(
                -trade.size,
                stop=price if kind == "sl" else None,
                limit=price if kind == "tp" else None,
                parent=trade,
                tag=trade.tag,
            )
            if kind == "sl":
                trade.sl_order = order
            else:
                trade.tp_order = order

    def _cancel(self, order: Order) -> None:
        self.orders.remove(order)
        trade = order.parent
        if trade is not None:
            if order is trade.sl_order:
                trade.sl_order = None
            elif order is trade.tp_order:
                trade.tp_order = None

    # -- the bar ------------------------------------------------------------------------------

    def step(self, i: int) -> float:
        """Process the orders on bar i, then return the equity at its close."""
        self.i = i
        if self.orders:
            self._process_orders()
        if not self.trades:
            return self.cash
        return self.equity

    def _commission(self, size: float, price: float) -> float:
        return self._fixed + abs(size) * price * self._rate

    def _adjusted(self, size: float, price: float) -> float:
        return price * (1 + copysign(self._spread, size))

    def _process_orders(self) -> None:
        i = self.i
        open_, high, low = self._open[i], self._high[i], self._low[i]
        on_close = self._on_close
        reprocess = False
        for order in list(self.orders):
            if order not in self.orders:  # a bracket already removed with its trade
                continue
            stop_price = order.stop
            if stop_price:
                if not (high >= stop_price if order.is_long else low <= stop_price):
                    continue
                order.stop = None  # touched: it is a market or limit order from now on
            if order.limit:
                hit = low <= order.limit if order.is_long else high >= order.limit
                # a limit hit on the same bar as its stop is assumed to come first: not filled
                before_stop = hit and (
                    order.limit <= (stop_price or -_INF)
                    if order.is_long
                    else order.limit >= (stop_price or _INF)
                )
                if not hit or before_stop:
                    continue
                price = (
                    min(stop_price or open_, order.limit)
                    if order.is_long
                    else max(stop_price or open_, order.limit)
                )
            else:
                price = self._close[i - 1] if on_close and not order.is_contingent else open_
                if stop_price:
                    price = max(price, stop_price) if order.is_long else min(price, stop_price)
            is_market = not order.limit and not stop_price
            bar = i - 1 if is_market and on_close and not order.is_contingent else i

            if order.parent is not None:
                trade = order.parent
                before = trade.size
                size = copysign(min(abs(before), abs(order.size)), order.size)
                if trade in self.trades:
                    self._reduce_trade(trade, price, size, bar)
                    if order is trade.sl_order:
                        order.stop = stop_price  # kept for the record, as backtesting.py does
                if order is not trade.sl_order and order is not trade.tp_order:
                    self.orders.remove(order)  # a close order, done
                continue

            adjusted = self._adjusted(order.size, price)
            adjusted_with_commission = adjusted + self._commission(order.size, price) / abs(order.size)
            size = order.size
            if -1 < size < 1:
                available = self.margin_available * abs(size)
                units = (
                    int(available // adjusted_with_commission)  # the very arithmetic of backtesting.py
                    if self._whole
                    else available / adjusted_with_commission
                )
                size = copysign(units, size)
                if not size:
                    self.orders.remove(order)  # not enough cash for one unit: the broker cancels
                    continue
            need = size
            for trade in list(self.trades):  # FIFO: the order first closes opposite trades
                if trade.is_long == order.is_long:
                    continue
                if abs(need) >= abs(trade.size):
                    self._close_trade(trade, price, bar)
                    need += trade.size
                else:
                    self._reduce_trade(trade, price, need, bar)
                    need = 0
                if not need:
                    break
            if abs(need) * adjusted_with_commission > self.margin_available:
                self.orders.remove(order)  # not enough margin: the broker cancels it
                continue
            if need:
                self._open_trade(adjusted, need, order.sl, order.tp, bar, order.tag)
                # Brackets of a new trade may fill on this very bar: go over the orders again.
                same_bar_take_profit = (
                    stop_price
                    and not order.limit
                    and order.tp
                    and (
                        (order.is_long and order.tp <= high and (order.sl or -_INF) < low)
                        or (not order.is_long and order.tp >= low and (order.sl or _INF) > high)
                    )
                )
                if (order.sl or order.tp) and (is_market or same_bar_take_profit):
                    reprocess = True
            self.orders.remove(order)
        if reprocess:
            self._process_orders()

    def _reduce_trade(self, trade: Trade, price: float, size: float, bar: int) -> None:
        self._held = None
        left = trade.size + size
        if not left:
            closing = trade
        else:
            trade.size = left
            if trade.sl_order is not None:
                trade.sl_order.size = -left
            if trade.tp_order is not None:
                trade.tp_order.size = -left
            closing = Trade(-size, trade.entry_price, trade.entry_bar, trade.tag)
            self.trades.append(closing)
        self._close_trade(closing, price, bar)

    def _close_trade(self, trade: Trade, price: float, bar: int) -> None:
        self._held = None
        self.trades.remove(trade)
        for bracket in (trade.sl_order, trade.tp_order):
            if bracket is not None and bracket in self.orders:
                self.orders.remove(bracket)
        exit_commission = self._commission(trade.size, price)
        self.cash += trade.size * (price - trade.entry_price) - exit_commission
        trade.exit_price, trade.exit_bar = price, bar
        trade.commissions = exit_commission + self._commission(trade.size, trade.entry_price)
        self.closed.append(trade)

    def _open_trade(
        self, price: float, size: float, sl: float | None, tp: float | None, bar: int, tag: str | None
    ) -> None:
        trade = Trade(size, price, bar, tag)
        self.trades.append(trade)
        self._held = None
        self.cash -= self._commission(size, price)
        if tp:
            self.set_bracket(trade, "tp", tp)
        if sl:
            self.set_bracket(trade, "sl", sl)


def warmup_bars(indicators: Mapping[str, np.ndarray]) -> int:
    """The bars before every indicator has a value (backtesting.py's rule: the first non-NaN
    index of the slowest one)."""
    return max((int(np.isnan(values.astype(float)).argmin()) for values in indicators.values()), default=0)


@dataclass
class Run:
    """What a run leaves: the closed trades, the equity per bar and where trading began."""

    trades: list[ClosedTrade]
    open_trades: list[Trade]
    equity: np.ndarray
    warmup: int


def run(
    bars: Bars,
    indicators: Mapping[str, np.ndarray],
    decide: Callable[[Broker, int], None],
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
    active: np.ndarray | None = None,
) -> Run:
    """Walk the bars: on each, the broker processes the waiting orders, then `decide` sees the
    bar's close and may place orders for the next one. With `finalize`, trades still open at the
    end are closed on the last bar, as backtesting.py's finalize_trades=True does.

    `active`, when given, marks the bars on which `decide` may act (a superset is fine). Between
    them, while no order waits, nothing can happen but prices moving: those stretches are marked
    to market in one vectorised step, with the same arithmetic as a bar-by-bar walk, so the
    result is identical to the last bit (tests hold the two paths to that)."""
    broker = Broker(bars, cash, profile)
    n = len(bars)
    equity = np.full(n, np.nan)
    warmup = warmup_bars(indicators)
    start = 1 + warmup
    acting: list[int] | None = np.flatnonzero(active).tolist() if active is not None else None
    i = start
    broke = False
    while i < n:
        if acting is not None and not broker.orders:
            k = bisect_left(acting, i)
            upto = acting[k] if k < len(acting) else n
            if upto > i:
                stretch = _marked(broker, i, upto)
                if stretch.min() > 0:
                    equity[i:upto] = stretch
                    i = upto
                    continue
                losing = int(np.argmax(stretch <= 0))
                equity[i : i + losing] = stretch[:losing]
                i += losing  # the bar where the money runs out is walked below
        equity[i] = value = broker.step(i)
        if value <= 0:
            for trade in list(broker.trades):
                broker._close_trade(trade, broker.last_price, i)
            broker.cash = 0.0
            equity[i:] = 0.0
            broke = True
            break
        if active is None or active[i]:
            decide(broker, i)
        i += 1
    if not broke and finalize and start < n:
        for trade in reversed(broker.trades):
            broker.close_trade_order(trade)
        last = n - 1
        broker.i = last
        value = broker.step(last)
        equity[last] = value if value > 0 else 0.0
    filled = fill_gaps(equity, broker.cash)
    return Run(
        trades=[closed_trade(t, bars) for t in broker.closed],
        open_trades=list(broker.trades),
        equity=filled,
        warmup=warmup,
    )


def _marked(broker: Broker, start: int, stop: int) -> np.ndarray:
    """Equity on bars [start, stop) with no order waiting: the broker's own formula, vectorised."""
    if not broker.trades:
        return np.full(stop - start, broker.cash)
    size = broker.position_size
    unrealized = broker.bars.close[start:stop] * size - broker._entries
    result: np.ndarray = broker.cash + unrealized
    return result


def fill_gaps(equity: np.ndarray, cash: float) -> np.ndarray:
    """Bars before trading began take the first equity (a backward fill); any after it stopped
    take the cash left."""
    out = equity.copy()
    known = np.flatnonzero(~np.isnan(out))
    if len(known):
        out[: known[0]] = out[known[0]]
        last = known[-1]
        out[last + 1 :] = np.where(np.isnan(out[last + 1 :]), cash, out[last + 1 :])
    else:
        out[:] = cash
    return out


def closed_trade(
    trade: Trade, bars: Bars, entry_bar: int | None = None, exit_bar: int | None = None
) -> ClosedTrade:
    """A closed trade as the statistics take it; its bars may be counted on another timeline
    (a portfolio's) than the symbol's own bars, which give its times."""
    assert trade.exit_price is not None and trade.exit_bar is not None
    gross = trade.size * (trade.exit_price - trade.entry_price)
    pnl = gross - trade.commissions
    return_pct = copysign(1, trade.size) * (trade.exit_price / trade.entry_price - 1) - trade.commissions / (
        abs(trade.size) * trade.entry_price
    )
    return ClosedTrade(
        size=trade.size,
        entry_bar=trade.entry_bar if entry_bar is None else entry_bar,
        exit_bar=trade.exit_bar if exit_bar is None else exit_bar,
        entry_price=trade.entry_price,
        exit_price=trade.exit_price,
        pnl=pnl,
        return_pct=return_pct,
        commissions=trade.commissions,
        entry_ns=int(bars.ts_ns[trade.entry_bar]),
        exit_ns=int(bars.ts_ns[trade.exit_bar]),
    )
