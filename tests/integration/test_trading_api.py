"""Trading through the HTTP API of the local app: orders, fills, positions, the account, P&L,
risk checks, the kill switch, resets, a restart and concurrent writers.

Fills are checked against `Book`, an independent plain-Python model of the fill rules that
trading/paper_broker.py documents (Decimal arithmetic throughout), run over seeded random-walk
bars. The model processes bars in market-time order: for each bar, every open order in the
order it was placed. Which of two orders meets a bar first is not documented, so the scenarios
never let one bar meet a buy and a sell of the same symbol in one account; that bars are met in
market-time order across a batch has its own test.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import Settings
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.errors import ConcurrencyConflict, Conflict
from trading_system.kernel.principal import Principal, Role
from trading_system.market_data.commands import IngestBars
from trading_system.trading.broker import Quote as Quote_
from trading_system.trading.commands import CancelOrder, CloseSession, PlaceOrder
from trading_system.trading.orders import OrderRequest

D = Decimal
ZERO = D(0)
CENT = D("0.01")
BPS = D(10_000)


def money(value: D) -> D:
    """To the cent, half up: how the documented rules round every amount of money."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP) + 0


QTY_STEP = D("0.000000001")
AVG_STEP = D("0.000001")
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


# -- the independent model --------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """An account's settings: what the test sends, and what the model charges."""

    per_share: D = ZERO
    minimum: D = ZERO
    bps: D = ZERO
    slippage_bps: D = ZERO
    cap: D | None = None
    max_order_notional: D | None = None
    max_position_notional: D | None = None
    restricted: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "commission_per_share": str(self.per_share),
            "commission_min": str(self.minimum),
            "commission_bps": str(self.bps),
            "slippage_bps": str(self.slippage_bps),
            "restricted_symbols": list(self.restricted),
        }
        for name, value in (
            ("participation_cap", self.cap),
            ("max_order_notional", self.max_order_notional),
            ("max_position_notional", self.max_position_notional),
        ):
            if value is not None:
                out[name] = str(value)
        return out

    def commission(self, qty: D, price: D) -> D:
        """Per share, at least the minimum when a per-share charge applies, plus bps of the
        notional, to the cent (half up)."""
        per_share = qty * self.per_share
        if per_share > 0 and per_share < self.minimum:
            per_share = self.minimum
        return (per_share + qty * price * self.bps / BPS).quantize(CENT, rounding=ROUND_HALF_UP)

    def slip(self, price: D, buy: bool) -> D:
        """Against the trader by slippage_bps, to 4 places (half up)."""
        if self.slippage_bps == 0:
            return price
        moved = price + price * self.slippage_bps / BPS if buy else price - price * self.slippage_bps / BPS
        return moved.quantize(D("0.0001"), rounding=ROUND_HALF_UP)

    def cap_of(self, volume: D) -> D | None:
        return None if self.cap is None else (volume * self.cap).quantize(QTY_STEP, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Bar:
    ts: datetime
    length: timedelta
    open: D
    high: D
    low: D
    close: D
    volume: D

    @property
    def end(self) -> datetime:
        return self.ts + self.length

    @property
    def session(self) -> date:
        return self.ts.date()

    def row(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "open": float(self.open),
            "high": float(self.high),
            "low": float(self.low),
            "close": float(self.close),
            "volume": float(self.volume),
        }


def walk(
    seed: int, times: Sequence[datetime], length: timedelta, start: str, volume: tuple[int, int]
) -> list[Bar]:
    """A seeded random walk in cents, with gaps between one close and the next open."""
    rng = random.Random(seed)
    close = D(start)
    bars = []
    for ts in times:
        open_ = (close * (1 + D(repr(round(rng.gauss(0, 0.008), 6))))).quantize(CENT)
        new_close = (open_ * (1 + D(repr(round(rng.gauss(0, 0.02), 6))))).quantize(CENT)
        high = (max(open_, new_close) * (1 + D(repr(round(rng.uniform(0, 0.012), 6))))).quantize(CENT)
        low = (min(open_, new_close) * (1 - D(repr(round(rng.uniform(0, 0.012), 6))))).quantize(CENT)
        bars.append(Bar(ts, length, open_, high, low, new_close, D(rng.randint(*volume))))
        close = new_close
    return bars


def days(first: date, n: int) -> list[datetime]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return [start + i * DAY for i in range(n)]


def hours(first: date, n_days: int, open_hour: int = 14, bars_per_day: int = 7) -> list[datetime]:
    out = []
    for d in days(first, n_days):
        out += [d + timedelta(hours=open_hour + h) for h in range(bars_per_day)]
    return out


@dataclass(frozen=True)
class Quote:
    price: D
    volume: D
    time: datetime  # the end of the bar that closed at `price`
    start: datetime  # that bar's start: a fill at the last price is dated by that bar

    def as_bar(self) -> Bar:
        return Bar(self.start, timedelta(0), self.price, self.price, self.price, self.price, self.volume)


@dataclass
class SimOrder:
    id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: D | None
    notional: D | None
    limit: D | None
    stop: D | None
    as_of: datetime | None
    status: str = "accepted"
    filled_qty: D = ZERO
    filled_notional: D = ZERO
    commission: D = ZERO
    session: date | None = None
    triggered: bool = False
    reason: str | None = None

    @property
    def buy(self) -> bool:
        return self.side == "buy"

    @property
    def is_open(self) -> bool:
        return self.status in ("accepted", "partially_filled")

    def remaining(self, price: D) -> D:
        if self.qty is not None:
            return self.qty - self.filled_qty
        assert self.notional is not None
        left = self.notional - self.filled_notional
        return (left / price).quantize(QTY_STEP, rounding=ROUND_DOWN) if left > 0 else ZERO

    @property
    def avg_price(self) -> D | None:
        return (self.filled_notional / self.filled_qty).quantize(AVG_STEP) if self.filled_qty else None


@dataclass(frozen=True)
class SimFill:
    order_id: str
    symbol: str
    side: str
    qty: D
    price: D
    commission: D
    realized: D
    market_time: datetime


@dataclass
class Holding:
    qty: D = ZERO
    cost: D = ZERO
    realized: D = ZERO
    commission: D = ZERO


@dataclass
class Hold:
    """What an open order holds back: cash for a buy, shares for a sell."""

    symbol: str
    side: str
    cash: D
    qty: D


class Book:
    """One paper account as the documented rules say it should evolve."""

    def __init__(self, account_id: str, cash: D, terms: Terms):
        self.account_id = account_id
        self.starting = cash
        self.cash = cash
        self.terms = terms
        self.last_equity = cash
        self.orders: dict[str, SimOrder] = {}
        self.holdings: dict[str, Holding] = {}
        self.holds: dict[str, Hold] = {}
        self.fills: list[SimFill] = []

    # -- placing ---------------------------------------------------------------------------

    def place(self, order: SimOrder, quote: Quote | None) -> None:
        self.orders[order.id] = order
        reason = self._risk(order, quote)
        if reason is not None:
            order.status, order.reason = "rejected", reason
            return
        if quote is not None:  # fills at once at the last price when it can
            self.evaluate(order, quote.as_bar(), in_session=False)

    def _risk(self, order: SimOrder, quote: Quote | None) -> str | None:
        terms = self.terms
        if order.symbol in terms.restricted:
            return "restricted"
        last = quote.price if quote else None
        price: D | None
        if order.limit is not None:
            price = order.limit
        elif order.type == "stop":
            assert order.stop is not None
            stop = max(order.stop, last) if order.buy and last is not None else order.stop
            price = terms.slip(stop, order.buy)
        else:
            price = terms.slip(last, order.buy) if last is not None else None
        qty = order.qty if order.qty is not None else (order.remaining(price) if price else None)
        notional = order.notional if order.notional is not None else (qty * price if qty and price else None)
        if notional is None:
            assert order.buy and terms.max_order_notional is None and terms.max_position_notional is None
            self.holds[order.id] = Hold(order.symbol, order.side, ZERO, ZERO)
            return None
        assert qty is not None and price is not None
        if not order.buy:
            sellable = self.held(order.symbol) - sum(
                (h.qty for h in self.holds.values() if h.symbol == order.symbol and h.side == "sell"), ZERO
            )
            if qty > sellable:
                return "insufficient position"
        if terms.max_order_notional is not None and notional > terms.max_order_notional:
            return "max_order_notional"
        if not order.buy:
            self.holds[order.id] = Hold(order.symbol, "sell", ZERO, qty)
            return None
        if terms.max_position_notional is not None:
            pending = sum(
                (h.qty for h in self.holds.values() if h.symbol == order.symbol and h.side == "buy"), ZERO
            )
            if (self.held(order.symbol) + pending) * price + notional > terms.max_position_notional:
                return "max_position_notional"
        cost = money(notional + terms.commission(qty, price))
        if cost > self.buying_power:
            return "insufficient buying power"
        self.holds[order.id] = Hold(order.symbol, "buy", cost, qty)
        return None

    # -- the fill rules --------------------------------------------------------------------

    def evaluate(self, order: SimOrder, bar: Bar, *, in_session: bool) -> None:
        terms = self.terms
        if in_session and order.tif == "day":
            if order.session is None:
                order.session = bar.session
            elif bar.session > order.session:
                self._close(order, "expired", "day order expired")
                return
        last_chance = order.tif in ("ioc", "fok")
        start: D | None = None
        if order.type in ("stop", "stop_limit") and not order.triggered:
            assert order.stop is not None
            if order.buy:
                start = bar.open if bar.open >= order.stop else order.stop if bar.high >= order.stop else None
            else:
                start = bar.open if bar.open <= order.stop else order.stop if bar.low <= order.stop else None
            if start is None:
                if last_chance:
                    self._close(order, "canceled", "stop not triggered")
                return
            order.triggered = True  # from now on a market order (stop) or a limit order (stop_limit)
        price = self._price(order, bar, start)
        if price is None:
            if last_chance:
                self._close(order, "canceled", "not marketable")
            return
        wanted = order.remaining(price)
        cap = terms.cap_of(bar.volume)
        available = wanted if cap is None else min(wanted, cap)
        if order.tif == "fok" and available < wanted:
            self._close(order, "canceled", "fok")
            return
        if available > 0:
            self._fill(order, available, price, bar.ts)
        if order.tif == "ioc" and available < wanted and order.is_open:
            self._close(order, "canceled", "ioc")

    def _price(self, order: SimOrder, bar: Bar, start: D | None) -> D | None:
        first = start if start is not None else bar.open
        if order.type in ("market", "stop"):
            return self.terms.slip(first, order.buy)
        assert order.limit is not None
        if order.buy:
            return first if first <= order.limit else order.limit if bar.low <= order.limit else None
        return first if first >= order.limit else order.limit if bar.high >= order.limit else None

    def _fill(self, order: SimOrder, qty: D, price: D, market_time: datetime) -> None:
        commission = self.terms.commission(qty, price)
        hold = self.holds.get(order.id)
        holding = self.holdings.setdefault(order.symbol, Holding())
        value = money(qty * price)  # the cash a fill moves, to the cent
        if order.buy:
            available = self.buying_power + (hold.cash if hold else ZERO)
            if value + commission > available:
                self._close(order, "canceled", "insufficient cash at fill")
                return
            holding.qty += qty
            holding.cost += value
            realized = ZERO
            self.cash -= value + commission
        else:
            if qty > holding.qty:
                self._close(order, "canceled", "insufficient position at fill")
                return
            removed = holding.cost if qty == holding.qty else money(holding.cost * qty / holding.qty)
            realized = value - removed
            holding.qty -= qty
            holding.cost -= removed
            holding.realized += realized
            self.cash += value - commission
        holding.commission += commission
        if holding.qty == 0:
            del self.holdings[order.symbol]
        if hold is not None:
            spent = qty * price + commission if order.buy else ZERO
            hold.cash = max(hold.cash - spent, ZERO)
            hold.qty = max(hold.qty - qty, ZERO)
        order.filled_qty += qty
        order.filled_notional += qty * price
        order.commission += commission
        if order.qty is not None:
            done = order.filled_qty == order.qty
        else:
            assert order.notional is not None
            left = order.notional - order.filled_notional
            done = (left / price).quantize(QTY_STEP, rounding=ROUND_DOWN) <= 0
        order.status = "filled" if done else "partially_filled"
        if done:
            self.holds.pop(order.id, None)
        self.fills.append(
            SimFill(order.id, order.symbol, order.side, qty, price, commission, realized, market_time)
        )

    def _close(self, order: SimOrder, status: str, reason: str) -> None:
        order.status, order.reason = status, reason
        self.holds.pop(order.id, None)

    def cancel(self, order_id: str) -> None:
        self._close(self.orders[order_id], "canceled", "canceled by request")

    def close_session(self, quotes: dict[str, Quote]) -> None:
        for order in self.orders.values():
            if order.is_open and order.tif == "day":
                self._close(order, "expired", "at the close")
        self.last_equity = self.equity(quotes)

    # -- what the account shows ------------------------------------------------------------

    def held(self, symbol: str) -> D:
        holding = self.holdings.get(symbol)
        return holding.qty if holding else ZERO

    @property
    def reserved(self) -> D:
        return sum((h.cash for h in self.holds.values()), ZERO)

    @property
    def buying_power(self) -> D:
        return self.cash - self.reserved

    def market_value(self, symbol: str, quotes: dict[str, Quote]) -> D:
        holding = self.holdings[symbol]
        return money(holding.qty * quotes[symbol].price) if symbol in quotes else holding.cost

    def equity(self, quotes: dict[str, Quote]) -> D:
        return self.cash + sum((self.market_value(s, quotes) for s in self.holdings), ZERO)

    def pnl(self, by: str) -> dict[str, dict[str, D]]:
        rows: dict[str, dict[str, D]] = {}
        for fill in self.fills:
            key = fill.market_time.date().isoformat() if by == "day" else fill.symbol
            row = rows.setdefault(
                key,
                dict.fromkeys(
                    ("realized_pl", "commission", "fills", "bought_qty", "sold_qty", "traded_value"), ZERO
                ),
            )
            row["realized_pl"] += fill.realized
            row["commission"] += fill.commission
            row["fills"] += 1
            row["bought_qty" if fill.side == "buy" else "sold_qty"] += fill.qty
            row["traded_value"] += fill.qty * fill.price
        for row in rows.values():
            row["net_pl"] = row["realized_pl"] - row["commission"]
            row["traded_value"] = money(row["traded_value"])
        return rows


class Market:
    """The latest prices and every modelled account: bars go to each open order in turn."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.books: dict[str, Book] = {}

    def ingest(self, symbol: str, bars: Sequence[Bar]) -> None:
        for bar in bars:
            for book in self.books.values():
                for order in list(book.orders.values()):
                    if order.symbol != symbol or not order.is_open:
                        continue
                    if order.as_of is not None and bar.ts < order.as_of:
                        continue
                    book.evaluate(order, bar, in_session=True)
        last = bars[-1]
        known = self.quotes.get(symbol)
        if known is None or known.time <= last.end:
            self.quotes[symbol] = Quote(last.close, last.volume, last.end, last.ts)

    def close_session(self) -> None:
        for book in self.books.values():
            book.close_session(self.quotes)


# -- talking to the API --------------------------------------------------------------------------


def key_id(token: str) -> str:
    """A token is tsk_<key id>_<secret>; the audit trail names the key id."""
    return token.split("_")[1]


def order_id_for(account_id: str, client_order_id: str) -> str:
    """The documented derivation (one order per account and client_order_id)."""
    return str(uuid5(NAMESPACE_URL, f"trading:{account_id}/{client_order_id}"))


class Api:
    def __init__(self, client: TestClient, keys: Keys):
        self.client = client
        self.keys = keys

    def headers(self, role: str | None) -> dict[str, str]:
        return self.keys.header(role) if role else {}

    def get(self, path: str, role: str = "viewer", **params: Any) -> Any:
        response = self.client.get(
            path, params={k: v for k, v in params.items() if v is not None}, headers=self.headers(role)
        )
        assert response.status_code == 200, f"GET {path}: {response.text}"
        return response.json()

    def post(self, path: str, body: Any = None, role: str | None = "trader") -> httpx.Response:
        response: httpx.Response = self.client.post(path, json=body, headers=self.headers(role))
        return response

    def delete(self, path: str, role: str | None = "trader") -> httpx.Response:
        response: httpx.Response = self.client.delete(path, headers=self.headers(role))
        return response

    def register(self, *symbols: str) -> None:
        for symbol in symbols:
            response = self.post("/v1/symbols", {"symbol": symbol})
            assert response.status_code == 201, response.text

    def create_account(self, account_id: str, cash: D, terms: Terms = Terms()) -> None:
        body = {"account_id": account_id, "starting_cash": str(cash), "settings": terms.settings()}
        response = self.post("/v1/accounts", body, role="admin")
        assert response.status_code == 201, response.text

    def ingest(self, symbol: str, bars: Sequence[Bar], timeframe: str = "1d") -> httpx.Response:
        response = self.post(
            "/v1/bars", {"timeframe": timeframe, "symbol": symbol, "bars": [b.row() for b in bars]}
        )
        assert response.status_code == 201, response.text
        return response

    def place(self, body: dict[str, Any], role: str = "trader") -> dict[str, Any]:
        response = self.post("/v1/orders", body, role=role)
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    def order(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/v1/orders/{order_id}")
        return found

    def account(self, account_id: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = self.get("/v1/account", account_id=account_id)
        return found

    def orders(self, account_id: str | None = None, status: str = "all") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.get("/v1/orders", account_id=account_id, status=status, after=after, limit=500)
            found += page["orders"]
            after = page["next"]
            if after is None:
                return found

    def fills(self, account_id: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/v1/fills", account_id=account_id, limit=1000)["fills"]
        return found


def near(a: D, b: D, tolerance: D = D("0.000000001")) -> bool:
    return abs(a - b) <= tolerance


def decimal_or_none(value: Any) -> D | None:
    return None if value is None else D(value)


class Trader:
    """Sends each order to the API and to the model, and checks they agree on the spot."""

    def __init__(self, api: Api, market: Market):
        self.api = api
        self.market = market
        self.sent = 0

    def place(
        self,
        book: Book,
        symbol: str,
        side: str,
        *,
        qty: D | None = None,
        notional: D | None = None,
        type: str = "market",
        tif: str = "day",
        limit: D | None = None,
        stop: D | None = None,
    ) -> SimOrder:
        self.sent += 1
        body: dict[str, Any] = {
            "symbol": symbol,
            "side": side,
            "type": type,
            "time_in_force": tif,
            "client_order_id": f"{book.account_id}-{self.sent}",
        }
        if book.account_id != "paper":  # "paper" is the default account: leave it out
            body["account_id"] = book.account_id
        for name, value in (
            ("qty", qty),
            ("notional", notional),
            ("limit_price", limit),
            ("stop_price", stop),
        ):
            if value is not None:
                body[name] = str(value)
        response = self.api.post("/v1/orders", body)
        quote = self.market.quotes.get(symbol)
        model = SimOrder(
            id=order_id_for(book.account_id, body["client_order_id"]),
            symbol=symbol,
            side=side,
            type=type,
            tif=tif,
            qty=qty,
            notional=notional,
            limit=limit,
            stop=stop,
            as_of=quote.time if quote else None,
        )
        book.place(model, quote)
        if model.status == "rejected":
            assert response.status_code == 422, response.text
            assert response.json()["type"] == "/problems/order-rejected"
            got = response.json()["order"]
        else:
            assert response.status_code == 201, f"{body}: {response.text}"
            got = response.json()
        assert got["id"] == model.id
        assert got["status"] == model.status, f"{body}: {got}"
        assert D(got["filled_qty"]) == model.filled_qty, f"{body}: {got}"
        as_of = got["as_of"]
        assert (datetime.fromisoformat(as_of) if as_of else None) == model.as_of
        return model

    def cancel(self, book: Book, order: SimOrder) -> None:
        response = self.api.delete(f"/v1/orders/{order.id}")
        assert response.status_code == 200, response.text
        book.cancel(order.id)
        assert response.json()["status"] == "canceled"

    def ingest(self, symbol: str, bars: Sequence[Bar], timeframe: str = "1d") -> None:
        self.api.ingest(symbol, bars, timeframe)
        self.market.ingest(symbol, bars)

    def open_orders(self, book: Book, symbol: str, side: str) -> list[SimOrder]:
        return [o for o in book.orders.values() if o.symbol == symbol and o.side == side and o.is_open]

    def price(self, symbol: str, factor: str) -> D:
        return (self.market.quotes[symbol].price * D(factor)).quantize(CENT)


def verify(api: Api, market: Market, book: Book, when: str) -> None:
    """Every order, fill, position, the account and P&L against the model."""
    account_id = book.account_id
    where = f"{account_id} {when}"

    for order in book.orders.values():
        got = api.order(order.id)
        what = f"{where}: {order.side} {order.type} {order.tif} {order.id}"
        assert got["status"] == order.status, (
            f"{what}: {got['status']} ({got['cancel_reason']}), model {order}"
        )
        assert D(got["filled_qty"]) == order.filled_qty, f"{what}: {got['filled_qty']}, model {order}"
        assert decimal_or_none(got["filled_avg_price"]) == order.avg_price, f"{what}: {got}"
        assert D(got["commission"]) == order.commission, f"{what}: {got}"

    got_fills = sorted(
        (
            (
                f["order_id"],
                datetime.fromisoformat(f["market_time"]),
                D(f["qty"]),
                D(f["price"]),
                D(f["commission"]),
                f["symbol"],
                f["side"],
            ),
            D(f["realized_pl"]),
        )
        for f in api.fills(account_id)
    )
    want_fills = sorted(
        ((f.order_id, f.market_time, f.qty, f.price, f.commission, f.symbol, f.side), f.realized)
        for f in book.fills
    )
    assert [k for k, _ in got_fills] == [k for k, _ in want_fills], where
    for (k, got_realized), (_, want_realized) in zip(got_fills, want_fills, strict=True):
        assert got_realized == want_realized, f"{where}: realized P&L of fill {k}"

    quotes = market.quotes
    positions = {p["symbol"]: p for p in api.get("/v1/positions", account_id=account_id)}
    assert sorted(positions) == sorted(book.holdings), where
    for symbol, holding in book.holdings.items():
        got = positions[symbol]
        assert D(got["qty"]) == holding.qty, f"{where} {symbol}: {got}"
        assert near(D(got["avg_entry_price"]), holding.cost / holding.qty, AVG_STEP), f"{where}: {got}"
        assert D(got["cost_basis"]) == holding.cost, f"{where} {symbol}: {got}"
        assert D(got["market_value"]) == book.market_value(symbol, quotes), f"{where}: {got}"
        unrealized = book.market_value(symbol, quotes) - holding.cost
        assert D(got["unrealized_pl"]) == unrealized, f"{where} {symbol}: {got}"
        assert D(got["realized_pl"]) == holding.realized, f"{where} {symbol}: {got}"
        assert D(got["commission"]) == holding.commission, f"{where} {symbol}: {got}"

    account = api.account(account_id)
    assert D(account["cash"]) == book.cash, where
    assert D(account["reserved_cash"]) == money(book.reserved), where
    assert D(account["buying_power"]) == money(book.buying_power), where
    assert D(account["equity"]) == book.equity(quotes), where
    assert D(account["last_equity"]) == book.last_equity, where
    assert account["open_orders"] == len(book.holds), where
    assert D(account["commission"]) == sum((f.commission for f in book.fills), ZERO), where
    assert D(account["realized_pl"]) == sum((f.realized for f in book.fills), ZERO), where

    for by in ("day", "symbol"):
        report = api.get("/v1/pnl", account_id=account_id, by=by)
        got_rows = {row[by]: row for row in report["rows"]}
        want_rows = book.pnl(by)
        assert list(got_rows) == sorted(want_rows), f"{where}: P&L by {by}"
        for name, want in want_rows.items():
            for column, value in want.items():
                got_value = D(str(got_rows[name][column]))
                assert got_value == value, f"{where}: P&L {by} {name} {column}"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def api(client: TestClient, keys: Keys) -> Api:
    return Api(client, keys)


@pytest.fixture
def paper(api: Api) -> Book:
    """The default account, as an admin creates it, with 100,000 of cash and no costs."""
    api.create_account("paper", D(100_000))
    return Book("paper", D(100_000), Terms())


def flat_bar(ts: datetime, price: str, volume: int = 100_000, length: timedelta = DAY) -> Bar:
    p = D(price)
    return Bar(ts, length, p, p, p, p, D(volume))


def bar(ts: datetime, o: str, h: str, low: str, c: str, volume: int = 100_000) -> Bar:
    return Bar(ts, DAY, D(o), D(h), D(low), D(c), D(volume))


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# -- 1. the fill rules over generated histories ----------------------------------------------------


COSTLY = Terms(
    per_share=D("0.005"),
    minimum=D("1.00"),
    bps=D("1.5"),
    slippage_bps=D("7"),
    cap=D("0.02"),  # volumes are 2,000-20,000 a day: 40-400 shares a bar
)


def test_daily_history_fills_match_the_documented_rules(api: Api, paper: Book) -> None:
    market = Market()
    costly = Book("costly", D(1_000_000), COSTLY)
    api.create_account("costly", costly.starting, COSTLY)
    market.books = {"paper": paper, "costly": costly}
    api.register("WALKA", "WALKB")
    trader = Trader(api, market)
    series = {
        "WALKA": walk(11, days(date(2024, 1, 1), 60), DAY, "52.00", (2_000, 20_000)),
        "WALKB": walk(12, days(date(2024, 1, 1), 60), DAY, "31.00", (2_000, 20_000)),
    }

    def feed(first: int, last: int) -> None:
        for symbol, bars in series.items():
            trader.ingest(symbol, bars[first:last])

    def check(when: str) -> None:
        for book in market.books.values():
            verify(api, market, book, when)

    feed(0, 20)  # history: nothing to fill yet
    check("after the history")

    # Phase 1: buys of every type and time in force. Stops in the capped account stay below the
    # smallest bar's cap, so a stop never fills in parts (see the stop test further down).
    for book in market.books.values():
        trader.place(book, "WALKA", "buy", qty=D(200))  # market day, at the last price
        trader.place(
            book, "WALKA", "buy", qty=D(150), type="limit", tif="gtc", limit=trader.price("WALKA", "0.97")
        )
        trader.place(book, "WALKA", "buy", qty=D(100), type="limit", limit=trader.price("WALKA", "0.99"))
        trader.place(
            book, "WALKA", "buy", qty=D(450), type="limit", tif="ioc", limit=trader.price("WALKA", "1.01")
        )
        trader.place(
            book, "WALKA", "buy", qty=D(90), type="limit", tif="fok", limit=trader.price("WALKA", "0.98")
        )
        trader.place(
            book, "WALKA", "buy", qty=D(30), type="stop", tif="gtc", stop=trader.price("WALKA", "1.03")
        )
        trader.place(
            book,
            "WALKA",
            "buy",
            qty=D(30),
            type="stop_limit",
            tif="gtc",
            stop=trader.price("WALKA", "1.02"),
            limit=trader.price("WALKA", "1.04"),
        )
        trader.place(book, "WALKB", "buy", qty=D(100), tif="ioc")
        trader.place(
            book, "WALKB", "buy", qty=D(500), type="limit", tif="gtc", limit=trader.price("WALKB", "0.95")
        )
        trader.place(
            book,
            "WALKB",
            "buy",
            qty=D(300),
            type="stop_limit",
            stop=trader.price("WALKB", "1.01"),
            limit=trader.price("WALKB", "1.015"),
        )
        trader.place(book, "WALKB", "buy", qty=D(50), tif="fok")
        trader.place(book, "WALKB", "buy", notional=D("5000.00"))
    check("after phase 1 orders")
    for first, last in ((20, 23), (23, 24), (24, 30)):
        feed(first, last)
        check(f"after days {first}-{last - 1}")

    # Phase 2: sell part of WALKA (its open buys canceled first, so a bar never meets both a buy
    # and a sell of one symbol), more WALKB buys.
    for book in market.books.values():
        for order in trader.open_orders(book, "WALKA", "buy"):
            trader.cancel(book, order)
        held = book.held("WALKA")
        assert held > 0
        part = (held / 3).quantize(D("0.001"), rounding=ROUND_DOWN)
        trader.place(
            book, "WALKA", "sell", qty=part, type="limit", tif="gtc", limit=trader.price("WALKA", "1.03")
        )
        stop_qty = min((held / 4).quantize(D("0.001"), rounding=ROUND_DOWN), D(30))
        trader.place(
            book, "WALKA", "sell", qty=stop_qty, type="stop", tif="gtc", stop=trader.price("WALKA", "0.97")
        )
        trader.place(book, "WALKA", "sell", qty=(held / 5).quantize(D("0.001"), rounding=ROUND_DOWN))
        trader.place(
            book,
            "WALKA",
            "sell",
            qty=(held / 10).quantize(D("0.001"), rounding=ROUND_DOWN),
            type="stop_limit",
            stop=trader.price("WALKA", "0.99"),
            limit=trader.price("WALKA", "0.98"),
        )
        trader.place(
            book, "WALKB", "buy", qty=D(200), type="limit", tif="gtc", limit=trader.price("WALKB", "0.98")
        )
        trader.place(
            book, "WALKB", "buy", qty=D(25), type="stop", tif="gtc", stop=trader.price("WALKB", "1.04")
        )
    check("after phase 2 orders")
    for first, last in ((30, 35), (35, 45)):
        feed(first, last)
        check(f"after days {first}-{last - 1}")

    # Phase 3: the other way round: WALKA bought again, WALKB sold.
    for book in market.books.values():
        for order in trader.open_orders(book, "WALKA", "sell") + trader.open_orders(book, "WALKB", "buy"):
            trader.cancel(book, order)
        held = book.held("WALKB")
        assert held > 0
        trader.place(
            book,
            "WALKB",
            "sell",
            qty=(held / 2).quantize(D("0.001"), rounding=ROUND_DOWN),
            type="limit",
            tif="gtc",
            limit=trader.price("WALKB", "1.02"),
        )
        trader.place(
            book, "WALKB", "sell", qty=(held / 4).quantize(D("0.001"), rounding=ROUND_DOWN), tif="gtc"
        )
        trader.place(
            book, "WALKA", "buy", qty=D(250), type="limit", tif="gtc", limit=trader.price("WALKA", "0.99")
        )
        trader.place(book, "WALKA", "buy", qty=D(80), tif="ioc")
    check("after phase 3 orders")
    for first, last in ((45, 50), (50, 60)):
        feed(first, last)
        check(f"after days {first}-{last - 1}")

    # The scenario did what it was meant to: every outcome happened somewhere.
    statuses = {o.status for book in market.books.values() for o in book.orders.values()}
    assert {"filled", "canceled", "expired"} <= statuses
    fills_per_order: dict[str, int] = {}
    for fill in costly.fills:
        fills_per_order[fill.order_id] = fills_per_order.get(fill.order_id, 0) + 1
    assert max(fills_per_order.values()) > 1, "the participation cap never split a fill"
    assert any(o.status == "canceled" and o.filled_qty for o in costly.orders.values())  # ioc
    assert all(any(f.side == "sell" for f in book.fills) for book in market.books.values())
    window = api.get("/v1/pnl", account_id="costly", by="day", start="2024-01-25", end="2024-02-10")
    wanted = {day for day in costly.pnl("day") if "2024-01-25" <= day <= "2024-02-10"}
    assert {row["day"] for row in window["rows"]} == wanted and wanted


def test_hourly_day_orders_live_through_their_session(api: Api, container: Container) -> None:
    market = Market()
    hours_terms = Terms(bps=D("1"), slippage_bps=D("5"), per_share=D("0.01"), minimum=D("1"))
    book = Book("hours", D(250_000), hours_terms)
    api.create_account("hours", book.starting, hours_terms)
    market.books = {"hours": book}
    api.register("HOURLY")
    trader = Trader(api, market)
    bars = walk(7, hours(date(2024, 3, 4), 6), HOUR, "80.00", (5_000, 50_000))
    per_day = 7

    def day_bars(day: int, first: int = 0, last: int = per_day) -> list[Bar]:
        return bars[day * per_day + first : day * per_day + last]

    def feed(chunk: list[Bar]) -> None:
        trader.ingest("HOURLY", chunk, "1h")
        verify(api, market, book, f"after bars to {chunk[-1].ts:%m-%d %H:%M}")

    feed(day_bars(0) + day_bars(1, 0, 2))  # history, through 15:00 of day 2

    # Day 2, mid-session: day orders live through day 2; the gtc one keeps going.
    near_limit = trader.place(
        book, "HOURLY", "buy", qty=D(40), type="limit", limit=trader.price("HOURLY", "0.997")
    )
    deep_day = trader.place(
        book, "HOURLY", "buy", qty=D(40), type="limit", limit=trader.price("HOURLY", "0.9")
    )
    deep_gtc = trader.place(
        book, "HOURLY", "buy", qty=D(40), type="limit", tif="gtc", limit=trader.price("HOURLY", "0.9")
    )
    trader.place(book, "HOURLY", "buy", qty=D(30), type="stop", stop=trader.price("HOURLY", "1.004"))
    ioc = trader.place(
        book, "HOURLY", "buy", qty=D(10), type="limit", tif="ioc", limit=trader.price("HOURLY", "0.99")
    )
    assert ioc.status == "canceled"  # not marketable at the last price: canceled at once
    trader.place(book, "HOURLY", "buy", qty=D(10))  # at the last price, slipped
    trader.place(
        book,
        "HOURLY",
        "buy",
        qty=D(20),
        type="stop_limit",
        stop=trader.price("HOURLY", "1.003"),
        limit=trader.price("HOURLY", "1.006"),
    )

    feed(day_bars(1, 2, 5))
    feed(day_bars(1, 5, 7))
    assert deep_day.status == "accepted" and deep_day.session == date(2024, 3, 5)
    feed(day_bars(2, 0, 1))  # the first bar of day 3 ends every day-2 day order
    assert deep_day.status == "expired"
    assert deep_gtc.status == "accepted"
    assert near_limit.status in ("filled", "expired")

    # Day 3 from 15:00: new day orders, through two batches within the session, then day 4.
    day3 = [
        trader.place(book, "HOURLY", "buy", qty=D(25), type="limit", limit=trader.price("HOURLY", "0.995")),
        trader.place(book, "HOURLY", "buy", qty=D(25), type="limit", limit=trader.price("HOURLY", "0.93")),
        trader.place(book, "HOURLY", "buy", qty=D(15), type="stop", stop=trader.price("HOURLY", "1.01")),
    ]
    feed(day_bars(2, 1, 4))
    feed(day_bars(2, 4, 7))
    assert day3[1].status == "accepted"
    feed(day_bars(3, 0, 7))
    assert day3[1].status == "expired"

    # After day 4's last bar: a day order placed now belongs to the next session it sees (day 5).
    late = trader.place(book, "HOURLY", "buy", qty=D(25), type="limit", limit=trader.price("HOURLY", "0.9"))
    feed(day_bars(4, 0, 3))
    assert late.status == "accepted" and late.session == date(2024, 3, 8)
    # The scheduled close expires every open day order and marks the equity for day P&L.
    container.bus.execute(CloseSession(at_once=True))
    market.close_session()
    assert late.status == "expired" and deep_gtc.status == "accepted"
    verify(api, market, book, "after the close")

    # Sell what is held (the gtc buy canceled first), on the last day.
    trader.cancel(book, deep_gtc)
    held = book.held("HOURLY")
    assert held > 0
    trader.place(book, "HOURLY", "sell", qty=(held / 2).quantize(D("0.01"), rounding=ROUND_DOWN))
    trader.place(
        book,
        "HOURLY",
        "sell",
        qty=(held / 3).quantize(D("0.01"), rounding=ROUND_DOWN),
        type="limit",
        limit=trader.price("HOURLY", "1.005"),
    )
    feed(day_bars(4, 3, 7) + day_bars(5))
    assert {o.status for o in book.orders.values()} >= {"filled", "expired", "canceled"}


def test_a_batch_of_bars_meets_orders_in_market_time_order(api: Api, paper: Book) -> None:
    """Bars must reach an account in market-time order, whatever the batch: a sell on day 2
    realizes P&L against the position as it was on day 2, before a buy that fills on day 3.

    fill_orders (trading/handlers.py) walks one order through every bar of the batch before
    the next order (in id order, from the open-order index) sees any, so here the day-3 buy is
    booked before the day-2 sell, and the sell's realized P&L uses an average entry price that
    includes a purchase made after it."""
    api.register("ORDERLY")
    buy_id, sell_id = next(
        (b, s)
        for b, s in ((f"dip-buy-{n}", f"pop-sell-{n}") for n in range(100))
        if order_id_for("paper", b) < order_id_for("paper", s)  # the buy is met first
    )
    api.ingest("ORDERLY", [flat_bar(T0, "14")])
    api.place({"symbol": "ORDERLY", "side": "buy", "qty": "10"})  # 10 at 14
    for client_order_id, side, limit in ((buy_id, "buy", "12"), (sell_id, "sell", "15")):
        order = api.place(
            {
                "symbol": "ORDERLY",
                "side": side,
                "qty": "10",
                "type": "limit",
                "limit_price": limit,
                "time_in_force": "gtc",
                "client_order_id": client_order_id,
            }
        )
        assert order["status"] == "accepted"
    api.ingest(
        "ORDERLY",
        [bar(T0 + DAY, "14.50", "15.50", "14.40", "15"), bar(T0 + 2 * DAY, "13", "13", "11", "12")],
    )
    fills = {f["order_id"]: f for f in api.fills()}
    sell = fills[order_id_for("paper", sell_id)]
    assert (D(sell["price"]), sell["market_time"][:10]) == (D(15), "2024-01-02")
    assert D(sell["realized_pl"]) == D(10), "sold at 15 what was bought at 14, before the buy at 12"
    (position,) = api.get("/v1/positions")  # the day-2 sell closed the old position
    assert (D(position["qty"]), D(position["avg_entry_price"]), D(position["realized_pl"])) == (
        D(10),
        D(12),
        ZERO,
    )
    assert D(api.account()["realized_pl"]) == D(10)


def test_a_batch_of_many_symbols_meets_the_open_orders_of_every_account(
    api: Api, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fill_orders finds the open orders of a batch's symbols one read per symbol when the batch
    has few, and one read per account (and page of its open orders) when it has more symbols than
    that (an end of day): both ways must find the same orders, in every account."""
    symbols = [f"MANY{i}" for i in range(6)]
    api.register(*symbols)
    for account_id in ("left", "right"):
        api.create_account(account_id, D(100_000))
    response = api.post(
        "/v1/bars",
        {"timeframe": "1d", "bars": [{"symbol": s, **flat_bar(T0, "20").row()} for s in symbols]},
    )
    assert response.status_code == 201, response.text
    limits = {
        ("left", "MANY0"): "10",
        ("left", "MANY1"): "10",
        ("right", "MANY0"): "5",
        ("right", "MANY2"): "10",
    }
    placed = {
        where: api.place(
            {
                "account_id": where[0],
                "symbol": where[1],
                "side": "buy",
                "qty": "1",
                "type": "limit",
                "limit_price": limit,
                "time_in_force": "gtc",
            }
        )["id"]
        for where, limit in limits.items()
    }
    ledger = container.ledger
    few, many = ["MANY0"], symbols  # 1 symbol vs 2 accounts; 6 symbols vs 2 accounts
    with monkeypatch.context() as patched:  # one symbol is one read: the accounts are not read
        patched.setattr(ledger, "accounts", lambda: pytest.fail("the accounts were read for one symbol"))
        found = ledger.open_order_ids_by_symbol(few)
    assert {s: sorted(ids) for s, ids in found.items()} == {
        "MANY0": sorted([placed["left", "MANY0"], placed["right", "MANY0"]])
    }
    each = {s: sorted(ids) for s in many if (ids := ledger.open_order_ids(s))}
    assert {s: sorted(ids) for s, ids in ledger.open_order_ids_by_symbol(many).items()} == each
    assert set(each) == {"MANY0", "MANY1", "MANY2"}

    # Day 2: every symbol dips to 9, which meets the limits at 10 and not the one at 5.
    response = api.post(
        "/v1/bars",
        {
            "timeframe": "1d",
            "bars": [{"symbol": s, **bar(T0 + DAY, "20", "20", "9", "19").row()} for s in symbols],
        },
    )
    assert response.status_code == 201, response.text
    status = {where: api.order(order_id)["status"] for where, order_id in placed.items()}
    assert status == {
        ("left", "MANY0"): "filled",
        ("left", "MANY1"): "filled",
        ("right", "MANY0"): "accepted",
        ("right", "MANY2"): "filled",
    }
    assert ledger.open_order_ids_by_symbol(many) == {"MANY0": [placed["right", "MANY0"]]}


def test_a_triggered_stop_fills_its_remainder_like_a_market_order(api: Api) -> None:
    """A stop order "triggers when a bar reaches its stop and then fills like a market order".
    With a participation cap the trigger bar fills only part; the rest must fill on the next
    bar at its open, even if that bar trades back below the stop.

    Regression test: PaperBroker at 8bd90ea recorded the trigger (StopTriggered) only for
    stop_limit orders, so a part-filled stop order was re-checked against its stop on every
    later bar and sat unfilled while the price stayed on the other side of it."""
    terms = Terms(cap=D("0.1"))
    api.create_account("capped", D(100_000), terms)
    api.register("STOPPY")
    api.ingest("STOPPY", [flat_bar(T0, "10", 1_000)])
    order = api.place(
        {
            "account_id": "capped",
            "symbol": "STOPPY",
            "side": "buy",
            "qty": "150",
            "type": "stop",
            "stop_price": "11",
            "time_in_force": "gtc",
        }
    )
    api.ingest("STOPPY", [bar(T0 + DAY, "10.50", "11.50", "10.40", "11.20", 1_000)])
    after_trigger = api.order(order["id"])
    assert (after_trigger["status"], D(after_trigger["filled_qty"])) == ("partially_filled", D(100))
    api.ingest("STOPPY", [bar(T0 + 2 * DAY, "10.80", "10.90", "10.50", "10.60", 1_000)])
    done = api.order(order["id"])
    assert (done["status"], D(done["filled_qty"])) == ("filled", D(150)), done
    prices = sorted(D(f["price"]) for f in api.fills("capped"))
    assert prices == [D("10.8"), D(11)]
    assert done["stop_triggered"] is True


def test_a_sell_commission_never_takes_cash_below_zero(api: Api) -> None:
    """A paper account is a cash account. Buys are checked against cash, commission included;
    a sell's commission is not checked at all, so a tiny sell with a per-fill minimum turns
    the cash negative. Expected: the sell is rejected (or its commission capped) instead."""
    terms = Terms(per_share=D("0.01"), minimum=D("1.00"))
    api.create_account("thin", D(100), terms)
    api.register("THIN")
    api.ingest("THIN", [flat_bar(T0, "10")])
    buy = {"account_id": "thin", "symbol": "THIN", "side": "buy", "qty": "9.9", "type": "limit"}
    assert api.place({**buy, "limit_price": "10"})["status"] == "filled"  # 99 + 1.00 commission
    assert D(api.account("thin")["cash"]) == ZERO
    api.post("/v1/orders", {"account_id": "thin", "symbol": "THIN", "side": "sell", "qty": "0.001"})
    account = api.account("thin")
    assert D(account["cash"]) >= 0, f"cash {account['cash']} after selling 0.001 share for 0.01"


def test_orders_placed_before_any_price_meet_the_first_bars(api: Api, paper: Book) -> None:
    """No price yet: a market order fills at the next bar's open, and holds no cash back
    meanwhile (its fill is checked against cash instead); bars older than an order's last
    known price (a backfill, a correction) never fill it."""
    api.register("FRESH")
    market = api.place({"symbol": "FRESH", "side": "buy", "qty": "10"})
    too_big = api.place({"symbol": "FRESH", "side": "buy", "qty": "100000"})
    limit = {"symbol": "FRESH", "side": "buy", "type": "limit", "time_in_force": "gtc"}
    better = api.place({**limit, "qty": "5", "limit_price": "12"})
    assert [o["status"] for o in (market, too_big, better)] == ["accepted"] * 3
    assert market["as_of"] is None
    assert D(api.account()["buying_power"]) == D(100_000) - 5 * D(12)

    api.ingest(
        "FRESH",
        [bar(T0 + 4 * DAY, "10", "11", "9", "10.50"), bar(T0 + 5 * DAY, "10.50", "11", "10", "10.80")],
    )
    filled = api.order(market["id"])
    assert (filled["status"], D(filled["filled_avg_price"])) == ("filled", D(10))  # the first open
    assert api.order(better["id"])["filled_avg_price"] is not None
    assert D(api.order(better["id"])["filled_avg_price"]) == D(10)  # the open, better than 12
    refused = api.order(too_big["id"])
    assert refused["status"] == "canceled" and refused["cancel_reason"].startswith(
        "insufficient cash at fill"
    )
    assert D(api.account()["cash"]) == D(100_000) - 15 * D(10)

    waiting = api.place({**limit, "qty": "5", "limit_price": "9"})
    assert waiting["as_of"] == "2024-01-07T00:00:00Z"
    api.ingest("FRESH", [bar(T0, "8", "9", "7", "8"), bar(T0 + DAY, "8", "8.50", "7.50", "8")])  # backfill
    api.ingest("FRESH", [bar(T0 + 5 * DAY, "10.50", "11", "8.50", "10.80")])  # a corrected last bar
    assert api.order(waiting["id"])["status"] == "accepted"
    (position,) = api.get("/v1/positions")
    assert D(position["current_price"]) == D("10.8")  # older bars never move the last price
    api.ingest("FRESH", [bar(T0 + 6 * DAY, "10", "10", "8.80", "9")])
    assert api.order(waiting["id"])["status"] == "filled"


# -- 2. idempotency and validation -----------------------------------------------------------------


def test_the_same_client_order_id_places_one_order(api: Api, paper: Book, container: Container) -> None:
    api.register("IDEM")
    api.ingest("IDEM", [flat_bar(T0, "20")])
    body = {
        "symbol": "IDEM",
        "side": "buy",
        "qty": "5",
        "type": "limit",
        "limit_price": "19",
        "time_in_force": "gtc",
        "client_order_id": "idem-1",
    }
    first = api.post("/v1/orders", body)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    order_id = first.json()["id"]
    assert first.headers["location"] == f"/v1/orders/{order_id}"

    for same in (
        body,
        dict(reversed(body.items())),  # key order does not matter
        {**body, "symbol": "idem"},  # symbols are normalised before comparing
        {**body, "account_id": "paper"},  # the default account, named
        {**body, "qty": "5.000", "limit_price": "19.0"},  # the same numbers, written otherwise
    ):
        again = api.post("/v1/orders", same)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == order_id
        assert again.json()["version"] == first.json()["version"]

    for different in ({**body, "qty": "6"}, {**body, "side": "sell"}, {**body, "time_in_force": "day"}):
        conflict = problem(api.post("/v1/orders", different), 409)
        assert "idem-1" in conflict["detail"] and order_id in conflict["detail"]

    orders = api.orders()
    assert [o["id"] for o in orders] == [order_id]
    account = api.account()
    assert D(account["reserved_cash"]) == D(95)  # held back once
    types = [e.type for e in container.event_store.read("account-paper")]
    assert types.count("FundsReserved") == 1

    # Defaults spelled out are the same order; a market order fills once, however often sent.
    market = {"symbol": "IDEM", "side": "buy", "qty": "3", "client_order_id": "idem-2"}
    filled = api.post("/v1/orders", market)
    assert filled.status_code == 201 and filled.json()["status"] == "filled"
    replay = api.post("/v1/orders", {**market, "type": "market", "time_in_force": "day"})
    assert replay.status_code == 200 and replay.json()["id"] == filled.json()["id"]
    assert len([f for f in api.fills() if f["order_id"] == filled.json()["id"]]) == 1

    # The same client_order_id on another account is another order.
    api.create_account("other", D(1_000))
    elsewhere = api.post("/v1/orders", {**body, "account_id": "other"})
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != order_id


VALID_ORDER = {"symbol": "VALID", "side": "buy", "qty": "5", "client_order_id": "checked-1"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"type": "limit"}, "limit_price", id="limit without limit_price"),
        pytest.param({"type": "stop_limit", "stop_price": "9"}, "limit_price", id="stop_limit without limit"),
        pytest.param({"type": "stop"}, "stop_price", id="stop without stop_price"),
        pytest.param({"limit_price": "10"}, "limit_price", id="market with a limit_price"),
        pytest.param({"stop_price": "10"}, "stop_price", id="market with a stop_price"),
        pytest.param({"qty": "-5"}, "qty", id="negative qty"),
        pytest.param({"qty": "0"}, "qty", id="zero qty"),
        pytest.param({"symbol": "NOSUCH"}, "symbol", id="unknown symbol"),
        pytest.param({"notional": "100"}, "notional", id="qty and notional"),
        pytest.param({"qty": None}, "qty", id="neither qty nor notional"),
        pytest.param(
            {"qty": None, "notional": "100", "type": "limit", "limit_price": "9"},
            "notional",
            id="notional on a limit order",
        ),
        pytest.param(
            {"qty": None, "notional": "100", "time_in_force": "gtc"}, "time_in_force", id="notional gtc"
        ),
        pytest.param({"side": "short"}, "side", id="unknown side"),
        pytest.param({"time_in_force": "opg"}, "time_in_force", id="unknown time in force"),
    ],
)
def test_invalid_orders_are_422s_naming_the_field(
    api: Api, paper: Book, container: Container, change: dict[str, Any], field: str
) -> None:
    api.register("VALID")
    api.ingest("VALID", [flat_bar(T0, "10")])
    version = api.account()["version"]
    body = {k: v for k, v in {**VALID_ORDER, **change}.items() if v is not None}
    found = problem(api.post("/v1/orders", body), 422)
    assert found["type"] == "/problems/validation-failed"
    assert field in [e.get("field") for e in found["errors"]], found
    assert_nothing_stored(api, container, version)


def assert_nothing_stored(api: Api, container: Container, account_version: int) -> None:
    assert api.orders() == []
    assert api.account()["version"] == account_version
    assert container.event_store.read(f"order-{order_id_for('paper', 'checked-1')}") == []
    lookup = api.client.get(
        f"/v1/orders/{order_id_for('paper', 'checked-1')}", headers=api.keys.header("viewer")
    )
    assert lookup.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**VALID_ORDER, "qty": "1e30"}, id="qty 1e30"),
        pytest.param({**VALID_ORDER, "qty": 1e308}, id="qty 1e308 as a number"),
        pytest.param({**VALID_ORDER, "qty": "123456789012345678901234567890"}, id="qty 30 digits"),
        pytest.param({**VALID_ORDER, "qty": "0.0000000001"}, id="qty 10 decimals"),
        pytest.param({**VALID_ORDER, "qty": "NaN"}, id="qty NaN"),
        pytest.param({**VALID_ORDER, "qty": "sNaN"}, id="qty sNaN"),
        pytest.param({**VALID_ORDER, "qty": "Infinity"}, id="qty Infinity"),
        pytest.param({**VALID_ORDER, "qty": "-Infinity"}, id="qty -Infinity"),
        pytest.param({**VALID_ORDER, "qty": "1e999999999999"}, id="qty huge exponent"),
        pytest.param({**VALID_ORDER, "qty": "0x10"}, id="qty hex"),
        pytest.param({**VALID_ORDER, "qty": True}, id="qty boolean"),
        pytest.param({**VALID_ORDER, "qty": ["5"]}, id="qty list"),
        pytest.param({**VALID_ORDER, "type": "limit", "limit_price": "NaN"}, id="limit NaN"),
        pytest.param({**VALID_ORDER, "type": "limit", "limit_price": "1e20"}, id="limit 1e20"),
        pytest.param({**VALID_ORDER, "type": "stop", "stop_price": "-1"}, id="negative stop"),
        pytest.param({**VALID_ORDER, "qty": None, "notional": "1e40"}, id="notional 1e40"),
        pytest.param({**VALID_ORDER, "qty": None, "notional": "10.001"}, id="notional under a cent"),
        pytest.param({**VALID_ORDER, "symbol": "X'; DROP TABLE events;--"}, id="sql symbol"),
        pytest.param({**VALID_ORDER, "symbol": "VALID' OR '1'='1"}, id="sql or symbol"),
        pytest.param({**VALID_ORDER, "symbol": "../../etc/passwd"}, id="path symbol"),
        pytest.param({**VALID_ORDER, "symbol": ""}, id="empty symbol"),
        pytest.param({**VALID_ORDER, "symbol": "A" * 21}, id="long symbol"),
        pytest.param({**VALID_ORDER, "client_order_id": "x" * 49}, id="49-char client_order_id"),
        pytest.param({**VALID_ORDER, "client_order_id": "a b"}, id="client_order_id with a space"),
        pytest.param(
            {**VALID_ORDER, "client_order_id": "ordre-\u00e9t\u00e9"}, id="non-ascii client_order_id"
        ),
        pytest.param({**VALID_ORDER, "client_order_id": ""}, id="empty client_order_id"),
        pytest.param({**VALID_ORDER, "account_id": "paper' --"}, id="sql account"),
        pytest.param({**VALID_ORDER, "side": "buy; DELETE FROM events"}, id="sql side"),
        pytest.param({**VALID_ORDER, "status": "filled"}, id="extra status"),
        pytest.param({**VALID_ORDER, "filled_qty": "5"}, id="extra filled_qty"),
        pytest.param({**VALID_ORDER, "is_admin": True}, id="extra is_admin"),
        pytest.param([VALID_ORDER], id="a list"),
        pytest.param("buy 5 VALID", id="a string"),
    ],
)
def test_hostile_orders_are_422s_and_store_nothing(
    api: Api, paper: Book, container: Container, body: Any
) -> None:
    api.register("VALID")
    api.ingest("VALID", [flat_bar(T0, "10")])
    version = api.account()["version"]
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if v is not None}
    found = problem(api.post("/v1/orders", body), 422)
    assert found["type"] == "/problems/validation-failed"
    assert found["errors"]
    assert_nothing_stored(api, container, version)


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        pytest.param("get", "/v1/orders", {"symbol": "bad sym!"}, "symbol", id="orders symbol"),
        pytest.param("get", "/v1/orders", {"account_id": "a.b"}, "account_id", id="orders account"),
        pytest.param("get", "/v1/account", {"account_id": "../etc"}, "account_id", id="account"),
        pytest.param("get", "/v1/positions", {"account_id": "x" * 65}, "account_id", id="positions"),
        pytest.param("get", "/v1/fills", {"symbol": "$$"}, "symbol", id="fills symbol"),
        pytest.param("get", "/v1/pnl", {"account_id": "a b"}, "account_id", id="pnl account"),
        pytest.param("get", "/v1/accounts/bad.id/events", {}, "account_id", id="account events"),
        pytest.param("post", "/v1/accounts/bad.id/resets", {}, "account_id", id="reset"),
        pytest.param("get", "/v1/orders/" + "x" * 65, {}, "order_id", id="order id"),
        pytest.param("delete", "/v1/orders/" + "x" * 65, {}, "order_id", id="cancel order id"),
    ],
)
def test_bad_query_and_path_parameters_are_422s_not_500s(
    container: Container, keys: Keys, paper: Book, method: str, path: str, params: dict[str, str], field: str
) -> None:
    """The trading routes build their query or command inside the route body, so a parameter
    the message's own type refuses (AccountId, Symbol, OrderId) raises pydantic's
    ValidationError, which no problem handler maps: the client gets a 500."""
    from trading_system.entrypoints.local.runner import build_local_app

    with TestClient(build_local_app(container, background=False), raise_server_exceptions=False) as client:
        response = client.request(method, path, params=params, headers=keys.header("admin"))
    found = problem(response, 422)
    assert field in [e.get("field") for e in found["errors"]], found


# -- 3. the order state machine and its audit trail --------------------------------------------------


def test_cancels_refused_and_honoured_with_an_audit_trail(api: Api, paper: Book, keys: Keys) -> None:
    api.register("STATE")
    api.ingest("STATE", [flat_bar(T0, "50")])
    trader, admin = key_id(keys.trader), key_id(keys.admin)

    filled = api.place({"symbol": "STATE", "side": "buy", "qty": "2"})
    assert filled["status"] == "filled"
    refused = problem(api.delete(f"/v1/orders/{filled['id']}"), 409)
    assert refused["detail"] == f"cannot cancel order {filled['id']}: it is filled"
    assert api.order(filled["id"])["status"] == "filled"

    resting = api.place(
        {
            "symbol": "STATE",
            "side": "buy",
            "qty": "10",
            "type": "limit",
            "limit_price": "45",
            "time_in_force": "gtc",
        }
    )
    assert D(api.account()["reserved_cash"]) == D(450)
    canceled = api.delete(f"/v1/orders/{resting['id']}", role="admin")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    account = api.account()
    assert D(account["reserved_cash"]) == 0 and account["buying_power"] == account["cash"]

    crossing = api.ingest("STATE", [bar(T0 + DAY, "44", "46", "40", "41")])  # trades through 45
    after = api.order(resting["id"])
    assert (after["status"], D(after["filled_qty"])) == ("canceled", ZERO)
    assert all(f["order_id"] != resting["id"] for f in api.fills())
    assert D(api.account()["cash"]) == D(100_000) - 2 * D(50)
    again = problem(api.delete(f"/v1/orders/{resting['id']}"), 409)
    assert "it is canceled" in again["detail"]
    problem(api.delete("/v1/orders/no-such-order"), 404)
    assert api.client.delete(f"/v1/orders/{resting['id']}", headers=keys.header("viewer")).status_code == 403

    events = api.get(f"/v1/orders/{resting['id']}/events")  # a viewer may read the trail
    assert [(e["version"], e["type"]) for e in events] == [
        (1, "OrderPlaced"),
        (2, "OrderAccepted"),
        (3, "OrderCanceled"),
    ]
    assert [e["by"] for e in events] == [
        {"key_id": trader, "user": "admin", "role": "trader"},
        {"key_id": trader, "user": "admin", "role": "trader"},
        {"key_id": admin, "user": "admin", "role": "admin"},
    ]
    assert [e["command"] for e in events] == ["PlaceOrder", "PlaceOrder", "CancelOrder"]
    times = [datetime.fromisoformat(e["recorded_at"]) for e in events]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert events[2]["data"]["reason"] == "canceled by request"

    # A fill caused by ingested bars is the platform's doing, in the same correlation as the ingest.
    bought = api.place(
        {
            "symbol": "STATE",
            "side": "buy",
            "qty": "4",
            "type": "limit",
            "limit_price": "40",
            "time_in_force": "day",
        }
    )
    expiring = api.place(
        {
            "symbol": "STATE",
            "side": "buy",
            "qty": "4",
            "type": "limit",
            "limit_price": "30",
            "time_in_force": "day",
        }
    )
    ingest = api.ingest("STATE", [bar(T0 + 2 * DAY, "41", "42", "39", "39.5"), flat_bar(T0 + 3 * DAY, "39")])
    trail = api.get(f"/v1/orders/{bought['id']}/events")
    assert [e["type"] for e in trail] == ["OrderPlaced", "OrderAccepted", "OrderSessionOpened", "OrderFilled"]
    assert trail[-1]["by"] == {"key_id": "system", "user": "admin", "role": "admin"}
    assert trail[-1]["command"] == "FillOrders"
    assert trail[-1]["correlation_id"] == ingest.headers["x-correlation-id"]
    assert trail[-1]["correlation_id"] != crossing.headers["x-correlation-id"]
    assert [e["type"] for e in api.get(f"/v1/orders/{expiring['id']}/events")][-1] == "OrderExpired"
    assert api.order(expiring["id"])["status"] == "expired"
    problem(api.client.get("/v1/orders/no-such-order/events", headers=keys.header("viewer")), 404)

    # The account's trail is for admins.
    account_trail = api.get("/v1/accounts/paper/events", role="admin")
    kinds = [e["type"] for e in account_trail]
    assert kinds[0] == "AccountCreated"
    assert {"FundsReserved", "FundsReleased", "FillSettled"} <= set(kinds)
    assert [e["version"] for e in account_trail] == list(range(1, len(account_trail) + 1))
    assert api.client.get("/v1/accounts/paper/events", headers=keys.header("trader")).status_code == 403

    # Listing: open, closed, by symbol, and pages that join up.
    assert [o["id"] for o in api.orders(status="open")] == []
    closed = api.orders(status="closed")
    assert {o["id"] for o in closed} == {filled["id"], resting["id"], bought["id"], expiring["id"]}
    first = api.get("/v1/orders", status="all", limit=3)
    second = api.get("/v1/orders", status="all", limit=3, after=first["next"])
    assert second["next"] is None
    assert [o["id"] for o in first["orders"] + second["orders"]] == [o["id"] for o in api.orders()]
    submitted = [o["submitted_at"] for o in api.orders()]
    assert submitted == sorted(submitted, reverse=True)


# -- 4. risk checks, the kill switch and roles ----------------------------------------------------------


def test_risk_checks_reject_and_record_orders(api: Api, paper: Book) -> None:
    terms = Terms(max_order_notional=D(6_000), max_position_notional=D(8_000), restricted=("BANNED",))
    api.create_account("risky", D(10_000), terms)
    api.create_account("poor", D(1_000))
    api.register("RISK", "BANNED")
    api.ingest("RISK", [flat_bar(T0, "50")])
    api.ingest("BANNED", [flat_bar(T0, "5")])

    def rejected(body: dict[str, Any], reason: str) -> dict[str, Any]:
        found = problem(api.post("/v1/orders", body), 422)
        assert found["type"] == "/problems/order-rejected"
        order: dict[str, Any] = found["order"]
        assert order["status"] == "rejected" and reason in order["reject_reason"], order
        assert reason in found["detail"]
        assert api.order(order["id"])["status"] == "rejected"  # recorded, with its reason
        return order

    risky = {"account_id": "risky", "symbol": "RISK", "side": "buy"}
    rejected({**risky, "qty": "130"}, "exceeds max_order_notional")  # 6,500 at 50
    assert api.place({**risky, "qty": "100"})["status"] == "filled"  # 5,000
    limit = {"type": "limit", "limit_price": "50", "time_in_force": "gtc"}
    rejected({**risky, "qty": "70", **limit}, "above max_position_notional")  # 5,000 + 3,500
    rejected({**risky, "symbol": "BANNED", "qty": "1"}, "BANNED is restricted")
    rejected({**risky, "side": "sell", "qty": "150"}, "insufficient position")
    held_back = api.place(
        {**risky, "side": "sell", "qty": "60", "type": "limit", "limit_price": "60", "time_in_force": "gtc"}
    )
    assert held_back["status"] == "accepted"
    rejected(
        {**risky, "side": "sell", "qty": "41", "type": "limit", "limit_price": "60"}, "insufficient position"
    )
    assert (
        api.place({**risky, "side": "sell", "qty": "40", "type": "limit", "limit_price": "61"})["status"]
        == "accepted"
    )

    poor = {"account_id": "poor", "symbol": "RISK", "side": "buy"}
    rejected({**poor, "qty": "21"}, "insufficient buying power")  # 1,050
    below = {**limit, "limit_price": "49"}
    assert api.place({**poor, "qty": "10", **below})["status"] == "accepted"  # 490 held back
    rejected({**poor, "qty": "11", **below}, "insufficient buying power")  # 539 > 510 left
    account = api.account("poor")
    assert (D(account["cash"]), D(account["buying_power"])) == (D(1_000), D(510))

    api.register("NOPRICE")  # no bar yet: a notional order cannot be sized
    rejected({"symbol": "NOPRICE", "side": "buy", "notional": "100"}, "no price is known")

    closed = {o["id"]: o["status"] for o in api.orders("risky", status="closed")}
    assert list(closed.values()).count("rejected") == 5
    risky_account = api.account("risky")
    assert D(risky_account["cash"]) == D(5_000) and risky_account["open_orders"] == 2


def test_the_kill_switch_halts_and_resumes_trading(api: Api, paper: Book, keys: Keys) -> None:
    api.register("HALT")
    api.ingest("HALT", [flat_bar(T0, "20")])
    gtc = {
        "symbol": "HALT",
        "side": "buy",
        "qty": "5",
        "type": "limit",
        "limit_price": "18",
        "time_in_force": "gtc",
    }
    resting = api.place({**gtc, "client_order_id": "before-halt"})

    assert api.get("/v1/trading/status")["halted"] is False
    refused = problem(api.post("/v1/trading/halt", {"reason": "fat finger"}, role="trader"), 403)
    assert "admin" in refused["detail"]
    assert api.get("/v1/trading/status")["halted"] is False

    halted = api.post("/v1/trading/halt", {"reason": "fat finger", "cancel_open_orders": False}, role="admin")
    assert halted.status_code == 200, halted.text
    status = api.get("/v1/trading/status")
    assert (
        status["halted"] is True and status["reason"] == "fat finger" and status["by"] == key_id(keys.admin)
    )
    blocked = problem(api.post("/v1/orders", {**gtc, "client_order_id": "during-halt"}), 422)
    assert blocked["type"] == "/problems/order-rejected"
    assert blocked["order"]["reject_reason"] == "trading is halted: fat finger"
    assert api.order(resting["id"])["status"] == "accepted"  # left alone

    again = api.post("/v1/trading/halt", {"reason": "still bad", "cancel_open_orders": True}, role="admin")
    assert again.status_code == 200, again.text
    canceled = api.order(resting["id"])
    assert canceled["status"] == "canceled" and "still bad" in canceled["cancel_reason"]
    assert api.account()["open_orders"] == 0 and D(api.account()["reserved_cash"]) == 0

    assert api.post("/v1/trading/resume", role="trader").status_code == 403
    resumed = api.post("/v1/trading/resume", role="admin")
    assert resumed.status_code == 200 and resumed.json()["halted"] is False
    assert api.place({**gtc, "client_order_id": "after-resume"})["status"] == "accepted"
    # The rejected order stays rejected: its client_order_id now replays the rejection.
    replay = problem(api.post("/v1/orders", {**gtc, "client_order_id": "during-halt"}), 422)
    assert replay["order"]["id"] == blocked["order"]["id"]


def test_roles_and_keys_guard_the_routes(api: Api, paper: Book, keys: Keys) -> None:
    api.register("ROLE")
    api.ingest("ROLE", [flat_bar(T0, "20")])
    body = {"symbol": "ROLE", "side": "buy", "qty": "1"}
    assert problem(api.post("/v1/orders", body, role="viewer"), 403)["type"] == "/problems/forbidden"
    assert problem(api.post("/v1/orders", body, role=None), 401)["type"] == "/problems/unauthorized"
    bad_key = api.client.post("/v1/orders", json=body, headers={"x-api-key": "tsk_0000_nope"})
    problem(bad_key, 401)
    assert api.orders() == []
    account = {"account_id": "sneaky", "starting_cash": "1000000"}
    problem(api.post("/v1/accounts", account, role="trader"), 403)
    problem(api.post("/v1/accounts/paper/resets", {}, role="trader"), 403)
    assert problem(api.post("/v1/accounts", {"account_id": "paper", "starting_cash": "1"}, role="admin"), 409)
    for path in ("/v1/account", "/v1/positions", "/v1/fills", "/v1/pnl", "/v1/orders", "/v1/trading/status"):
        assert api.client.get(path).status_code == 401, path
        assert api.client.get(path, headers=keys.header("viewer")).status_code == 200, path
    problem(api.client.get("/v1/account", params={"account_id": "ghost"}, headers=keys.header("viewer")), 404)
    ghost = problem(api.post("/v1/orders", {**body, "account_id": "ghost"}), 404)
    assert "POST /v1/accounts" in ghost["detail"]


# -- 5. resets -----------------------------------------------------------------------------------------


def test_an_account_reset_starts_a_new_epoch(api: Api, paper: Book) -> None:
    api.register("RESET")
    api.ingest("RESET", [flat_bar(T0, "10")])
    api.place({"symbol": "RESET", "side": "buy", "qty": "100"})
    api.ingest("RESET", [flat_bar(T0 + DAY, "12")])
    api.place({"symbol": "RESET", "side": "sell", "qty": "40"})  # 80 realized
    resting = api.place(
        {
            "symbol": "RESET",
            "side": "buy",
            "qty": "10",
            "type": "limit",
            "limit_price": "9",
            "time_in_force": "gtc",
        }
    )
    before = api.get("/v1/pnl", by="symbol")
    assert before["epoch"] == 0 and D(before["rows"][0]["realized_pl"]) == D(80)

    reset = api.post("/v1/accounts/paper/resets", None, role="admin")
    assert reset.status_code == 200, reset.text
    order = api.order(resting["id"])
    assert order["status"] == "canceled" and order["cancel_reason"] == "account reset"
    account = api.account()
    assert account["epoch"] == 1 and account["open_orders"] == 0
    for name in ("cash", "equity", "buying_power", "starting_cash", "last_equity"):
        assert D(account[name]) == D(100_000), name
    assert D(account["realized_pl"]) == 0 and D(account["commission"]) == 0
    assert api.get("/v1/positions") == []
    now = api.get("/v1/pnl", by="day")
    assert now["epoch"] == 1 and now["rows"] == []
    everything = api.get("/v1/pnl", by="symbol", all_epochs=True)
    assert everything["epoch"] is None
    (row,) = everything["rows"]
    assert (row["fills"], D(row["realized_pl"]), D(row["sold_qty"])) == (2, D(80), D(40))
    assert sorted(f["epoch"] for f in api.fills()) == [0, 0]

    # A new epoch with new terms; its fills are its own.
    terms = Terms(per_share=D("0.01"), minimum=D("1"))
    reset = api.post(
        "/v1/accounts/paper/resets", {"starting_cash": "5000", "settings": terms.settings()}, role="admin"
    )
    assert reset.status_code == 200, reset.text
    assert api.place({"symbol": "RESET", "side": "buy", "qty": "50"})["status"] == "filled"
    account = api.account()
    assert account["epoch"] == 2 and D(account["cash"]) == D(5_000) - 50 * D(12) - 1
    (row,) = api.get("/v1/pnl", by="symbol")["rows"]
    assert (row["fills"], D(row["commission"]), D(row["bought_qty"])) == (1, D(1), D(50))
    assert len(api.get("/v1/pnl", by="symbol", all_epochs=True)["rows"]) == 1
    assert api.get("/v1/pnl", by="symbol", all_epochs=True)["rows"][0]["fills"] == 3
    problem(api.post("/v1/accounts/ghost/resets", None, role="admin"), 404)


# -- 6. a restart ---------------------------------------------------------------------------------------


def test_orders_positions_and_cash_survive_a_restart(
    api: Api, paper: Book, settings: Settings, keys: Keys
) -> None:
    api.register("BOOT")
    api.ingest("BOOT", [flat_bar(T0, "30"), flat_bar(T0 + DAY, "30")])
    api.place({"symbol": "BOOT", "side": "buy", "qty": "10"})
    gtc = {"symbol": "BOOT", "type": "limit", "time_in_force": "gtc"}
    buy = api.place({**gtc, "side": "buy", "qty": "5", "limit_price": "28"})
    sell = api.place({**gtc, "side": "sell", "qty": "3", "limit_price": "35"})

    def snapshot(of: Api) -> dict[str, Any]:
        return {
            "orders": of.orders(),
            "positions": of.get("/v1/positions"),
            "account": of.account(),
            "fills": of.fills(),
            "pnl": of.get("/v1/pnl", by="symbol"),
            "status": of.get("/v1/trading/status"),
        }

    before = snapshot(api)
    restarted = bootstrap(settings)
    from trading_system.entrypoints.local.runner import build_local_app

    with TestClient(build_local_app(restarted, background=False)) as client:
        again = Api(client, keys)
        assert snapshot(again) == before
        again.ingest("BOOT", [bar(T0 + 2 * DAY, "30", "36", "27", "33")])
        assert again.order(buy["id"])["status"] == "filled"
        assert again.order(sell["id"])["status"] == "filled"
        (position,) = again.get("/v1/positions")
        assert D(position["qty"]) == D(12)
        account = again.account()
        assert D(account["cash"]) == D(100_000) - 10 * D(30) - 5 * D(28) + 3 * D(35)
        assert account["open_orders"] == 0
    assert api.order(buy["id"])["status"] == "filled"  # the first app reads the same store


# -- 7. concurrent writers on the SQLite runtime ---------------------------------------------------


CROWD = Terms(per_share=D("0.01"), minimum=D("1.00"))
THREADS = 8
ORDERS_PER_THREAD = 10


def test_concurrent_orders_cancels_and_fills_keep_the_books_straight(api: Api, container: Container) -> None:
    """Eight traders on one account (asking for far more than its cash and shares) place and
    cancel orders while bars arrive and fill them. Afterwards every stream is contiguous, no
    order filled twice, and cash and reservations follow from the fills and the open orders."""
    starting = D(60_000)
    api.create_account("crowd", starting, CROWD)
    api.register("CROWD")
    history = walk(21, days(date(2024, 1, 1), 30), DAY, "50.00", (50_000, 90_000))
    api.ingest("CROWD", history[:10])
    last = history[9].close
    first = api.place({"account_id": "crowd", "symbol": "CROWD", "side": "buy", "qty": "400"})  # ~20,000

    start = threading.Barrier(THREADS + 1)
    placed: list[str] = []
    rejected: list[str] = []
    canceled: list[str] = []
    lock = threading.Lock()

    def retried(action: Callable[[], Any]) -> Any:
        """The client's side of "too much contention": send the same request again."""
        for _ in range(20):
            try:
                return action()
            except ConcurrencyConflict:
                time.sleep(0.01)
        raise AssertionError("still contended after 20 client retries")

    def request(n: int, j: int) -> OrderRequest:
        step = D(j) * D("0.004")
        kind = j % 4
        body: dict[str, Any] = {"account_id": "crowd", "symbol": "CROWD", "client_order_id": f"t{n}-{j}"}
        if j == 0:  # every thread sends this one: it must become a single order
            body |= {"client_order_id": "shared", "side": "buy", "qty": "7", "type": "limit"}
            body |= {"limit_price": str((last * D("0.97")).quantize(CENT)), "time_in_force": "gtc"}
        elif kind == 1:
            price = (last * (D("1.005") + step)).quantize(CENT)
            body |= {
                "side": "sell",
                "qty": "30",
                "type": "limit",
                "limit_price": str(price),
                "time_in_force": "gtc",
            }
        elif kind == 2:
            body |= {"side": "buy", "qty": "15", "time_in_force": "ioc"}
        else:
            price = (last * (D("0.995") - step)).quantize(CENT)
            tif = "gtc" if kind == 0 else "day"
            body |= {
                "side": "buy",
                "qty": "80",
                "type": "limit",
                "limit_price": str(price),
                "time_in_force": tif,
            }
        return OrderRequest.model_validate(body)

    def trade(n: int) -> None:
        context = MessageContext(principal=Principal(key_id=f"trader-{n}", role=Role.TRADER))
        mine: list[str] = []
        start.wait()
        for j in range(ORDERS_PER_THREAD):
            order = retried(partial(container.bus.execute, PlaceOrder(request=request(n, j)), context)).order
            with lock:
                (rejected if order.status == "rejected" else placed).append(order.id)
            mine.append(order.id)
            if j % 3 == 2:  # cancel an earlier one; it may have filled or closed meanwhile
                target = mine[-2]
                try:
                    retried(partial(container.bus.execute, CancelOrder(order_id=target), context))
                except Conflict as refused:  # a lost race is retried inside; this is a refusal
                    assert "cannot cancel" in refused.detail
                else:
                    with lock:
                        canceled.append(target)
            time.sleep(random.uniform(0, 0.003))

    def feed() -> None:
        start.wait()
        for bar_ in history[10:]:
            ingest = IngestBars.model_validate({"timeframe": "1d", "symbol": "CROWD", "bars": [bar_.row()]})
            retried(partial(container.bus.execute, ingest))
            time.sleep(0.01)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: more interleaving, more lost races
    try:
        with ThreadPoolExecutor(THREADS + 1) as pool:
            futures = [pool.submit(trade, n) for n in range(THREADS)] + [pool.submit(feed)]
            for future in futures:
                future.result(timeout=120)
    finally:
        sys.setswitchinterval(switch)

    assert container.dead_letters.list() == [], "a subscriber gave up"
    listed = {o["id"]: o for o in api.orders("crowd")}
    assert set(listed) == {first["id"], *placed, *rejected}
    assert len(listed) == 1 + THREADS * ORDERS_PER_THREAD - (THREADS - 1)  # "shared" is one order
    assert [o["id"] for o in listed.values() if o["client_order_id"] == "shared"] == [
        order_id_for("crowd", "shared")
    ]
    assert rejected, "the traders never ran out of cash or shares"
    assert canceled, "no cancel got through"
    assert all(listed[oid]["status"] == "canceled" for oid in canceled)

    # Streams: contiguous versions, views at the stream's version, fills counted once.
    fills_by_order: dict[str, list[dict[str, Any]]] = {}
    for order_id, order in listed.items():
        events = container.event_store.read(f"order-{order_id}")
        assert [e.version for e in events] == list(range(1, len(events) + 1)), order_id
        assert order["version"] == len(events), order_id
        types = [e.type for e in events]
        terminal = [i for i, t in enumerate(types) if t in ("OrderCanceled", "OrderExpired", "OrderRejected")]
        assert terminal in ([], [len(types) - 1]), f"{order_id}: {types}"
        filled = [e.data for e in events if e.type == "OrderFilled"]
        fills_by_order[order_id] = filled
        total = sum((D(f["qty"]) for f in filled), ZERO)
        assert total == D(order["filled_qty"]), order_id
        assert D(order["filled_qty"]) <= D(order["qty"]), order_id
        if filled:
            assert D(filled[-1]["filled_qty"]) == total
            assert (order["status"] == "filled") == (total == D(order["qty"])), order
    account_events = container.event_store.read("account-crowd")
    assert [e.version for e in account_events] == list(range(1, len(account_events) + 1))
    account = api.account("crowd")
    assert account["version"] == len(account_events)

    settled = [e.data for e in account_events if e.type == "FillSettled"]
    order_fill_ids = [f["fill_id"] for fs in fills_by_order.values() for f in fs]
    assert len(order_fill_ids) == len(set(order_fill_ids))
    assert sorted(f["fill_id"] for f in settled) == sorted(order_fill_ids)
    assert sorted(f["fill_id"] for f in api.fills("crowd")) == sorted(order_fill_ids)
    pnl = api.get("/v1/pnl", account_id="crowd", by="symbol")["rows"]
    assert pnl[0]["fills"] == len(order_fill_ids)  # the lake has each fill once

    # Cash and positions follow from the fills alone.
    cash = starting
    shares = ZERO
    for fill in settled:
        qty, price, commission = D(fill["qty"]), D(fill["price"]), D(fill["commission"])
        assert commission == CROWD.commission(qty, price), fill
        cash += -qty * price if fill["side"] == "buy" else qty * price
        cash -= commission
        shares += qty if fill["side"] == "buy" else -qty
    assert D(account["cash"]) == cash >= 0
    assert D(account["buying_power"]) >= 0
    positions = api.get("/v1/positions", account_id="crowd")
    assert [D(p["qty"]) for p in positions] == ([shares] if shares else [])

    # What each order held back: reserved once when accepted (the same amount in its stream and
    # the account's), used up by each fill by min(what it held, what the fill spent), and the
    # leftover given back once when it closed.
    reserved_events = {e.data["order_id"]: e.data for e in account_events if e.type == "FundsReserved"}
    assert len(reserved_events) == sum(e.type == "FundsReserved" for e in account_events)
    released_events = {e.data["order_id"]: e.data for e in account_events if e.type == "FundsReleased"}
    assert len(released_events) == sum(e.type == "FundsReleased" for e in account_events)
    settled_by_id = {f["fill_id"]: f for f in settled}
    open_orders = {oid: o for oid, o in listed.items() if o["status"] in ("accepted", "partially_filled")}
    leftover: dict[str, tuple[D, D]] = {}  # what each accepted order holds (or gave back), by its stream
    for order_id, order in listed.items():
        events = container.event_store.read(f"order-{order_id}")
        accepted = [e.data for e in events if e.type == "OrderAccepted"]
        if not accepted:
            assert order["status"] == "rejected", order_id
            assert order_id not in reserved_events and order_id not in released_events, order_id
            continue
        cash, qty = D(accepted[0]["reserved_cash"]), D(accepted[0]["reserved_qty"])
        hold = reserved_events[order_id]
        assert (hold["symbol"], hold["side"]) == (order["symbol"], order["side"]), order_id
        assert (D(hold["cash"]), D(hold["qty"])) == (cash, qty), order_id
        assert (D(order["reserved_cash"]), D(order["reserved_qty"])) == (cash, qty), order_id
        assert qty == D(order["qty"]), order_id
        if order["side"] == "sell":
            assert cash == 0, order_id
        elif order["type"] == "limit":
            price = D(order["limit_price"])
            assert cash == qty * price + CROWD.commission(qty, price), order_id
        held_cash, held_qty = cash, qty
        for fill in fills_by_order[order_id]:
            spent = D(fill["qty"]) * D(fill["price"]) + D(fill["commission"])
            used_cash = min(held_cash, spent) if order["side"] == "buy" else ZERO
            used_qty = min(held_qty, D(fill["qty"]))
            on_account = settled_by_id[fill["fill_id"]]
            assert (D(on_account["held_cash_used"]), D(on_account["held_qty_used"])) == (used_cash, used_qty)
            held_cash, held_qty = held_cash - used_cash, held_qty - used_qty
        assert held_qty == D(order["qty"]) - D(order["filled_qty"]), order_id
        leftover[order_id] = (held_cash, held_qty)
        if order_id in open_orders:
            assert order_id not in released_events, order_id
        else:
            gave_back = released_events[order_id]
            assert (gave_back["symbol"], gave_back["side"]) == (order["symbol"], order["side"]), order_id
            assert (D(gave_back["cash"]), D(gave_back["qty"])) == (held_cash, held_qty), order_id
    assert set(released_events) == set(reserved_events) - set(open_orders)

    # The account's totals are exactly what the open orders still hold, each read as it stands.
    ledger_account = container.ledger.account("crowd")
    assert ledger_account is not None
    assert ledger_account.version == account["version"]
    holds: dict[str, tuple[str, D, D]] = {}
    for order_id in open_orders:
        shown = api.order(order_id)
        kept = container.ledger.order(order_id)
        assert kept is not None
        assert (kept.version, str(kept.status)) == (shown["version"], shown["status"]), order_id
        assert (kept.held_cash, kept.held_qty) == leftover[order_id], order_id
        assert kept.held_cash >= 0 if kept.side == "buy" else kept.held_cash == 0, order_id
        holds[order_id] = (shown["side"], kept.held_cash, kept.held_qty)
    assert account["open_orders"] == ledger_account.open_orders == len(open_orders)
    assert D(account["reserved_cash"]) == ledger_account.reserved_cash
    assert ledger_account.reserved_cash == sum((cash for _, cash, _ in holds.values()), ZERO)
    assert D(account["buying_power"]) == D(account["cash"]) - ledger_account.reserved_cash
    for side, book in (("buy", ledger_account.reserved_buy_qty), ("sell", ledger_account.reserved_sell_qty)):
        qty = sum((q for s, _, q in holds.values() if s == side), ZERO)
        assert ledger_account.reserved_qty("CROWD", side) == qty, side
        assert book == ({"CROWD": qty} if qty else {}), side
    by_account = container.ledger.open_order_ids_of("crowd")
    assert len(by_account) == len(set(by_account))
    assert set(by_account) == set(open_orders)
    assert set(container.ledger.open_order_ids("CROWD")) == set(open_orders)
    assert {o["id"] for o in api.orders("crowd", status="open")} == set(open_orders)


# -- 8. loss limits ----------------------------------------------------------------------------------


def open_account(api: Api, account_id: str, cash: str, **settings: Any) -> None:
    body = {"account_id": account_id, "starting_cash": cash, "settings": settings}
    response = api.post("/v1/accounts", body, role="admin")
    assert response.status_code == 201, response.text


def published(container: Container) -> list[Any]:
    """Every envelope the bus publishes from now on."""
    seen: list[Any] = []
    container.bus.observers.append(seen.append)
    return seen


def test_a_loss_limit_halts_an_account_until_an_admin_resumes_it(
    api: Api, container: Container, keys: Keys
) -> None:
    seen = published(container)
    open_account(api, "guarded", "10000", max_daily_loss="500")
    api.register("LOSS")
    api.ingest("LOSS", [flat_bar(T0, "100")])
    guarded = {"account_id": "guarded", "symbol": "LOSS"}
    assert api.place({**guarded, "side": "buy", "qty": "50"})["status"] == "filled"
    resting = api.place(
        {**guarded, "side": "buy", "qty": "10", "type": "limit", "limit_price": "50", "time_in_force": "gtc"}
    )
    account = api.account("guarded")
    assert account["halted"] is False and D(account["daily_loss_threshold"]) == D(9500)

    # The next bar marks the position at 89: equity 5,000 + 4,450 = 9,450, below 10,000 - 500.
    api.ingest("LOSS", [flat_bar(T0 + DAY, "89")])
    account = api.account("guarded")
    assert account["halted"] is True
    assert account["halt"]["limit"] == "max_daily_loss"
    assert (D(account["halt"]["equity"]), D(account["halt"]["threshold"])) == (D(9450), D(9500))
    assert account["halt_reason"] == "max_daily_loss crossed: equity 9450.00 fell below 9500.00"
    (halt,) = [e for e in seen if e.event_type == "AccountHalted"]
    assert halt.payload["account_id"] == "guarded" and halt.payload["limit"] == "max_daily_loss"
    assert halt.producer  # published on the bus like every event, for deployments to pause on
    trail = api.get("/v1/accounts/guarded/events", role="admin")
    assert [(e["type"], e["command"]) for e in trail][-1] == ("AccountHalted", "FillOrders")

    # New buys are rejected naming the limit; the open order stays; selling what is held goes.
    refused = problem(api.post("/v1/orders", {**guarded, "side": "buy", "qty": "1"}), 422)
    reason = refused["order"]["reject_reason"]
    assert reason.startswith("account guarded is halted: max_daily_loss crossed: equity 9450.00")
    assert "POST /v1/accounts/guarded/resume" in reason
    assert api.order(resting["id"])["status"] == "accepted"
    assert api.place({**guarded, "side": "sell", "qty": "20"})["status"] == "filled"
    beyond = problem(api.post("/v1/orders", {**guarded, "side": "sell", "qty": "31"}), 422)
    assert beyond["order"]["reject_reason"].startswith("account guarded is halted")

    # Only an admin resumes it; the day's loss then starts from the equity at the resume.
    assert problem(api.post("/v1/accounts/guarded/resume", role="trader"), 403)
    resumed = api.post("/v1/accounts/guarded/resume", role="admin")
    assert resumed.status_code == 200, resumed.text
    view = resumed.json()
    assert view["halted"] is False and view["halt"] is None
    assert D(view["equity"]) == D(9450) and D(view["daily_loss_threshold"]) == D(8950)
    assert D(view["peak_equity"]) == D(9450)
    assert [e.payload["equity"] for e in seen if e.event_type == "AccountResumed"] == ["9450.00"]
    assert api.place({**guarded, "side": "buy", "qty": "1"})["status"] == "filled"

    # A resume of an account that is not halted changes nothing (a retried request).
    again = api.post("/v1/accounts/guarded/resume", role="admin")
    assert again.status_code == 200 and again.json()["halted"] is False
    kinds = [e["type"] for e in api.get("/v1/accounts/guarded/events", role="admin")]
    assert (kinds.count("AccountHalted"), kinds.count("AccountResumed")) == (1, 1)
    problem(api.post("/v1/accounts/ghost/resume", role="admin"), 404)


def test_a_fill_that_crosses_the_drawdown_limit_halts_at_once(api: Api, container: Container) -> None:
    seen = published(container)
    # a 12% commission: a 5,000 buy costs 600 of equity, 6% of the peak of 10,000
    open_account(api, "dear", "10000", max_drawdown_pct="5", commission_bps="1200")
    api.register("DEAR")
    api.ingest("DEAR", [flat_bar(T0, "100")])
    placed = api.place({"account_id": "dear", "symbol": "DEAR", "side": "buy", "qty": "50"})
    assert placed["status"] == "filled"  # the fill that crossed the limit stands
    account = api.account("dear")
    assert account["halted"] is True and account["halt"]["limit"] == "max_drawdown_pct"
    assert (D(account["halt"]["equity"]), D(account["halt"]["threshold"])) == (D(9400), D(9500))
    kinds = [e.event_type for e in seen]
    assert kinds.index("OrderFilled") < kinds.index("AccountHalted")
    fill = [e for e in api.get("/v1/accounts/dear/events", role="admin") if e["type"] == "FillSettled"]
    assert D(fill[0]["data"]["equity"]) == D(9400)


def test_the_close_marks_the_peak_and_checks_the_limits(api: Api, container: Container) -> None:
    open_account(api, "marked", "10000", max_drawdown_pct="10")
    api.register("MARK")
    api.ingest("MARK", [flat_bar(T0, "100")])
    api.place({"account_id": "marked", "symbol": "MARK", "side": "buy", "qty": "50"})
    api.ingest("MARK", [flat_bar(T0 + DAY, "120")])  # equity 11,000: a price, not a mark
    assert D(api.account("marked")["peak_equity"]) == D(10000)
    container.bus.execute(CloseSession(at_once=True))
    account = api.account("marked")
    assert (D(account["peak_equity"]), D(account["drawdown_threshold"])) == (D(11000), D(9900))
    assert account["halted"] is False

    # A price that reached the store without an ingestion (no mark then) is caught at the close.
    container.ledger.save_quotes(
        [Quote_(symbol="MARK", price=D("97.99"), volume=D(1), market_time=T0 + 3 * DAY)]
    )
    container.bus.execute(CloseSession(at_once=True))
    account = api.account("marked")
    assert account["halted"] is True and account["halt"]["limit"] == "max_drawdown_pct"
    assert D(account["halt"]["equity"]) == D(5000) + 50 * D("97.99") == D("9899.50")
    trail = [e["type"] for e in api.get("/v1/accounts/marked/events", role="admin")]
    assert trail[-2:] == ["AccountHalted", "EquityMarked"]  # checked against the day before the mark


def test_accounts_without_limits_never_halt(api: Api, paper: Book) -> None:
    api.register("CALM")
    api.ingest("CALM", [flat_bar(T0, "100")])
    api.place({"symbol": "CALM", "side": "buy", "qty": "900"})
    api.ingest("CALM", [flat_bar(T0 + DAY, "1")])  # 99% gone
    account = api.account()
    assert account["halted"] is False and account["daily_loss_threshold"] is None
    assert account["drawdown_threshold"] is None


# -- 9. short selling ------------------------------------------------------------------------------------


def test_short_selling_over_the_api(api: Api, container: Container) -> None:
    open_account(api, "shorty", "10000", shorting=True)
    open_account(api, "cashonly", "10000")
    api.register("SHRT")
    api.ingest("SHRT", [flat_bar(T0, "50")])
    shorty = {"account_id": "shorty", "symbol": "SHRT"}

    off = problem(
        api.post("/v1/orders", {"account_id": "cashonly", "symbol": "SHRT", "side": "sell", "qty": "1"}), 422
    )
    assert off["order"]["reject_reason"] == (
        "insufficient position: SHRT holds 0, of which 0 is not held by open sell orders; this order "
        "sells 1 (short selling is off on account cashonly)"
    )

    assert api.place({**shorty, "side": "sell", "qty": "100"})["status"] == "filled"
    (position,) = api.get("/v1/positions", account_id="shorty")
    assert position["side"] == "short"
    assert (D(position["qty"]), D(position["cost_basis"]), D(position["market_value"])) == (
        D(-100),
        D(-5000),
        D(-5000),
    )
    assert D(position["avg_entry_price"]) == D(50)
    account = api.account("shorty")
    assert (D(account["cash"]), D(account["equity"]), D(account["short_market_value"])) == (
        D(15000),
        D(10000),
        D(-5000),
    )
    assert (D(account["short_margin"]), D(account["buying_power"])) == (D(7500), D(7500))

    # A resting short sale holds its margin (at the limit: 20 x 60 x 50%) until it is canceled.
    resting = api.place(
        {**shorty, "side": "sell", "qty": "20", "type": "limit", "limit_price": "60", "time_in_force": "gtc"}
    )
    assert D(resting["reserved_cash"]) == D(600) and D(resting["reserved_short_qty"]) == D(20)
    assert D(api.account("shorty")["buying_power"]) == D(6900)
    api.delete(f"/v1/orders/{resting['id']}")
    assert D(api.account("shorty")["buying_power"]) == D(7500)

    # More than the margin allows is refused, naming it: 300 x 51.50 x 50% = 7,725.
    refused = problem(api.post("/v1/orders", {**shorty, "side": "sell", "qty": "300"}), 422)
    assert "insufficient buying power for a short sale" in refused["detail"]
    assert "short_margin_pct 150%" in refused["order"]["reject_reason"]
    assert api.place({**shorty, "side": "sell", "qty": "50"})["status"] == "filled"  # 1,287.50

    # The price rises: the short loses and its margin grows with it.
    api.ingest("SHRT", [flat_bar(T0 + DAY, "60")])
    (position,) = api.get("/v1/positions", account_id="shorty")
    assert (D(position["market_value"]), D(position["unrealized_pl"])) == (D(-9000), D(-1500))
    account = api.account("shorty")
    assert (D(account["cash"]), D(account["equity"])) == (D(17500), D(8500))
    assert (D(account["short_margin"]), D(account["buying_power"])) == (D(13500), D(4000))

    # A buy covers: the loss is realized, the margin is given back.
    cover = api.place({**shorty, "side": "buy", "qty": "150"})
    assert cover["status"] == "filled"
    assert api.get("/v1/positions", account_id="shorty") == []
    account = api.account("shorty")
    assert (D(account["cash"]), D(account["equity"]), D(account["buying_power"])) == (D(8500),) * 3
    assert D(account["realized_pl"]) == D(-1500) and D(account["short_margin"]) == 0
    fills = api.fills("shorty")
    assert D(fills[0]["realized_pl"]) == D(-1500) and fills[0]["side"] == "buy"
    (row,) = api.get("/v1/pnl", account_id="shorty", by="symbol")["rows"]
    assert (D(row["realized_pl"]), D(row["sold_qty"]), D(row["bought_qty"])) == (D(-1500), D(150), D(150))


def test_a_halted_short_account_can_still_cover(api: Api) -> None:
    open_account(api, "squeezed", "10000", shorting=True, max_daily_loss="1000")
    api.register("SQZ")
    api.ingest("SQZ", [flat_bar(T0, "50")])
    squeezed = {"account_id": "squeezed", "symbol": "SQZ"}
    api.place({**squeezed, "side": "sell", "qty": "100"})
    api.ingest("SQZ", [flat_bar(T0 + DAY, "61")])  # equity 15,000 - 6,100 = 8,900
    assert api.account("squeezed")["halted"] is True
    more = problem(api.post("/v1/orders", {**squeezed, "side": "sell", "qty": "1"}), 422)
    assert more["order"]["reject_reason"].startswith("account squeezed is halted")
    flip = problem(api.post("/v1/orders", {**squeezed, "side": "buy", "qty": "101"}), 422)
    assert flip["order"]["reject_reason"].startswith("account squeezed is halted")
    assert api.place({**squeezed, "side": "buy", "qty": "100"})["status"] == "filled"
    assert api.get("/v1/positions", account_id="squeezed") == []


# -- numbers a trader can read -------------------------------------------------------------------

EXPONENT = re.compile(r'"-?\d+(\.\d+)?E[+-]?\d+"')  # "1E-8", "0E-11"
FRIDAY = datetime(2024, 1, 5, tzinfo=UTC)


def test_money_reads_the_same_to_the_cent_in_every_endpoint(api: Api, paper: Book) -> None:
    """Notional buys at prices that do not divide them, then a partial sale: cash, P&L,
    commissions and equity are on the cent, one realized P&L reads the same in the account, the
    position, the fill, the order's events and P&L by symbol and day, and nothing reads like
    1E-8 or 0E-11."""
    api.register("NOISE")
    api.ingest("NOISE", [flat_bar(T0, "187.13")])
    for n, notional in enumerate(("1000", "333.33", "250.01")):
        body = {"symbol": "NOISE", "side": "buy", "notional": notional, "client_order_id": f"n{n}"}
        assert api.place(body)["status"] == "filled"
    api.ingest("NOISE", [flat_bar(T0 + DAY, "201.37")])
    sold = api.place({"symbol": "NOISE", "side": "sell", "qty": "3.333333333", "client_order_id": "s"})
    assert sold["status"] == "filled"

    account = api.account()
    (position,) = api.get("/v1/positions")
    fills = api.fills()
    events = api.get(f"/v1/orders/{sold['id']}/events")
    by_symbol = api.get("/v1/pnl", by="symbol")["rows"]
    by_day = api.get("/v1/pnl", by="day")["rows"]
    for name in ("cash", "equity", "buying_power", "realized_pl", "unrealized_pl", "commission", "day_pl"):
        assert re.fullmatch(r"-?\d+\.\d\d", account[name]), (name, account[name])
    for name in ("cost_basis", "market_value", "unrealized_pl", "realized_pl"):
        assert re.fullmatch(r"-?\d+\.\d\d", position[name]), (name, position[name])
    realized = account["realized_pl"]
    assert D(realized) != 0
    (sale,) = [f for f in fills if f["side"] == "sell"]
    (filled,) = [e["data"] for e in events if e["type"] == "OrderFilled"]
    assert {position["realized_pl"], sale["realized_pl"], filled["realized_pl"]} == {realized}
    assert by_symbol[0]["realized_pl"] == realized
    assert [row["realized_pl"] for row in by_day] == ["0.00", realized]
    assert {f["realized_pl"] for f in fills if f["side"] == "buy"} == {"0.00"}
    # cash moved by each fill's amount, to the cent
    spent = sum((money(D(f["qty"]) * D(f["price"])) for f in fills if f["side"] == "buy"), ZERO)
    got = money(D(sale["qty"]) * D(sale["price"]))
    assert D(account["cash"]) == D(100_000) - spent + got
    everything = [account, position, fills, events, by_symbol, by_day, api.orders()]
    for shown in everything:
        assert not EXPONENT.search(json.dumps(shown)), shown


def test_a_fill_at_a_fridays_close_is_fridays_pnl(api: Api, paper: Book) -> None:
    """A Friday's daily bar ends on Saturday at 00:00 UTC; an order placed over the weekend
    fills at its close, and its P&L is Friday's, as is the bar's."""
    api.register("WKND")
    api.ingest("WKND", [flat_bar(FRIDAY - DAY, "50"), flat_bar(FRIDAY, "51")])
    assert api.place({"symbol": "WKND", "side": "buy", "qty": "10"})["status"] == "filled"
    assert api.place({"symbol": "WKND", "side": "sell", "qty": "4"})["status"] == "filled"
    fills = api.fills()
    assert {f["market_time"][:10] for f in fills} == {"2024-01-05"}
    (day,) = api.get("/v1/pnl", by="day")["rows"]
    assert (day["day"], day["fills"]) == ("2024-01-05", 2)
    assert api.get("/v1/pnl", by="day", start="2024-01-06")["rows"] == []
