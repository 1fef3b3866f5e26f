"""A backtest of one strategy on one symbol's bars: the indicators computed once, vectorised, then
the engine walks the bars and the statistics are computed from what it did."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trading_system.analytics.indicators import OHLCV, compute
from trading_system.analytics.specs import SpecError, parse_spec
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.strategies.domain import PRICE_COLUMNS, Context, Strategy
from trading_system.strategies.engine import Bars, Broker, Run, run
from trading_system.strategies.fills import FillProfile
from trading_system.strategies.portfolio import Leg, PortfolioRun, buy_and_hold_index, run_portfolio
from trading_system.strategies.statistics import compute_stats


@dataclass
class Outcome:
    run: Run
    stats: dict[str, Any]


@dataclass
class PortfolioOutcome:
    run: PortfolioRun
    stats: dict[str, Any]


def indicator_series(strategy: Strategy, bars: Bars) -> dict[str, np.ndarray]:
    """Each declared indicator over the whole history: `sma:50`, `macd:12:26:9/signal`, or a
    function of the bars."""
    ohlcv = OHLCV(open=bars.open, high=bars.high, low=bars.low, close=bars.close, volume=bars.volume)
    series: dict[str, np.ndarray] = {}
    for label, indicator in strategy.indicators().items():
        if callable(indicator):
            values = np.asarray(indicator(bars), dtype=float)
        else:
            text, _, output = indicator.partition("/")
            try:
                spec = parse_spec(text)
            except SpecError as error:
                raise ValidationFailed(
                    str(error), [Problem(str(error), field=f"indicators.{label}")]
                ) from None
            outputs = compute(spec, ohlcv)
            name = output or next(iter(outputs))
            if name not in outputs:
                reason = f"{text} has no output {name!r} (it has {', '.join(outputs)})"
                raise ValidationFailed(reason, [Problem(reason, field=f"indicators.{label}")])
            values = outputs[name]
        if values.shape != bars.close.shape:
            raise ValueError(f"indicator {label!r} has {values.shape[0]} values for {len(bars)} bars")
        series[label] = values
    return series


# How a backtest runs: "fastest" takes the vectorised form of a strategy that has one
# (vector.signals_of, equal to the engine trade for trade: tests/unit/test_sweep.py holds the two
# together), else the engine; "engine" is the event-driven engine, calling the strategy on the
# bars where it says it may act; "every_bar" the engine calling it on every bar, the slow, plain
# path kept to check the others.
BacktestPath = Literal["fastest", "engine", "every_bar"]


def backtest(
    strategy: Strategy,
    bars: Bars,
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
    path: BacktestPath = "fastest",
) -> Outcome:
    if path == "fastest":
        from trading_system.strategies.vector import vector_backtest

        fast = vector_backtest(strategy, bars, cash, profile, finalize)
        if fast is not None:
            return fast
    series = indicator_series(strategy, bars)
    active = None if path == "every_bar" else strategy.active_bars({**_prices(bars), **series})
    done = run(bars, series, _decider(strategy, bars, series), cash, profile, finalize, active)
    stats = compute_stats(bars.ts_ns, bars.close, done.equity, done.trades, done.warmup)
    return Outcome(done, stats)


def _prices(bars: Bars) -> dict[str, np.ndarray]:
    return {name: bars.column(name) for name in PRICE_COLUMNS}


def backtest_portfolio(
    strategies: Mapping[str, Strategy],
    bars: Mapping[str, Bars],
    cash: float,
    profile: FillProfile,
    finalize: bool = True,
) -> PortfolioOutcome:
    """One strategy (an instance per symbol) over several symbols sharing the cash."""
    legs = []
    for symbol, strategy in strategies.items():
        series = indicator_series(strategy, bars[symbol])
        active = strategy.active_bars({**_prices(bars[symbol]), **series})
        decide = _decider(strategy, bars[symbol], series, symbol)
        legs.append(Leg(symbol, bars[symbol], series, decide, active))
    done = run_portfolio(legs, cash, profile, finalize)
    benchmark = buy_and_hold_index(legs, done.timeline_ns)
    trades = [trade for _, trade in done.trades]
    stats = compute_stats(done.timeline_ns, benchmark, done.equity, trades, done.warmup)
    return PortfolioOutcome(done, stats)


def _decider(
    strategy: Strategy, bars: Bars, series: Mapping[str, np.ndarray], symbol: str | None = None
) -> Callable[[Broker, int], None]:
    """The engine's callback: the strategy deciding on bar i through its Context."""
    context: Context | None = None

    def decide(broker: Broker, i: int) -> None:
        nonlocal context
        if context is None:
            context = Context(broker, bars, series, symbol)
        context.i = i
        strategy.next(context)

    return decide
