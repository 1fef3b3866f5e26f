"""The vectorised backtest: the event-driven engine's results without walking the bars, for
strategies whose decisions are a pure function of signal arrays computed in advance.

A strategy qualifies when, on each bar, it does one of two things with whole positions and market
orders only, whatever happened before except whether it holds a position:

* `Reversal`: on a `long` bar close what is held and buy, on a `short` bar close and sell
  (backtesting.py's SmaCross: always in the market once the first cross has come);
* `EntryExit`: enter (long or short) on an `entry` bar when flat, close on an `exit` bar when
  holding (rsi_reversion, donchian_breakout, a RuleStrategy without brackets).

Then the trades follow from the signals bar-independently: each decision bar fills at the next
bar's processing (its open with the `backtesting_py` profile), the state between fills is constant
and the equity curve is `cash + (close * size - entries)` over each stretch, computed with numpy.
Only the sizing is sequential (whole units from the cash left by the previous trade), so the
Python loop runs over trades, not bars. The arithmetic is the engine's, operation for operation
(`Broker._process_orders`, `_open_trade`, `_close_trade`, `run`'s bankruptcy and finalize steps),
so the trades and the equity are identical to the last bit (tests/unit/test_sweep.py holds the two
paths to that on backtesting.py's GOOG data and on random walks).

`batch_stats` then computes the statistics of many runs over one symbol's bars at once, as rows of
one matrix (the statistics module's definitions, vectorised across runs): a sweep ranks tens of
thousands of backtests, and `compute_stats`, at about 1 ms a run (numpy's per-call overhead on
2,520 bars), would take most of its time (see docs/BENCHMARKS.md). Its figures equal
`compute_stats`' to 1e-9 relative, not to the bit: some sums run in another order (sequential
here, pairwise there) and beta reuses the logs of the daily returns.

Strategies opt in by inheriting `VectorSignals`; the built-in ones are recognised by their exact
type (a subclass may override `next`, so it is not assumed to decide alike).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import copysign
from typing import Literal

import numpy as np
import numpy.typing as npt

from trading_system.analytics.indicators import OHLCV, compute
from trading_system.analytics.specs import SpecError, parse_spec
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.strategies.backtest import Outcome
from trading_system.strategies.builtin import DonchianBreakout, RsiReversion, SmaCross
from trading_system.strategies.declarative import RuleStrategy
from trading_system.strategies.domain import PRICE_COLUMNS, Strategy
from trading_system.strategies.engine import FULL_EQUITY, Bars, Run, Trade, warmup_bars
from trading_system.strategies.fills import FillProfile
from trading_system.strategies.statistics import (
    NS_PER_DAY,
    NS_PER_S,
    STAT_LABELS,
    ClosedTrade,
    Stat,
    _data_period_ns,
    _drawdowns,
    _resolution_ns,
    annual_periods,
    compute_stats,
)

__all__ = [
    "STAT_KEYS",
    "EntryExit",
    "Reversal",
    "SeriesCache",
    "Signals",
    "VectorRun",
    "VectorSignals",
    "batch_stats",
    "signals_of",
    "simulate",
    "stats_row",
    "vector_backtest",
    "vector_run",
    "vectorisable",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# The numeric statistics, in STAT_LABELS' order: the columns of `batch_stats`' matrix.
STAT_KEYS: tuple[str, ...] = tuple(key for key in STAT_LABELS if key not in ("start", "end"))
_COLUMN = {key: index for index, key in enumerate(STAT_KEYS)}


# -- signals ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reversal:
    """Close and go long on `long` bars, close and go short on `short` bars (never both at once).
    `fraction` of the margin available per entry, as `ctx.buy(fraction=...)` takes it."""

    long: BoolArray
    short: BoolArray
    fraction: float = 1.0


@dataclass(frozen=True)
class EntryExit:
    """Enter `side` on an `entry` bar when flat; close on an `exit` bar when holding."""

    entry: BoolArray
    exit: BoolArray
    side: Literal["long", "short"] = "long"
    fraction: float = 1.0


Signals = Reversal | EntryExit


class VectorSignals:
    """Mixin: a strategy whose `next` is exactly one of the `Signals` forms, with market orders,
    whole-position closes and no brackets, says so by returning its signals here. The sweep then
    runs it vectorised; `tests/unit/test_sweep.py` shows how to hold it to the engine."""

    def vector_signals(self, series: Mapping[str, np.ndarray]) -> Signals:
        """The decisions per bar from the prices and the declared indicators (the same mapping
        `Strategy.active_bars` gets)."""
        raise NotImplementedError


def vectorisable(strategy: Strategy) -> bool:
    """Whether `signals_of` has a vectorised form for this strategy (cheap: no series needed).
    A strategy restricted by decide_only_when (a universe, a deployment's first bar) has not: its
    `next` is no longer the one the form reproduces."""
    if "next" in vars(strategy):
        return False
    kind = type(strategy)
    if kind in (SmaCross, RsiReversion, DonchianBreakout):
        return True
    if kind is RuleStrategy:
        definition = strategy.params
        # Brackets are orders of the broker's that fill inside a bar: not a signal function.
        return definition.stop_loss_pct is None and definition.take_profit_pct is None
    return isinstance(strategy, VectorSignals)


def signals_of(strategy: Strategy, series: Mapping[str, np.ndarray]) -> Signals | None:
    """The strategy's decisions as signal arrays, or None when it has no vectorised form.

    `series` holds the prices and the indicators (`SeriesCache.series`). Each adapter reproduces
    the comparisons `next` makes on the same float64 values (NaN compares False, as in Python)."""
    if not vectorisable(strategy):
        return None
    kind = type(strategy)
    params = strategy.params
    with np.errstate(invalid="ignore"):
        if kind is SmaCross:
            fast, slow = series["fast"], series["slow"]
            return Reversal(_crossed_above(fast, slow), _crossed_above(slow, fast))
        if kind is RsiReversion:
            rsi = series["rsi"]
            return EntryExit(rsi < params.lower, rsi > params.upper, "long", params.fraction)
        if kind is DonchianBreakout:
            close = series["close"]
            return EntryExit(close > series["upper"], close < series["lower"], "long", params.fraction)
        if kind is RuleStrategy:
            # max_positions cannot bind in a single-symbol run: the entry is only considered when
            # flat and with no order waiting (market orders fill or lapse on the next bar), so
            # positions_held is 0 there.
            return EntryExit(series["entry"] == 1.0, series["exit"] == 1.0, params.side, params.fraction)
    assert isinstance(strategy, VectorSignals)
    return strategy.vector_signals(series)


def _crossed_above(a: np.ndarray, b: np.ndarray) -> BoolArray:
    """Context.crossed_above on every bar: a < b on the bar before and a > b on this one."""
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    return out


# -- one symbol's series, shared by every combination of a sweep -----------------------------------


class SeriesCache:
    """One symbol's bars with the indicator series strategies declare, each analytics spec
    computed once however many strategies read it (a sweep of n1 x n2 SMA windows needs n1 + n2
    averages, not 2 x n1 x n2). Callables (functions of the bars) are computed per strategy."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.prices = {name: bars.column(name) for name in PRICE_COLUMNS}
        self._ohlcv = OHLCV(
            open=bars.open, high=bars.high, low=bars.low, close=bars.close, volume=bars.volume
        )
        self._specs: dict[str, dict[str, np.ndarray]] = {}
        # Python lists for the per-trade loop: indexing a list is several times faster than an array.
        self.open_list: list[float] = bars.open.tolist()
        self.close_list: list[float] = bars.close.tolist()
        with np.errstate(invalid="ignore"):
            self.finite = bool(np.isfinite(bars.close).all())

    def series(self, strategy: Strategy) -> dict[str, np.ndarray]:
        """backtest.indicator_series(strategy, bars), from the cache."""
        bars = self.bars
        out: dict[str, np.ndarray] = {}
        for label, indicator in strategy.indicators().items():
            if callable(indicator):
                values = np.asarray(indicator(bars), dtype=float)
            else:
                values = self._spec(label, indicator)
            if values.shape != bars.close.shape:
                raise ValueError(f"indicator {label!r} has {values.shape[0]} values for {len(bars)} bars")
            out[label] = values
        return out

    def _spec(self, label: str, indicator: str) -> np.ndarray:
        text, _, output = indicator.partition("/")
        outputs = self._specs.get(text)
        if outputs is None:
            try:
                spec = parse_spec(text)
            except SpecError as error:
                raise ValidationFailed(
                    str(error), [Problem(str(error), field=f"indicators.{label}")]
                ) from None
            outputs = self._specs[text] = compute(spec, self._ohlcv)
        name = output or next(iter(outputs))
        if name not in outputs:
            reason = f"{text} has no output {name!r} (it has {', '.join(outputs)})"
            raise ValidationFailed(reason, [Problem(reason, field=f"indicators.{label}")])
        return outputs[name]


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class VectorRun:
    """What a vectorised run leaves: the closed trades as arrays (bars and prices as the engine
    records them), the trade still open at the end if any, the equity per bar and the warm-up."""

    size: FloatArray
    entry_bar: IntArray
    exit_bar: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    commissions: FloatArray
    equity: FloatArray
    warmup: int
    open_trade: tuple[float, float, int] | None = None  # size, entry price, entry bar
    _pnl: FloatArray | None = field(default=None, repr=False)

    @property
    def trades(self) -> int:
        return len(self.size)

    def pnl(self) -> FloatArray:
        """engine.closed_trade's P&L, elementwise: size x (exit - entry) - commissions."""
        if self._pnl is None:
            self._pnl = self.size * (self.exit_price - self.entry_price) - self.commissions
        return self._pnl

    def return_pct(self) -> FloatArray:
        """engine.closed_trade's return (a fraction), elementwise."""
        result: FloatArray = np.copysign(1.0, self.size) * (
            self.exit_price / self.entry_price - 1
        ) - self.commissions / (np.abs(self.size) * self.entry_price)
        return result

    def closed_trades(self, ts_ns: np.ndarray) -> list[ClosedTrade]:
        pnl, returns = self.pnl().tolist(), self.return_pct().tolist()
        entry_bars, exit_bars = self.entry_bar.tolist(), self.exit_bar.tolist()
        return [
            ClosedTrade(
                size=size,
                entry_bar=entry_bar,
                exit_bar=exit_bar,
                entry_price=entry_price,
                exit_price=exit_price,
                pnl=pnl[k],
                return_pct=returns[k],
                commissions=commissions,
                entry_ns=int(ts_ns[entry_bar]),
                exit_ns=int(ts_ns[exit_bar]),
            )
            for k, (size, entry_bar, exit_bar, entry_price, exit_price, commissions) in enumerate(
                zip(
                    self.size.tolist(),
                    entry_bars,
                    exit_bars,
                    self.entry_price.tolist(),
                    self.exit_price.tolist(),
                    self.commissions.tolist(),
                    strict=True,
                )
            )
        ]


class _Book:
    """The cash and the one open trade of a run, changed with the engine's very arithmetic.

    `at` is the bar whose order processing fills (the engine's `i`); the fill price and the bar
    recorded on the trade are that bar's open, or with `last_close` the close of the bar before."""

    __slots__ = (
        "_closes",
        "_fixed",
        "_on_close",
        "_opens",
        "_rate",
        "_spread",
        "_whole",
        "cash",
        "closed",
        "entry",
        "entry_at",
        "entry_bar",
        "entry_commission",
        "marks",
        "size",
    )

    def __init__(self, cache: SeriesCache, profile: FillProfile, cash: float) -> None:
        self._opens, self._closes = cache.open_list, cache.close_list
        self._rate, self._fixed, self._spread = profile.commission, profile.commission_fixed, profile.spread
        self._on_close, self._whole = profile.market_fill == "last_close", profile.whole_units
        self.cash = cash
        self.size = 0.0  # the open trade, 0.0 when flat
        self.entry = 0.0
        self.entry_bar = 0
        self.entry_at = 0
        self.entry_commission = 0.0
        # Flat lists, one record after the other (numpy reads a flat list of numbers several times
        # faster than a list of tuples). Closed trades, 8 numbers each: size, entry bar, exit bar,
        # entry price, exit price, commissions, entry at, exit at.
        self.closed: list[float] = []
        # The state after each bar whose processing changed it, 4 numbers: at, cash, size,
        # size x entry.
        self.marks: list[float] = []

    def fill_price(self, at: int) -> tuple[float, int]:
        if self._on_close:
            return self._closes[at - 1], at - 1
        return self._opens[at], at

    def close(self, at: int) -> None:
        """_reduce_trade -> _close_trade of the whole trade."""
        price, bar = self.fill_price(at)
        size, entry = self.size, self.entry
        exit_commission = self._fixed + abs(size) * price * self._rate
        self.cash += size * (price - entry) - exit_commission
        # Trade.commissions: the exit's, plus the entry's (the same number as when it was paid)
        commissions = exit_commission + self.entry_commission
        self.closed += (size, self.entry_bar, bar, entry, price, commissions, self.entry_at, at)
        self.size = 0.0

    def open(self, at: int, order_size: float) -> bool:
        """A market order of `order_size` (a signed fraction of the margin available) processed
        while flat: sized in whole units, canceled when it buys nothing."""
        price, bar = self.fill_price(at)
        rate, fixed = self._rate, self._fixed
        adjusted = price * (1 + copysign(self._spread, order_size))
        adjusted_with_commission = adjusted + (fixed + abs(order_size) * price * rate) / abs(order_size)
        margin = max(0.0, self.cash)
        available = margin * abs(order_size)
        units = (
            int(available // adjusted_with_commission)
            if self._whole
            else available / adjusted_with_commission
        )
        size = copysign(units, order_size)
        if not size or abs(size) * adjusted_with_commission > margin:
            return False
        commission = fixed + abs(size) * adjusted * rate
        self.cash -= commission
        self.size, self.entry, self.entry_bar, self.entry_at = size, adjusted, bar, at
        self.entry_commission = commission
        return True

    def mark(self, at: int) -> None:
        size = self.size
        self.marks += (at, self.cash, size, size * self.entry if size else 0.0)

    def equity_now(self, i: int) -> float:
        """Broker.step's value on bar i: the cash, or cash + unrealized with a trade open."""
        if not self.size:
            return self.cash
        return self.cash + (self._closes[i] * self.size - self.size * self.entry)


def simulate(
    cache: SeriesCache,
    signals: Signals,
    warmup: int,
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
) -> VectorRun:
    """The engine's `run` for a strategy deciding by `signals`, trade by trade."""
    n = len(cache.bars)
    start = 1 + warmup
    book = _Book(cache, profile, cash)
    order_size = FULL_EQUITY if signals.fraction == 1 else signals.fraction
    # A decision on the last bar has no next bar: with finalize its orders are processed in the
    # final step on that bar (after the closes finalize adds), as the engine does; else never.
    pending: float | None = None
    if isinstance(signals, Reversal):
        pending = _reversals(book, signals, start, n, order_size)
    else:
        pending = _entries_exits(book, signals, start, n, order_size)
    return _finish(book, cache, start, n, warmup, cash, finalize, pending)


def _reversals(book: _Book, signals: Reversal, start: int, n: int, order_size: float) -> float | None:
    """Every decision closes what is held and opens the other way (or the same way again).

    _Book.close, open and mark inlined, the same operations in the same order: this loop runs for
    every trade of every backtest of a sweep, and four method calls per trade were half its time
    (measured). The tests hold it to the engine like the rest."""
    decisions = np.flatnonzero(signals.long[start:] | signals.short[start:]) + start
    longs = signals.long[decisions].tolist()
    prices, shift = (book._closes, -1) if book._on_close else (book._opens, 0)
    rate, fixed, whole = book._rate, book._fixed, book._whole
    scale = abs(order_size)
    # price * (1 + copysign(spread, order size)): the factor for each direction, computed once
    up, down = 1 + copysign(book._spread, order_size), 1 + copysign(book._spread, -order_size)
    cash = book.cash
    size = entry = entry_commission = 0.0
    entry_bar = entry_at = 0
    closed, marks = book.closed, book.marks
    for d, is_long in zip(decisions.tolist(), longs, strict=True):
        at = d + 1
        if at == n:
            book.cash, book.size, book.entry, book.entry_bar = cash, size, entry, entry_bar
            book.entry_at, book.entry_commission = entry_at, entry_commission
            return order_size if is_long else -order_size
        bar = at + shift
        price = prices[bar]
        if size:  # ctx.close() puts its order first
            exit_commission = fixed + abs(size) * price * rate
            cash += size * (price - entry) - exit_commission
            closed += (size, entry_bar, bar, entry, price, exit_commission + entry_commission, entry_at, at)
            size = 0.0
        signed = order_size if is_long else -order_size
        adjusted = price * (up if is_long else down)
        adjusted_with_commission = adjusted + (fixed + scale * price * rate) / scale
        margin = max(0.0, cash)
        available = margin * scale
        units = int(available // adjusted_with_commission) if whole else available / adjusted_with_commission
        units = copysign(units, signed)
        if units and not abs(units) * adjusted_with_commission > margin:
            entry_commission = fixed + abs(units) * adjusted * rate
            cash -= entry_commission
            size, entry, entry_bar, entry_at = units, adjusted, bar, at
        marks += (at, cash, size, size * entry if size else 0.0)
    book.cash, book.size, book.entry, book.entry_bar = cash, size, entry, entry_bar
    book.entry_at, book.entry_commission = entry_at, entry_commission
    return None


def _entries_exits(book: _Book, signals: EntryExit, start: int, n: int, order_size: float) -> float | None:
    entries = np.flatnonzero(signals.entry[start:]).tolist()
    exits = np.flatnonzero(signals.exit[start:]).tolist()
    signed = order_size if signals.side == "long" else -order_size
    t = 0  # bars from start: the first bar whose decision is still to come
    last = n - start
    while True:
        if not book.size:
            k = bisect_left(entries, t)
            if k == len(entries):
                return None
            d = entries[k]
            if d + 1 == last:
                return signed
            at = start + d + 1
            if book.open(at, signed):
                book.mark(at)
            t = d + 1  # filled or canceled, the next decision is on the bar of the fill
        else:
            k = bisect_left(exits, t)
            if k == len(exits) or exits[k] + 1 == last:
                return None  # a close decided on the last bar: finalize closes it anyway
            d = exits[k]
            at = start + d + 1
            book.close(at)
            book.mark(at)
            t = d + 1


def _finish(
    book: _Book,
    cache: SeriesCache,
    start: int,
    n: int,
    warmup: int,
    cash: float,
    finalize: bool,
    pending: float | None,
) -> VectorRun:
    close = cache.bars.close
    equity = np.empty(n)
    if start >= n:
        equity[:] = cash
        return _run_of(book.closed, equity, warmup, None)
    # The state per bar from start on: constant between the bars whose processing changed it.
    states = np.array([start, cash, 0.0, 0.0, *book.marks]).reshape(-1, 4)  # at, cash, size, entries
    bounds = np.append(states[:, 0], n).astype(np.intp)
    lengths = bounds[1:] - bounds[:-1]
    cash_s, size_s, entries_s = np.repeat(states[:, 1:], lengths, axis=0).T
    marked = equity[start:]
    # Broker.step: the cash alone while flat, else cash + (close x size - entries); the two agree
    # to the bit while flat (close x 0.0 - 0.0 == 0.0) unless a close is not finite.
    np.add(cash_s, close[start:] * size_s - entries_s, out=marked)
    if not cache.finite:
        np.copyto(marked, cash_s, where=size_s == 0)
    if marked.min() <= 0:
        return _bankrupt(book, cache, equity, start + int(np.argmax(marked <= 0)), warmup)
    open_trade = None
    if finalize:
        last = n - 1
        if book.size:
            book.close(last)
        if pending is not None:
            book.open(last, pending)
        value = book.equity_now(last)
        equity[last] = value if value > 0 else 0.0
    if book.size:
        open_trade = (book.size, book.entry, book.entry_bar)
    equity[:start] = equity[start]
    return _run_of(book.closed, equity, warmup, open_trade)


def _bankrupt(book: _Book, cache: SeriesCache, equity: FloatArray, k: int, warmup: int) -> VectorRun:
    """The equity reached 0 on bar k: the engine closes what is open at that bar's close and
    stops. Trades filled after k never happened."""
    trades = [book.closed[i : i + 8] for i in range(0, len(book.closed), 8)]
    kept = [value for t in trades if t[7] <= k for value in t]
    price = cache.close_list[k]
    fixed, rate = book._fixed, book._rate
    holding = next((t for t in trades if t[6] <= k < t[7]), None)
    if holding is not None:
        size, entry_bar, entry = holding[0], holding[1], holding[3]
    elif book.size and book.entry_at <= k:
        size, entry_bar, entry = book.size, book.entry_bar, book.entry
    else:
        size = 0.0
    if size:
        exit_commission = fixed + abs(size) * price * rate
        commissions = exit_commission + (fixed + abs(size) * entry * rate)
        kept += (size, entry_bar, k, entry, price, commissions, 0, k)
    equity[k:] = 0.0
    equity[: 1 + warmup] = equity[1 + warmup]
    return _run_of(kept, equity, warmup, None)


def _run_of(
    closed: list[float], equity: FloatArray, warmup: int, open_trade: tuple[float, float, int] | None
) -> VectorRun:
    # bars are whole numbers far below 2**53: exact as float64
    size, entry_bar, exit_bar, entry_price, exit_price, commissions, _, _ = (
        np.array(closed, dtype=np.float64).reshape(-1, 8).T.copy()
    )
    return VectorRun(
        size=size,
        entry_bar=entry_bar.astype(np.int64),
        exit_bar=exit_bar.astype(np.int64),
        entry_price=entry_price,
        exit_price=exit_price,
        commissions=commissions,
        equity=equity,
        warmup=warmup,
        open_trade=open_trade,
    )


def vector_run(
    strategy: Strategy,
    cache: SeriesCache,
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
) -> VectorRun | None:
    """One vectorised backtest of `strategy` over the cache's bars; None when the strategy has no
    vectorised form or the profile sizes in fractional units (run it with backtest.backtest)."""
    # Fractional units: the engine closes round(size) units (Broker.close_trade_order) and leaves
    # the fraction of a unit open, which is not a whole-position close.
    if not vectorisable(strategy) or not profile.whole_units:
        return None
    series = cache.series(strategy)
    signals = signals_of(strategy, {**cache.prices, **series})
    if signals is None:
        return None
    return simulate(cache, signals, warmup_bars(series), cash, profile, finalize)


def vector_backtest(
    strategy: Strategy, bars: Bars, cash: float, profile: FillProfile, finalize: bool = True
) -> Outcome | None:
    """backtest.backtest's Outcome (trades, equity, statistics by compute_stats), vectorised;
    None when the strategy has no vectorised form."""
    done = vector_run(strategy, SeriesCache(bars), cash, profile, finalize)
    if done is None:
        return None
    trades = done.closed_trades(bars.ts_ns)
    open_trades = [] if done.open_trade is None else [Trade(*done.open_trade)]
    run = Run(trades=trades, open_trades=open_trades, equity=done.equity, warmup=done.warmup)
    return Outcome(run, compute_stats(bars.ts_ns, bars.close, done.equity, trades, done.warmup))


# -- statistics of many runs at once ---------------------------------------------------------------


def stats_row(stats: Mapping[str, Stat]) -> FloatArray:
    """compute_stats' numeric values as one row of `batch_stats`' matrix (None is NaN)."""
    return np.array([np.nan if stats[key] is None else float(stats[key]) for key in STAT_KEYS])  # type: ignore[arg-type]


def batch_stats(ts_ns: np.ndarray, close: np.ndarray, runs: Sequence[VectorRun]) -> FloatArray:
    """compute_stats of every run over the same bars, one row per run, columns STAT_KEYS, NaN
    where compute_stats says None. Runs whose equity reached 0 (their period returns lose bars)
    go through compute_stats itself."""
    out = np.full((len(runs), len(STAT_KEYS)), np.nan)
    if not runs:
        return out
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    c = np.ascontiguousarray(close, dtype=np.float64)
    clean = [k for k, run in enumerate(runs) if run.equity.min() > 0 and np.isfinite(run.equity).all()]
    for k in sorted(set(range(len(runs))) - set(clean)):
        run = runs[k]
        out[k] = stats_row(compute_stats(ts, c, run.equity, run.closed_trades(ts), run.warmup))
    if clean:
        with np.errstate(all="ignore"):
            out[clean] = _Batch(ts, c, [runs[k] for k in clean]).rows()
    return out


class _Batch:
    """statistics._compute with a leading axis of runs (one symbol's bars, many equity curves)."""

    def __init__(self, ts: IntArray, close: FloatArray, runs: Sequence[VectorRun]) -> None:
        self.ts, self.close, self.runs = ts, close, runs
        self.n = ts.size
        self.m = len(runs)
        self.equity: FloatArray = np.stack([run.equity for run in runs])
        self.out = np.full((self.m, len(STAT_KEYS)), np.nan)
        self.period = _data_period_ns(ts)
        self.resolution = _resolution_ns(self.period)

    def put(self, key: str, values: np.ndarray | float) -> None:
        self.out[:, _COLUMN[key]] = values

    def rows(self) -> FloatArray:
        self._equity_stats()
        self._trade_stats()
        return self.out

    # -- from the equity curves ----------------------------------------------------------------

    def _equity_stats(self) -> None:
        ts, c, eq = self.ts, self.close, self.equity
        period = self.period
        duration_ns = int(ts[-1] - ts[0])
        warmups = np.array([run.warmup for run in self.runs])

        dd = 1 - eq / np.maximum.accumulate(eq, axis=1)
        max_dd = -np.nan_to_num(dd.max(axis=1))
        return_pct = (eq[:, -1] - eq[:, 0]) / eq[:, 0] * 100
        buy_and_hold = (c[-1] - c[warmups]) / c[warmups] * 100

        freq_days = None if period is None else period // NS_PER_DAY
        annual_days = annual_periods(ts, freq_days)
        returns, every_bar = _period_returns(ts, eq, freq_days)  # (runs, periods - 1), all finite
        count = returns.shape[1]
        gmean, logs = _geometric_mean(returns)
        annualized = (1 + gmean) ** annual_days - 1
        return_ann_pct = annualized * 100
        if count > 1:
            avg = returns.sum(axis=1) / count
            variance = ((avg[:, None] - returns) ** 2).sum(axis=1) / (count - 1)
        else:
            variance = np.full(self.m, np.nan)
        volatility = (
            np.sqrt((variance + (1 + gmean) ** 2) ** annual_days - (1 + gmean) ** (2 * annual_days)) * 100
        )
        years = (duration_ns // NS_PER_DAY + (duration_ns % NS_PER_DAY) // NS_PER_S / 86400) / 365.25
        cagr = ((eq[:, -1] / eq[:, 0]) ** (1 / years) - 1) * 100 if years else np.nan
        sharpe = return_ann_pct / np.where(volatility == 0, np.nan, volatility)
        downside = np.where(returns > 0, 0.0, returns) ** 2
        downside_mean = downside.sum(axis=1) / count if count else np.full(self.m, np.nan)
        sortino = annualized / (np.sqrt(downside_mean) * np.sqrt(annual_days))
        calmar = annualized / np.where(max_dd == 0, np.nan, -max_dd)
        # With one bar per period (daily bars) the log period returns are the log bar returns beta
        # reads, up to the last bit of 1 + (r - 1): reused, it saves a log of the whole matrix.
        beta = self._beta(logs if every_bar else None)

        self.put("duration_s", duration_ns / NS_PER_S)
        self.put("equity_final", eq[:, -1])
        self.put("equity_peak", eq.max(axis=1))
        self.put("return_pct", return_pct)
        self.put("buy_and_hold_return_pct", buy_and_hold)
        self.put("return_ann_pct", return_ann_pct)
        self.put("volatility_ann_pct", volatility)
        self.put("cagr_pct", cagr)
        self.put("sharpe_ratio", sharpe)
        self.put("sortino_ratio", sortino)
        self.put("calmar_ratio", calmar)
        self.put("alpha_pct", return_pct - beta * buy_and_hold)
        self.put("beta", beta)
        self.put("max_drawdown_pct", max_dd * 100)
        self._drawdown_stats(dd)

    def _beta(self, own: FloatArray | None) -> FloatArray:
        """np.cov(equity log returns, market log returns): cov / var of the market."""
        eq, c = self.equity, self.close
        if self.n < 3:
            return np.full(self.m, np.nan)
        market = np.log(c[1:] / c[:-1])
        if own is None:
            own = np.log(eq[:, 1:] / eq[:, :-1])
        if not np.isfinite(market).all():
            return np.array([_cov_beta(row, market) for row in own])
        fact = self.n - 2  # N - 1 observations of N = n - 1 returns
        centred_market = market - market.sum() / market.size
        centred_own = own - (own.sum(axis=1) / own.shape[1])[:, None]
        # Products summed per row, not a BLAS matrix product: its summation order depends on how
        # many rows it is given, and a sweep's figures must not depend on how it was split up.
        covariance = (centred_own * centred_market).sum(axis=1) / fact
        variance = (centred_market * centred_market).sum() / fact
        beta: FloatArray = covariance / variance
        return beta

    def _drawdown_stats(self, dd: FloatArray) -> None:
        """statistics._drawdowns for every run: spans between bars at a peak, over the matrix
        flattened (row-major, so each run's bars stay together and in order)."""
        n, m, ts = self.n, self.m, self.ts
        at_peak = dd == 0
        at_peak[:, -1] = True
        flat = np.flatnonzero(at_peak)
        rows, cols = np.divmod(flat, n)
        same = rows[1:] == rows[:-1]
        prev, cur, row = cols[:-1][same], cols[1:][same], rows[:-1][same]
        spans = cur > prev + 1
        prev, cur, row = prev[spans], cur[spans], row[spans]
        counts = np.bincount(row, minlength=m)
        max_duration = np.full(m, np.nan)
        avg_duration = np.full(m, np.nan)
        avg_peak = np.full(m, np.nan)
        if prev.size:
            durations = ts[cur] - ts[prev]
            bounds = np.empty(2 * prev.size, dtype=np.intp)
            bounds[0::2] = row * n + prev
            bounds[1::2] = row * n + cur + 1
            peaks = np.fmax.reduceat(np.append(dd.ravel(), np.nan), bounds)[0::2]
            has = counts > 0
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))[has]
            max_ns = np.maximum.reduceat(durations, first)
            total_ns = np.bincount(row, weights=durations.astype(np.float64), minlength=m)[has]
            mean_ns = (total_ns / counts[has]).astype(np.int64)  # truncated, as pandas' mean is
            max_duration[has] = _ceil(max_ns, self.resolution)
            avg_duration[has] = _ceil(mean_ns, self.resolution)
            peak_counts = np.bincount(row, weights=~np.isnan(peaks), minlength=m)[has]
            peak_sums = np.bincount(row, weights=np.nan_to_num(peaks), minlength=m)[has]
            avg_peak[has] = np.where(
                peak_counts > 0, peak_sums / np.where(peak_counts, peak_counts, 1), np.nan
            )
        for k in np.flatnonzero(counts == 0).tolist():
            # no span: backtesting.py's non-durations (see statistics' module docstring)
            avg_peak[k] = _drawdowns(ts, dd[k]).avg_peak
        self.put("max_drawdown_duration_s", max_duration)
        self.put("avg_drawdown_duration_s", avg_duration)
        self.put("avg_drawdown_pct", -avg_peak * 100)

    # -- from the trades -----------------------------------------------------------------------

    def _trade_stats(self) -> None:
        runs, m, n, ts = self.runs, self.m, self.n, self.ts
        counts = np.array([run.trades for run in runs])
        row = np.repeat(np.arange(m), counts)
        pl = _concat([run.pnl() for run in runs])
        returns = _concat([run.return_pct() for run in runs])
        commissions = _concat([run.commissions for run in runs])
        entry_bar = _concat([run.entry_bar for run in runs], np.int64)
        exit_bar = _concat([run.exit_bar for run in runs], np.int64)
        has = counts > 0
        divisor = np.where(has, counts, 1)  # a divisor that is never 0; rows without trades get NaN

        def total(values: np.ndarray) -> FloatArray:
            summed: FloatArray = np.bincount(row, weights=values, minlength=m).astype(np.float64, copy=False)
            return summed

        def mean(values: np.ndarray, where: np.ndarray | None = None) -> FloatArray:
            if where is None:
                return np.where(has, total(values) / divisor, np.nan)
            k = total(where.astype(np.float64))
            return np.where(k > 0, total(np.where(where, values, 0.0)) / np.where(k > 0, k, 1), np.nan)

        # exposure: the bars from a trade's entry to its exit, both included, in any trade. A run
        # holds one trade at a time, so its trades' spans follow one another and at most share
        # a bar (a reversal exits and enters on the same bar): their lengths, less what is shared.
        spans = total((exit_bar - entry_bar + 1).astype(np.float64))
        if row.size > 1:
            follows = row[1:] == row[:-1]
            shared = np.maximum(exit_bar[:-1] - entry_bar[1:] + 1, 0) * follows
            spans -= np.bincount(row[1:], weights=shared.astype(np.float64), minlength=m)
        self.put("exposure_time_pct", spans / n * 100)

        wins = total((pl > 0).astype(np.float64))
        win_rate = np.where(has, wins / divisor, np.nan)
        pl_mean = mean(pl)
        pl_var = np.where(
            counts > 1, total((pl_mean[row] - pl) ** 2) / np.where(counts > 1, counts - 1, 1), np.nan
        )
        pl_std = np.sqrt(pl_var)
        gains = total(np.where(returns > 0, returns, 0.0))
        losses = total(np.where(returns < 0, returns, 0.0))
        profit_factor = gains / np.where(losses == 0, np.nan, np.abs(losses))
        kelly = win_rate - (1 - win_rate) / (mean(pl, pl > 0) / -mean(pl, pl < 0))

        best = np.full(m, np.nan)
        worst = np.full(m, np.nan)
        if row.size:
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))[has]
            best[has] = np.maximum.reduceat(returns, first)
            worst[has] = np.minimum.reduceat(returns, first)
        grown = returns + 1
        shrunk = total((grown <= 0).astype(np.float64)) > 0
        with np.errstate(all="ignore"):
            logs = np.log(grown)
        geometric = np.where(
            shrunk,
            0.0,
            np.exp(total(np.where(np.isnan(logs), 0.0, logs)) / np.where(has, counts, np.nan)) - 1,
        )

        durations = ts[exit_bar] - ts[entry_bar]
        max_duration = np.full(m, np.nan)
        avg_duration = np.full(m, np.nan)
        if row.size:
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))[has]
            max_duration[has] = _ceil(np.maximum.reduceat(durations, first), self.resolution)
            mean_ns = (total(durations.astype(np.float64))[has] / counts[has]).astype(np.int64)
            avg_duration[has] = _ceil(mean_ns, self.resolution)

        self.put("commissions", total(commissions))
        self.put("trades", counts)
        self.put("win_rate_pct", win_rate * 100)
        self.put("best_trade_pct", best * 100)
        self.put("worst_trade_pct", worst * 100)
        self.put("avg_trade_pct", geometric * 100)
        self.put("max_trade_duration_s", max_duration)
        self.put("avg_trade_duration_s", avg_duration)
        self.put("profit_factor", profit_factor)
        self.put("expectancy_pct", mean(returns) * 100)
        self.put("sqn", np.sqrt(counts) * pl_mean / np.where(pl_std == 0, np.nan, pl_std))
        self.put("kelly_criterion", kelly)
        # compute_stats' values are JSON numbers: infinities are None, NaN here
        self.out[~np.isfinite(self.out)] = np.nan


def _concat(arrays: list[np.ndarray], dtype: type = np.float64) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)


def _period_returns(ts: IntArray, equity: FloatArray, freq_days: int | None) -> tuple[FloatArray, bool]:
    """statistics._period_returns of every row (none has NaN: rows that would are not batched),
    and whether each bar is a period of its own."""
    days = np.floor_divide(ts, NS_PER_DAY)
    if freq_days == 7:
        bins = np.floor_divide(days + 3, 7)
    elif freq_days == 31:
        bins = ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    elif freq_days == 365:
        bins = ts.astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64)
    else:
        bins = days
    last = np.append(np.flatnonzero(bins[1:] != bins[:-1]), bins.size - 1)
    every_bar = last.size == ts.size
    closes = equity if every_bar else equity[:, last]
    result: FloatArray = closes[:, 1:] / closes[:, :-1] - 1
    return result, every_bar


def _geometric_mean(returns: FloatArray) -> tuple[FloatArray, FloatArray]:
    """statistics._geometric_mean of every row, and the logs of 1 + each return."""
    grown = returns + 1
    count = returns.shape[1]
    logs = np.log(grown)
    total = logs.sum(axis=1)
    result: FloatArray = np.where((grown <= 0).any(axis=1), 0.0, np.exp(total / (count or np.nan)) - 1)
    return result, logs


def _cov_beta(own: FloatArray, market: FloatArray) -> float:
    matrix = np.cov(own, market)
    return float(matrix[0, 1] / matrix[1, 1])


def _ceil(values_ns: np.ndarray, resolution_ns: int) -> FloatArray:
    """statistics._ceil of every value (int64 nanoseconds), as seconds."""
    result: FloatArray = (-(-values_ns // resolution_ns) * resolution_ns) / NS_PER_S
    return result
