"""Declarative strategies: entry and exit rules in the scanner rule language, no Python.

    RuleStrategyDefinition(entry=["rsi(14) < 30"], exit=["rsi(14) > 70"], stop_loss_pct=5)

A rule means on each bar what it means to a scanner on its latest bar (docs/RULES.md; evaluated
for every bar at once by `rule_series`). The strategy enters when every entry rule holds and it
is flat, and closes when any exit rule holds; stop-loss and take-profit brackets are the
broker's, so the strategy acts only on bars where an entry or exit rule holds (`active_bars`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from trading_system.scanning.rules import Indicator as IndicatorNode
from trading_system.scanning.rules import Rule, children, parse
from trading_system.strategies.definitions import RuleStrategyDefinition
from trading_system.strategies.domain import Context, Indicator, Strategy
from trading_system.strategies.engine import Bars, warmup_bars
from trading_system.strategies.rule_series import FloatArray, RuleSeries

__all__ = ["RuleStrategy", "RuleStrategyDefinition"]


class RuleStrategy(Strategy):
    """A strategy run from a RuleStrategyDefinition, in the engine like any Python strategy."""

    name = "rules"
    summary = "Entry and exit rules written in the scanner rule language"
    Params = RuleStrategyDefinition

    def __init__(self, definition: RuleStrategyDefinition, name: str | None = None):
        super().__init__(definition)
        self.definition = definition
        if name is not None:
            # Each user-defined strategy carries its own name, where a Python one has its class's.
            self.name = name  # type: ignore[misc]
        self._entry = tuple(parse(text) for text in definition.entry)
        self._exit = tuple(parse(text) for text in definition.exit)
        self._signals: tuple[Bars, FloatArray, FloatArray] | None = None

    def indicators(self) -> Mapping[str, Indicator]:
        return {"entry": lambda bars: self.signals(bars)[0], "exit": lambda bars: self.signals(bars)[1]}

    def signals(self, bars: Bars) -> tuple[FloatArray, FloatArray]:
        """Entry and exit per bar, 1.0 or 0.0, and NaN until the slowest indicator the rules read
        has a value: that is a Python strategy's warm-up (trading starts after it), and with it a
        rule strategy trades from the same bar as the Python strategy reading those indicators."""
        cached = self._signals
        if cached is not None and cached[0] is bars:  # the engine asks for entry, then exit
            return cached[1], cached[2]
        series = RuleSeries(bars)
        n = len(bars)
        entry = np.logical_and.reduce([series.holds(rule) for rule in self._entry])
        exit_ = (
            np.logical_or.reduce([series.holds(rule) for rule in self._exit])
            if self._exit
            else np.zeros(n, dtype=bool)
        )
        read = {
            (node.spec, node.output)
            for rule in (*self._entry, *self._exit)
            for node in _nodes(rule)
            if isinstance(node, IndicatorNode)
        }
        warmup = warmup_bars(
            {f"{spec.key}/{output}": series.indicator(spec, output) for spec, output in read}
        )
        entries, exits = entry.astype(np.float64), exit_.astype(np.float64)
        entries[:warmup] = exits[:warmup] = np.nan
        self._signals = (bars, entries, exits)
        return entries, exits

    def active_bars(self, series: Mapping[str, np.ndarray]) -> np.ndarray:
        # next() does nothing on a bar where neither an entry nor an exit rule holds, whatever the
        # position (the brackets are the broker's): these bars are exactly the ones it acts on.
        active: np.ndarray = (series["entry"] == 1.0) | (series["exit"] == 1.0)
        return active

    def next(self, ctx: Context) -> None:
        definition = self.definition
        if ctx.position:
            if ctx.value("exit") == 1.0:
                ctx.close()
            return
        if ctx.value("entry") != 1.0:
            return
        if definition.max_positions is not None and ctx.positions_held >= definition.max_positions:
            return  # the cap is reached: this entry is skipped, not queued
        # Brackets at a distance from this bar's close, the last price known when deciding.
        price = ctx.price
        sign = 1 if definition.side == "long" else -1
        stop_loss = take_profit = None
        if definition.stop_loss_pct is not None:
            stop_loss = price * (1 - sign * definition.stop_loss_pct / 100)
        if definition.take_profit_pct is not None:
            take_profit = price * (1 + sign * definition.take_profit_pct / 100)
        order = ctx.buy if sign > 0 else ctx.sell
        order(fraction=definition.fraction, stop_loss=stop_loss, take_profit=take_profit)


def _nodes(rule: Rule) -> list[object]:
    found: list[object] = []
    stack = [rule.expr]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(children(node))
    return found
