"""The strategies that ship with the platform."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, model_validator

from trading_system.strategies.domain import Context, Indicator, Strategy, StrategyParams
from trading_system.strategies.engine import Bars


def crosses(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bars on which `a` crosses `b` either way (Context.crossed_above/below, vectorised)."""
    out = np.zeros(len(a), dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = ((a[:-1] < b[:-1]) & (a[1:] > b[1:])) | ((b[:-1] < a[:-1]) & (b[1:] > a[1:]))
    return out


class SmaCross(Strategy):
    """backtesting.py's SmaCross example: on each cross, close and reverse (long above, short below)."""

    name = "sma_cross"
    summary = "Long when the fast SMA crosses above the slow one, short when it crosses below"

    class Params(StrategyParams):
        n1: int = Field(default=10, ge=1, le=10_000, description="fast SMA period")
        n2: int = Field(default=20, ge=2, le=10_000, description="slow SMA period")

        @model_validator(mode="after")
        def _fast_is_faster(self) -> SmaCross.Params:
            if self.n1 >= self.n2:
                raise ValueError(f"n1 ({self.n1}) must be less than n2 ({self.n2})")
            return self

    def indicators(self) -> Mapping[str, Indicator]:
        return {"fast": f"sma:{self.params.n1}", "slow": f"sma:{self.params.n2}"}

    def active_bars(self, series: Mapping[str, np.ndarray]) -> np.ndarray:
        return crosses(series["fast"], series["slow"])

    def next(self, ctx: Context) -> None:
        if ctx.crossed_above("fast", "slow"):
            ctx.close()
            ctx.buy()
        elif ctx.crossed_below("fast", "slow"):
            ctx.close()
            ctx.sell()


class RsiReversion(Strategy):
    """Long only: buy when RSI is oversold, sell when it is overbought."""

    name = "rsi_reversion"
    summary = "Buy when RSI falls below `lower`, close when it rises above `upper`"

    class Params(StrategyParams):
        period: int = Field(default=14, ge=2, le=1000)
        lower: float = Field(default=30, gt=0, lt=100)
        upper: float = Field(default=70, gt=0, lt=100)
        fraction: float = Field(default=1.0, gt=0, le=1, description="share of the equity an entry uses")

        @model_validator(mode="after")
        def _ordered(self) -> RsiReversion.Params:
            if self.lower >= self.upper:
                raise ValueError(f"lower ({self.lower}) must be less than upper ({self.upper})")
            return self

    def indicators(self) -> Mapping[str, Indicator]:
        return {"rsi": f"rsi:{self.params.period}"}

    def active_bars(self, series: Mapping[str, np.ndarray]) -> np.ndarray:
        rsi = series["rsi"]
        lower, upper = float(self.params.lower), float(self.params.upper)
        with np.errstate(invalid="ignore"):
            active: np.ndarray = (rsi < lower) | (rsi > upper)
        return active

    def next(self, ctx: Context) -> None:
        rsi = ctx.value("rsi")
        if not ctx.position and rsi < self.params.lower:
            ctx.buy(fraction=self.params.fraction)
        elif ctx.position > 0 and rsi > self.params.upper:
            ctx.close()


def rolling_extreme(values: np.ndarray, window: int, highest: bool) -> np.ndarray:
    """The highest (or lowest) of the `window` values before each bar (not including it): NaN
    until there are that many."""
    out = np.full(len(values), np.nan)
    if len(values) > window:
        windows = sliding_window_view(values[:-1], window)
        out[window:] = windows.max(axis=1) if highest else windows.min(axis=1)
    return out


class DonchianBreakout(Strategy):
    """The turtle traders' channel breakout, long only."""

    name = "donchian_breakout"
    summary = "Buy a close above the highest high of `entry` bars, sell one below the lowest low of `exit`"

    class Params(StrategyParams):
        entry: int = Field(default=20, ge=2, le=1000, description="breakout channel, bars")
        exit: int = Field(default=10, ge=2, le=1000, description="exit channel, bars")
        fraction: float = Field(default=1.0, gt=0, le=1, description="share of the equity an entry uses")

    def indicators(self) -> Mapping[str, Indicator]:
        entry, exit_ = self.params.entry, self.params.exit

        def upper(bars: Bars) -> np.ndarray:
            return rolling_extreme(bars.high, entry, highest=True)

        def lower(bars: Bars) -> np.ndarray:
            return rolling_extreme(bars.low, exit_, highest=False)

        return {"upper": upper, "lower": lower}

    def active_bars(self, series: Mapping[str, np.ndarray]) -> np.ndarray:
        close = series["close"]
        with np.errstate(invalid="ignore"):
            return (close > series["upper"]) | (close < series["lower"])

    def next(self, ctx: Context) -> None:
        if not ctx.position and ctx.price > ctx.value("upper"):
            ctx.buy(fraction=self.params.fraction)
        elif ctx.position > 0 and ctx.price < ctx.value("lower"):
            ctx.close()


class ScannerSignals(Strategy):
    """Trades a scanner's signals: run it with a backtest's `universe_scanner`, which lets it
    enter a symbol only on a bar where the scanner matched it (the order fills at the next bar's
    open at the earliest), and it holds each position for `hold_bars` bars."""

    name = "scanner_signals"
    summary = "Buy what a scanner matches (universe_scanner), hold it hold_bars bars"
    needs_scanner = True
    not_live = (
        "scanner_signals counts the bars since its entry, which a live deployment does not keep: "
        "deploy a strategy that decides from the bars and the position"
    )

    class Params(StrategyParams):
        hold_bars: int = Field(default=5, ge=1, le=1000, description="bars a position is held")
        fraction: float = Field(default=0.1, gt=0, le=1, description="share of the equity an entry uses")

    def __init__(self, params: StrategyParams):
        super().__init__(params)
        self._entered = -1

    def next(self, ctx: Context) -> None:
        if not ctx.position:
            if not ctx.pending_orders:
                ctx.buy(fraction=self.params.fraction)
                self._entered = ctx.i + 1  # it fills on the next bar
        elif ctx.i - self._entered + 1 >= self.params.hold_bars:
            ctx.close()


BUILTIN: tuple[type[Strategy], ...] = (SmaCross, RsiReversion, DonchianBreakout, ScannerSignals)
