"""A strategy deciding live: the same `next(ctx)` as in a backtest, on the latest bar, with the
account's real position, cash and equity, and its orders turned into order intents that
Trading places. Nothing here places orders: the handler does, through Trading's commands."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from trading_system.strategies.backtest import indicator_series
from trading_system.strategies.domain import PRICE_COLUMNS, Context, Strategy
from trading_system.strategies.engine import FULL_EQUITY, Bars


class NotLiveYet(Exception):
    """Something a strategy asked for that live trading does not do yet."""


@dataclass(frozen=True)
class Holding:
    """What the account holds of one symbol, and what it can spend, as Trading reports it."""

    qty: float  # units, negative when short
    cash: float  # buying power
    equity: float
    commission: float = 0.0  # relative, the account's fill cost: sizing leaves room for it


@dataclass(frozen=True)
class Intent:
    side: Literal["buy", "sell"]
    qty: int
    type: Literal["market", "limit", "stop", "stop_limit"] = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    sl: float | None = None  # a market entry's stop-loss and take-profit, placed once it fills
    tp: float | None = None
    exit: bool = False  # it closes what is held (and so ends the position's stop-loss/take-profit)


@dataclass
class _OpenTrade:
    size: float
    tag: str | None = None


@dataclass
class LiveBroker:
    """The broker a strategy's Context talks to, live: it reads the account and records the
    orders the strategy asks for. Sizing follows backtesting.py's: a fraction of what is
    available, in whole units, at the last price plus commission."""

    holding: Holding
    last_price: float
    intents: list[Intent] = field(default_factory=list)

    @property
    def position_size(self) -> float:
        return self.holding.qty

    @property
    def cash(self) -> float:
        return self.holding.cash

    @property
    def equity(self) -> float:
        return self.holding.equity

    @property
    def trades(self) -> list[_OpenTrade]:
        return [_OpenTrade(self.holding.qty)] if self.holding.qty else []

    @property
    def orders(self) -> list[Intent]:
        return self.intents

    def new_order(
        self,
        size: float,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: str | None = None,
    ) -> None:
        bracketed = sl is not None or tp is not None
        if bracketed and (limit or stop):
            raise NotLiveYet("a stop-loss or take-profit on a limit or stop entry is not placed live yet")
        if bracketed:
            low, high = (sl, tp) if size > 0 else (tp, sl)
            if not (low or -math.inf) < self.last_price < (high or math.inf):
                side_name = "long" if size > 0 else "short"
                raise ValueError(
                    f"a {side_name} entry at {self.last_price} needs its stop-loss ({sl}) and take-profit "
                    f"({tp}) on either side of the price"
                )
        side: Literal["buy", "sell"] = "buy" if size > 0 else "sell"
        qty = self._units(abs(size), limit or stop or self.last_price)
        if qty < 1:
            return  # too little to buy one unit: backtesting.py cancels such an order too
        kind: Literal["market", "limit", "stop", "stop_limit"] = (
            "stop_limit" if limit and stop else "limit" if limit else "stop" if stop else "market"
        )
        self.intents.append(Intent(side, qty, kind, limit, stop, sl, tp))

    def close_trade_order(self, trade: _OpenTrade, portion: float = 1.0) -> None:
        qty = max(1, round(abs(trade.size) * portion))
        self.intents.append(Intent("sell" if trade.size > 0 else "buy", int(qty), exit=True))

    def _units(self, size: float, price: float) -> int:
        if size >= 1:
            return int(size)
        share = 1.0 if size == FULL_EQUITY else size
        available = max(0.0, self.holding.cash) * share
        return int(available // (price * (1 + self.holding.commission)))


def decide(strategy: Strategy, bars: Bars, holding: Holding, symbol: str) -> list[Intent]:
    """What the strategy does on the last bar of `bars`, given what the account holds."""
    if not math.isfinite(float(bars.close[-1])):
        raise ValueError(f"the last close of {symbol} is not a number")
    series = indicator_series(strategy, bars)
    active = strategy.active_bars({**{c: bars.column(c) for c in PRICE_COLUMNS}, **series})
    broker = LiveBroker(holding, float(bars.close[-1]))
    last = len(bars) - 1
    if active is not None and not bool(np.asarray(active)[last]):
        return []  # the strategy says it does nothing on this bar
    context = Context(broker, bars, series, symbol)
    context.i = last
    strategy.next(context)
    return broker.intents
