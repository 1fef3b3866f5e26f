"""Strategies: small classes that declare the indicators they need and decide on each bar.

    class SmaCross(Strategy):
        name = "sma_cross"
        summary = "Long when the fast SMA crosses above the slow one, short when below"

        class Params(StrategyParams):
            n1: int = Field(10, ge=1)
            n2: int = Field(20, ge=2)

        def indicators(self) -> dict[str, Indicator]:
            return {"fast": f"sma:{self.params.n1}", "slow": f"sma:{self.params.n2}"}

        def next(self, ctx: Context) -> None:
            if ctx.crossed_above("fast", "slow"):
                ctx.close()
                ctx.buy()

Indicators are computed once over the whole history, vectorised, by the analytics library (an
analytics spec such as `sma:50`, `macd:12:26:9/signal`) or by a function of the bars; on each bar
the strategy sees their values up to that bar and never a later one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import numpy as np

from trading_system.strategies.definitions import StrategyParams
from trading_system.strategies.engine import FULL_EQUITY, Bars

__all__ = ["PRICE_COLUMNS", "Context", "Indicator", "Strategy", "StrategyParams", "decide_only_when"]

Indicator = str | Callable[[Bars], np.ndarray]
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


class Strategy:
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    needs_scanner: ClassVar[bool] = False  # True: only meaningful with a backtest's universe_scanner
    # Why it cannot trade live, if it cannot: a live deployment decides each bar afresh, from the
    # bars and the account's position, so a strategy that remembers across bars is refused.
    not_live: ClassVar[str | None] = None

    def __init__(self, params: StrategyParams):
        self.params: Any = params

    def indicators(self) -> Mapping[str, Indicator]:
        """Named series the strategy reads: an analytics spec, or a function of the bars."""
        return {}

    def next(self, ctx: Context) -> None:
        """Decide on the bar that just closed; orders fill from the next bar on."""
        raise NotImplementedError

    def active_bars(self, series: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Optional: the bars on which `next` may act (True), computed from the series at once.
        A superset is fine; missing a bar where `next` would act is a bug that the engine's
        bar-by-bar check (`every_bar=True`) finds. None (the default): every bar."""
        return None


def decide_only_when(strategy: Strategy, allowed: Callable[[Context], bool]) -> None:
    """Let `strategy` decide only on bars where `allowed(ctx)` holds (a universe by date, a
    deployment's first bar). Its own active_bars stays right: this only takes decisions away."""
    decide = strategy.next

    def restricted(ctx: Context) -> None:
        if allowed(ctx):
            decide(ctx)

    strategy.next = restricted  # type: ignore[method-assign]


class Broker(Protocol):
    """What a Context needs of a broker: the engine's in a backtest, strategies.live's live."""

    @property
    def position_size(self) -> float: ...

    @property
    def cash(self) -> float: ...

    @property
    def equity(self) -> float: ...

    @property
    def trades(self) -> Sequence[Any]: ...

    @property
    def orders(self) -> Sequence[Any]: ...

    def new_order(
        self,
        size: float,
        limit: float | None = ...,
        stop: float | None = ...,
        sl: float | None = ...,
        tp: float | None = ...,
        tag: str | None = ...,
    ) -> Any: ...

    def close_trade_order(self, trade: Any, portion: float = ...) -> None: ...


class Context:
    """What a strategy sees and does on a bar: the bar and everything before it, its position,
    cash and equity, and orders."""

    def __init__(
        self, broker: Broker, bars: Bars, series: Mapping[str, np.ndarray], symbol: str | None = None
    ):
        self.symbol = symbol  # the symbol deciding (in a portfolio, each has its own context)
        self._broker = broker
        self._bars = bars
        self._series = {**{c: bars.column(c) for c in PRICE_COLUMNS}, **series}
        # Python lists for reading one value per bar: indexing a list is several times faster
        # than a numpy array, and a strategy reads a few values on every one of millions of bars.
        # Each series is converted the first time it is read.
        self._values = _Lists(self._series)
        self._close = self._values["close"]
        self.i = 0

    # -- reading ----------------------------------------------------------------------------------

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(int(self._bars.ts_ns[self.i]) / 1e9, UTC)

    @property
    def price(self) -> float:
        """The close of the current bar."""
        value: float = self._close[self.i]
        return value

    def value(self, name: str, ago: int = 0) -> float:
        """A series' value on this bar (`ago=1`: the bar before). NaN before it has one."""
        if ago < 0:
            raise ValueError("a strategy cannot read the future: ago must be >= 0")
        at = self.i - ago
        if at < 0:
            return float("nan")
        try:
            value: float = self._values[name][at]
        except KeyError:
            self._series_of(name)  # raises the error that names the known series
            raise
        return value

    def history(self, name: str, length: int | None = None) -> np.ndarray:
        """The series up to and including this bar (the last `length` values), read-only."""
        values = self._series_of(name)[: self.i + 1]
        view = values[-length:] if length else values
        view = view.view()
        view.flags.writeable = False
        return view

    def crossed_above(self, a: str | float, b: str | float) -> bool:
        """`a` was below `b` on the previous bar and is above it on this one."""
        i = self.i
        if i < 1:
            return False
        a_before, a_now = self._pair(a, i)
        b_before, b_now = self._pair(b, i)
        return a_before < b_before and a_now > b_now

    def crossed_below(self, a: str | float, b: str | float) -> bool:
        return self.crossed_above(b, a)

    @property
    def position(self) -> float:
        """Units held: positive long, negative short."""
        return self._broker.position_size

    @property
    def cash(self) -> float:
        return self._broker.cash

    @property
    def equity(self) -> float:
        return self._broker.equity

    @property
    def open_trades(self) -> int:
        return len(self._broker.trades)

    @property
    def positions_held(self) -> int:
        """Symbols of the account holding a position or with an order waiting to fill, this one
        included: across every symbol in a portfolio, else 0 or 1. Waiting orders count so that a
        cap on positions holds even when several symbols decide at the same moment."""
        # A portfolio's book counts across its account; read only when asked, so strategies that
        # never ask pay nothing per bar.
        across: Callable[[], int] | None = getattr(self._broker, "positions_held", None)
        if across is not None:
            return across()
        return 1 if self._broker.trades or self._broker.orders else 0

    @property
    def pending_orders(self) -> int:
        """Orders placed and not yet filled or canceled (brackets included)."""
        return len(self._broker.orders)

    # -- acting -----------------------------------------------------------------------------------

    def buy(
        self,
        qty: float | None = None,
        *,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        tag: str | None = None,
    ) -> None:
        """A long order: `qty` whole units, or a `fraction` of the equity available (all of it by
        default); market, limit, stop or stop-limit; with a stop-loss and take-profit attached."""
        size = _size(qty, fraction)
        self._broker.new_order(size, limit, stop, stop_loss, take_profit, tag)

    def sell(
        self,
        qty: float | None = None,
        *,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        tag: str | None = None,
    ) -> None:
        """A short order (or, against a long position, a sale that first closes it)."""
        size = _size(qty, fraction)
        self._broker.new_order(-size, limit, stop, stop_loss, take_profit, tag)

    def close(self, portion: float = 1.0) -> None:
        """Close `portion` of every open trade at the next market price."""
        if not 0 < portion <= 1:
            raise ValueError("portion must be in (0, 1]")
        for trade in self._broker.trades:
            self._broker.close_trade_order(trade, portion)

    def _series_of(self, name: str) -> np.ndarray:
        try:
            return self._series[name]
        except KeyError:
            raise KeyError(
                f"no series {name!r}: declare it in indicators() ({sorted(self._series)})"
            ) from None

    def _pair(self, x: str | float, i: int) -> tuple[float, float]:
        if not isinstance(x, str):
            return float(x), float(x)
        try:
            values = self._values[x]
        except KeyError:
            self._series_of(x)  # raises the error that names the known series
            raise
        return values[i - 1], values[i]


class _Lists(dict[str, list[float]]):
    """Series as Python lists, each made on first use."""

    def __init__(self, series: Mapping[str, np.ndarray]):
        super().__init__()
        self._series = series

    def __missing__(self, name: str) -> list[float]:
        values: list[float] = self._series[name].tolist()  # KeyError for an unknown series
        self[name] = values
        return values


def _size(qty: float | None, fraction: float | None) -> float:
    if qty is not None and fraction is not None:
        raise ValueError("give qty or fraction, not both")
    if qty is not None:
        if qty < 1 or qty != int(qty):
            raise ValueError(f"qty must be a whole number of units >= 1, not {qty}")
        return float(qty)
    if fraction is None or fraction == 1:
        return FULL_EQUITY
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    return fraction
