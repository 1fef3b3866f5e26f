"""The parity report: what a deployment did live beside what the backtest engine does with the
same strategy on the same bars, and every difference between the two.

The backtest uses the paper broker's fill profile (`last_close`: a market order fills at once at
the last price) with the account's commission, starts flat with the account's equity at the
deployment's start, and decides from the first bar the deployment decided on. A difference is
then a fact worth a look: an order the backtest places that live did not (or the reverse), or the
same decision at another size or price (a shared account's cash, a partial fill, slippage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

if TYPE_CHECKING:  # the report's models are the API's response: they must not bring numpy
    from trading_system.strategies.engine import Bars, Trade
    from trading_system.strategies.statistics import ClosedTrade

Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class Action:
    """An order decided on a bar, and how it filled (None: it did not)."""

    bar: datetime
    side: Side
    qty: float
    price: float | None


class Difference(BaseModel):
    symbol: str
    bar: datetime
    kind: Literal["only_live", "only_backtest", "qty", "price"]
    side: Side
    live_qty: float | None = None
    backtest_qty: float | None = None
    live_price: float | None = None
    backtest_price: float | None = None


class ParityReport(BaseModel):
    deployment_id: str
    profile: dict[str, object]
    cash: float
    symbols: dict[str, dict[str, object]]  # per symbol: first and last bar, actions on each side
    differences: list[Difference]

    @property
    def equal(self) -> bool:
        return not self.differences


def backtest_actions(bars: Bars, trades: Sequence[ClosedTrade], open_trades: Sequence[Trade]) -> list[Action]:
    """The orders a backtest filled, as actions on the bars they were decided on (fills at the
    decision bar's close under `last_close`, so the decision bar is the fill bar)."""
    from trading_system.strategies.results import utc

    def at(i: int) -> datetime:
        return utc(int(bars.ts_ns[i]))

    actions = []
    for trade in trades:
        entry: Side = "buy" if trade.size > 0 else "sell"
        actions.append(Action(at(trade.entry_bar), entry, abs(trade.size), trade.entry_price))
        actions.append(
            Action(at(trade.exit_bar), "sell" if entry == "buy" else "buy", abs(trade.size), trade.exit_price)
        )
    for still in open_trades:
        actions.append(
            Action(
                at(still.entry_bar), "buy" if still.size > 0 else "sell", abs(still.size), still.entry_price
            )
        )
    return sorted(actions, key=lambda a: (a.bar, a.side == "buy"))


def compare(
    symbol: str, live: Sequence[Action], backtest: Sequence[Action], tolerance: float = 1e-9
) -> list[Difference]:
    """Actions matched by (bar, side), in order; what is left on either side is a difference."""
    differences: list[Difference] = []
    remaining = list(backtest)
    for action in live:
        match = next((b for b in remaining if b.bar == action.bar and b.side == action.side), None)
        if match is None:
            differences.append(
                Difference(
                    symbol=symbol,
                    bar=action.bar,
                    kind="only_live",
                    side=action.side,
                    live_qty=action.qty,
                    live_price=action.price,
                )
            )
            continue
        remaining.remove(match)
        both = Difference(
            symbol=symbol,
            bar=action.bar,
            kind="qty",
            side=action.side,
            live_qty=action.qty,
            backtest_qty=match.qty,
            live_price=action.price,
            backtest_price=match.price,
        )
        if abs(action.qty - match.qty) > tolerance:
            differences.append(both)
        elif (
            action.price is None
            or match.price is None
            or abs(action.price - match.price) > tolerance * max(1.0, abs(match.price))
        ):
            differences.append(both.model_copy(update={"kind": "price"}))
    differences += [
        Difference(
            symbol=symbol,
            bar=b.bar,
            kind="only_backtest",
            side=b.side,
            backtest_qty=b.qty,
            backtest_price=b.price,
        )
        for b in remaining
    ]
    return sorted(differences, key=lambda d: d.bar)
