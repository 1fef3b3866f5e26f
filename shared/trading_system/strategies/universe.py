"""Universes by date: a symbol belongs to a backtest's universe on the bars where a scanner's
rules matched it, evaluated on each bar from the bars up to it (rule_series gives, bar by bar,
exactly what the scanner's own query gives on its latest bar), so membership on day D never
depends on a later bar. An external scanner has no rules: a symbol belongs on the bars its
recorded signals name. A strategy may enter a symbol only while it belongs; the order fills on
the next bar at the earliest, so a signal seen on D is acted on at D+1's open."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from trading_system.strategies.domain import Context, Strategy, decide_only_when
from trading_system.strategies.engine import Bars

if TYPE_CHECKING:
    from trading_system.analytics.ports import SignalLog

# Every signal an external scanner raised, read at once: enough for years of alerts on hundreds
# of symbols; a scanner past it gets a clear error rather than a silently cut universe.
MAX_RECORDED_SIGNALS = 200_000


def membership(rules: Sequence[str], bars: Bars) -> np.ndarray:
    """True on the bars where every rule holds (a scanner's match)."""
    from trading_system.scanning.rules import parse
    from trading_system.strategies.rule_series import RuleSeries

    series = RuleSeries(bars)
    held: np.ndarray = np.logical_and.reduce([series.holds(parse(rule)) for rule in rules])
    return held


def signalled(bar_starts: Collection[datetime], bars: Bars) -> np.ndarray:
    """True on the bars a scanner's recorded signals name (an external scanner's matches)."""
    wanted = np.array([int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000 for ts in bar_starts])
    return np.isin(bars.ts_ns, wanted.astype(np.int64))


def recorded_signal_bars(
    signal_log: SignalLog, scanner_id: str, until: datetime | None = None
) -> dict[str, set[datetime]]:
    """The bars each symbol was signalled on by the scanner, from its signals detected up to
    `until` (a backtest's submission: what came later is not what it was asked about)."""
    rows = signal_log.signals([scanner_id], None, None, MAX_RECORDED_SIGNALS + 1, analytics=False)
    if len(rows) > MAX_RECORDED_SIGNALS:
        raise ValueError(
            f"scanner {scanner_id} has raised more than {MAX_RECORDED_SIGNALS:,} signals: too many "
            "to read as a universe at once"
        )
    found: dict[str, set[datetime]] = {}
    for row in rows:
        if until is not None and datetime.fromisoformat(row["detected_at"]) > until:
            continue
        found.setdefault(row["symbol"], set()).add(datetime.fromisoformat(row["ts"]))
    return found


def gate(strategy: Strategy, member: np.ndarray) -> None:
    """Let the strategy decide only while it holds a position or while the symbol belongs: it can
    always get out, and it can get in only on a matched bar."""
    belongs = member.tolist()
    decide_only_when(strategy, lambda ctx: may_decide(belongs, ctx))


def may_decide(belongs: Sequence[bool], ctx: Context) -> bool:
    """Whether a strategy gated by a universe decides on this bar: while it holds or has orders
    in the symbol, or on a bar where the symbol belongs."""
    return bool(ctx.position or ctx.pending_orders or belongs[ctx.i])
