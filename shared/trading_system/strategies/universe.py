"""Universes by date: a symbol belongs to a backtest's universe on the bars where a scanner's
rules matched it, evaluated on each bar from the bars up to it (rule_series gives, bar by bar,
exactly what the scanner's own query gives on its latest bar), so membership on day D never
depends on a later bar. A strategy may enter a symbol only while it belongs; the order fills on
the next bar at the earliest, so a signal seen on D is acted on at D+1's open."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trading_system.strategies.domain import Context, Strategy, decide_only_when
from trading_system.strategies.engine import Bars


def membership(rules: Sequence[str], bars: Bars) -> np.ndarray:
    """True on the bars where every rule holds (a scanner's match)."""
    from trading_system.scanning.rules import parse
    from trading_system.strategies.rule_series import RuleSeries

    series = RuleSeries(bars)
    held: np.ndarray = np.logical_and.reduce([series.holds(parse(rule)) for rule in rules])
    return held


def gate(strategy: Strategy, member: np.ndarray) -> None:
    """Let the strategy decide only while it holds a position or while the symbol belongs: it can
    always get out, and it can get in only on a matched bar."""
    belongs = member.tolist()
    decide_only_when(strategy, lambda ctx: may_decide(belongs, ctx))


def may_decide(belongs: Sequence[bool], ctx: Context) -> bool:
    """Whether a strategy gated by a universe decides on this bar: while it holds or has orders
    in the symbol, or on a bar where the symbol belongs."""
    return bool(ctx.position or ctx.pending_orders or belongs[ctx.i])
