"""A fake market-data provider on 127.0.0.1: Alpaca's stock bars (data API v2) and the public
candles of Binance, Coinbase and Kraken (what CCXT's exchanges call), answering from a generated
random walk in the bodies the providers document, with faults a test can inject: pagination
(small pages), a 429 with Retry-After, a 5xx, a gap in the data, a malformed row, a row that
breaks the bar rules, an unknown symbol and refused credentials.

Alpaca: GET /v2/stocks/{symbol}/bars?timeframe=1Min&start&end&limit&page_token (start and end
inclusive, RFC 3339), headers APCA-API-KEY-ID / APCA-API-SECRET-KEY;
{"bars": [{"t", "o", "h", "l", "c", "v", "n", "vw"}], "symbol", "next_page_token"}.
GET /v1/corporate-actions?symbols&types&start&end&limit&page_token (dates inclusive);
{"corporate_actions": {"forward_splits": [...], "reverse_splits": [...], "cash_dividends": [...]},
"next_page_token"}.
Binance: GET /api/v3/exchangeInfo; GET /api/v3/klines?symbol&interval&startTime&endTime&limit;
rows [open time ms, "open", "high", "low", "close", "volume", close time ms, "quote volume",
trades, "taker buy base", "taker buy quote", "0"].
Kraken: GET /0/public/Assets, /0/public/AssetPairs; GET /0/public/OHLC?pair&interval&since
(the latest 720 bars after `since`); {"error": [], "result": {pair: rows, "last"}}.
Coinbase (Advanced Trade API, public market endpoints, as CCXT's coinbase calls them, no key):
its `load_markets` asks GET /v2/currencies, /v2/currencies/crypto and /v2/exchange-rates (CCXT
loads currencies first), then GET /api/v3/brokerage/market/products and the same with
product_type=FUTURE; {"products": [{"product_id", "base_currency_id", "quote_currency_id",
"product_type": "SPOT", ...}], "num_products"}. Candles: GET
/api/v3/brokerage/market/products/{product_id}/candles?start&end&granularity (epoch seconds,
granularity ONE_MINUTE ... ONE_DAY; the fake answers the candles starting in [start, end), at
most 300 a request, a wider window is a 400 INVALID_ARGUMENT; no `limit` is taken);
{"candles": [{"start", "low", "high", "open", "close", "volume"}]}, newest first, strings.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ALPACA_KEY_ID = "PKTEST0000000000FAKE"
ALPACA_SECRET = "fake-secret-never-real-0000000000000000"
INTERVALS = {"1Min": 60, "5Min": 300, "15Min": 900, "1Hour": 3600, "1Day": 86400}
BINANCE_INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
# Binance's spot markets the fake lists, by id: base and quote asset.
BINANCE_MARKETS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
# Kraken's pairs, by id: base and quote asset ids, altname and wsname (Kraken's XBT is BTC).
KRAKEN_PAIRS = {
    "XXBTZUSD": ("XXBT", "ZUSD", "XBTUSD", "XBT/USD"),
    "XETHZUSD": ("XETH", "ZUSD", "ETHUSD", "ETH/USD"),
}
KRAKEN_INTERVALS = {"1": 60, "5": 300, "15": 900, "60": 3600, "1440": 86400}
KRAKEN_PAGE = 720  # Kraken answers at most the latest 720 bars of an interval
# Coinbase's spot products the fake lists, by id: base and quote currency, base's name.
COINBASE_PRODUCTS = {"BTC-USD": ("BTC", "USD", "Bitcoin"), "ETH-USD": ("ETH", "USD", "Ethereum")}
COINBASE_GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
COINBASE_PAGE = 300  # candles a request may cover, at most
COINBASE_CANDLES = re.compile(r"/api/v3/brokerage/market/products/([^/]+)/candles")


@dataclass
class Fault:
    """Answer `status` to the bar requests of `provider` (and `symbol`, when given) after letting
    `skip` of them through, `times` times (then answer normally again)."""

    provider: str
    status: int
    times: int = 1
    skip: int = 0
    symbol: str | None = None
    retry_after: float | None = None
    body: bytes | None = None  # instead of the provider's own error body: garbage, say
    seen: int = 0


@dataclass
class Series:
    """One symbol's bars, seconds apart: a deterministic random walk, with holes for gaps."""

    step_s: int
    start: datetime
    count: int
    base_price: float
    missing: set[datetime] = field(default_factory=set)
    malformed: set[datetime] = field(default_factory=set)  # rows a parser cannot read
    invalid: set[datetime] = field(default_factory=set)  # rows that parse but break the bar rules

    def bars(self) -> Iterator[tuple[datetime, float, float, float, float, float]]:
        rng = random.Random(f"{self.base_price}:{self.start.isoformat()}:{self.step_s}")
        price = self.base_price
        for i in range(self.count):
            ts = self.start + timedelta(seconds=i * self.step_s)
            open_ = price
            close = round(open_ * (1 + rng.uniform(-0.002, 0.002)), 2)
            high = round(max(open_, close) * (1 + rng.uniform(0, 0.001)), 2)
            low = round(min(open_, close) * (1 - rng.uniform(0, 0.001)), 2)
            volume = float(rng.randint(100, 50_000))
            price = close
            if ts in self.missing:
                continue
            if ts in self.invalid:
                high, low = low - 1, high + 1  # high below low: valid JSON, an impossible bar
            yield ts, round(open_, 2), high, low, close, volume


class FakeProviders:
    """The state the handlers answer from; tests change it between requests."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        # Alpaca's corporate actions by symbol, as its rows (with "group": forward_splits, ...).
        self.actions: dict[str, list[dict[str, Any]]] = {}

    def add(self, symbol: str, start: datetime, count: int, step_s: int = 60, price: float = 185.0) -> Series:
        series = self.series[symbol] = Series(step_s, start, count, price)
        return series

    def add_split(self, symbol: str, ex_date: str, new_rate: float, old_rate: float = 1) -> None:
        group = "forward_splits" if new_rate > old_rate else "reverse_splits"
        row = {"symbol": symbol, "new_rate": new_rate, "old_rate": old_rate, "ex_date": ex_date}
        self.actions.setdefault(symbol, []).append(
            {"group": group, **row, "process_date": ex_date, "record_date": ex_date, "payable_date": ex_date}
        )

    def add_dividend(self, symbol: str, ex_date: str, rate: Any) -> None:
        row = {"symbol": symbol, "rate": rate, "special": False, "foreign": False, "ex_date": ex_date}
        self.actions.setdefault(symbol, []).append(
            {"group": "cash_dividends", **row, "process_date": ex_date, "record_date": ex_date}
        )

    def action_requests(self) -> list[dict[str, str]]:
        return [query for path, query in self.requests if path == "/v1/corporate-actions"]

    def fail(self, provider: str, status: int, **kwargs: Any) -> Fault:
        fault = Fault(provider, status, **kwargs)
        self.faults.append(fault)
        return fault

    def bar_requests(self, provider: str) -> list[dict[str, str]]:
        if provider == "coinbase":
            return [query for path, query in self.requests if COINBASE_CANDLES.fullmatch(path)]
        prefix = {"alpaca": "/v2/stocks/", "binance": "/api/v3/klines", "kraken": "/0/public/OHLC"}[provider]
        return [query for path, query in self.requests if path.startswith(prefix)]

    def fault_for(self, provider: str, symbol: str) -> Fault | None:
        with self.lock:  # every fault counts every request it applies to; the first due answers
            due = None
            for fault in self.faults:
                if fault.provider != provider or fault.symbol not in (None, symbol):
                    continue
                fault.seen += 1
                if due is None and fault.skip < fault.seen <= fault.skip + fault.times:
                    due = fault
            return due

    def rows(self, symbol: str, step_s: int, first: datetime, last: datetime) -> list[Any]:
        """The bars of `symbol` whose start lies in [first, last], at the series' own step
        (a request for another timeframe gets none: the fake serves one timeframe a symbol)."""
        series = self.series.get(symbol)
        if series is None or series.step_s != step_s:
            return []
        return [row for row in series.bars() if first <= row[0] <= last]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        state = self.server.state
        with state.lock:
            state.requests.append((url.path, query))
        try:
            if url.path.startswith("/v2/stocks/") and url.path.endswith("/bars"):
                self._alpaca_bars(unquote(url.path[len("/v2/stocks/") : -len("/bars")]), query)
            elif url.path == "/v1/corporate-actions":
                self._alpaca_actions(query)
            elif url.path == "/api/v3/exchangeInfo":
                self._send(200, _exchange_info())
            elif url.path == "/api/v3/klines":
                self._binance_klines(query)
            elif url.path == "/0/public/Assets":
                self._send(200, {"error": [], "result": _kraken_assets()})
            elif url.path == "/0/public/AssetPairs":
                self._send(200, {"error": [], "result": _kraken_pairs()})
            elif url.path == "/0/public/OHLC":
                self._kraken_ohlc(query)
            elif url.path in _COINBASE_V2:
                self._send(200, _COINBASE_V2[url.path]())
            elif url.path == "/api/v3/brokerage/market/products":
                self._send(200, _coinbase_products(query.get("product_type", "SPOT")))
            elif candles := COINBASE_CANDLES.fullmatch(url.path):
                self._coinbase_candles(unquote(candles[1]), query)
            else:
                self._send(404, {"message": "Not Found"})
        except (KeyError, ValueError) as error:
            self._send(400, {"message": f"bad request: {error}"})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, provider: str, symbol: str) -> bool:
        fault = self.server.state.fault_for(provider, symbol)
        if fault is None:
            return False
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.body is not None:
            self._send(fault.status, fault.body, headers)
            return True
        if fault.status == 429:
            body: Any = {
                "alpaca": {"code": 42910000, "message": "too many requests."},
                "alpaca_actions": {"code": 42910000, "message": "too many requests."},
                "binance": {
                    "code": -1003,
                    "msg": "Too many requests; current limit of IP is 6000 requests a minute.",
                },
                "kraken": {"error": ["EAPI:Rate limit exceeded"]},
                "coinbase": {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]},
            }[provider]
            if provider.startswith("alpaca"):
                headers |= {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0"}
        elif fault.status in (401, 403):
            body = {
                "alpaca": {"code": 40110000, "message": "request is not authorized"},
                "alpaca_actions": {"code": 40110000, "message": "request is not authorized"},
                "binance": {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                "kraken": {"error": ["EAPI:Invalid key"]},
                "coinbase": b"Unauthorized\n",  # Coinbase's 401 is plain text
            }[provider]
        elif provider == "coinbase" and fault.status != 502:
            # Coinbase's own error ids: the v2 API's internal_server_error (CCXT's coinbase maps it
            # to a plain ExchangeError), the Advanced Trade gateway's {error, code, message, ...}
            body = (
                {"errors": [{"id": "internal_server_error", "message": "Internal server error"}]}
                if fault.status == 500
                else {
                    "error": "UNAVAILABLE",
                    "code": 14,
                    "message": "service unavailable",
                    "error_details": "service unavailable",
                }
            )
        else:
            body = (
                b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                if fault.status == 502
                else ({"message": "internal server error"})
            )
        self._send(fault.status, body, headers)
        return True

    def _alpaca_bars(self, symbol: str, query: dict[str, str]) -> None:
        headers = self.headers
        if (
            headers.get("APCA-API-KEY-ID") != ALPACA_KEY_ID
            or headers.get("APCA-API-SECRET-KEY") != ALPACA_SECRET
        ):
            self._send(401, {"code": 40110000, "message": "request is not authorized"})
            return
        if self._fault("alpaca", symbol):
            return
        step = INTERVALS.get(query.get("timeframe", ""))
        if step is None:
            self._send(422, {"code": 42210000, "message": "invalid timeframe"})
            return
        first = _parse_time(query["start"])
        last = _parse_time(query["end"]) if "end" in query else datetime.now(UTC)
        limit = int(query.get("limit", "1000"))
        token = query.get("page_token")
        if token:
            token_symbol, _, ns = base64.b64decode(token).decode().partition("|")
            if token_symbol != symbol:
                self._send(422, {"code": 42210000, "message": "invalid page token"})
                return
            first = datetime.fromtimestamp(int(ns) / 1e9, UTC)
        rows = self.server.state.rows(symbol, step, first, last)
        page, rest = rows[:limit], rows[limit:]
        series = self.server.state.series.get(symbol)
        bars = [self._alpaca_row(row, series) for row in page] if symbol in self.server.state.series else None
        next_token = None
        if rest:
            next_token = base64.b64encode(f"{symbol}|{int(rest[0][0].timestamp()) * 10**9}".encode()).decode()
        self._send(200, {"bars": bars, "symbol": symbol, "next_page_token": next_token})

    def _alpaca_actions(self, query: dict[str, str]) -> None:
        """Splits and dividends with an ex-date in [start, end], `limit` rows a page; faults
        are injected as provider "alpaca_actions" (so they never count against bar requests)."""
        headers = self.headers
        if (
            headers.get("APCA-API-KEY-ID") != ALPACA_KEY_ID
            or headers.get("APCA-API-SECRET-KEY") != ALPACA_SECRET
        ):
            self._send(401, {"code": 40110000, "message": "request is not authorized"})
            return
        symbols = query["symbols"].split(",")
        if self._fault("alpaca_actions", symbols[0]):
            return
        groups = {"forward_split": "forward_splits", "reverse_split": "reverse_splits"}
        wanted = {groups.get(t, t + "s") for t in query["types"].split(",")}
        first, last = query["start"], query["end"]
        rows = [
            row
            for symbol in symbols
            for row in self.server.state.actions.get(symbol, [])
            if row["group"] in wanted and first <= row["ex_date"] <= last
        ]
        offset = int(base64.b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
        limit = int(query.get("limit", "100"))
        page = rows[offset : offset + limit]
        answer: dict[str, list[dict[str, Any]]] = {}
        for row in page:
            answer.setdefault(row["group"], []).append({k: v for k, v in row.items() if k != "group"})
        more = offset + limit < len(rows)
        token = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        self._send(200, {"corporate_actions": answer, "next_page_token": token})

    @staticmethod
    def _alpaca_row(
        row: tuple[datetime, float, float, float, float, float], series: Series | None
    ) -> dict[str, Any]:
        ts, o, h, low, c, v = row
        bar: dict[str, Any] = {
            "t": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "o": o,
            "h": h,
            "l": low,
            "c": c,
            "v": int(v),
            "n": int(v) // 40 + 1,
            "vw": round((o + h + low + c) / 4, 6),
        }
        if series is not None and ts in series.malformed:
            bar["c"] = "N/A"
        return bar

    def _binance_klines(self, query: dict[str, str]) -> None:
        symbol = query["symbol"]
        if symbol not in BINANCE_MARKETS:
            self._send(400, {"code": -1121, "msg": "Invalid symbol."})
            return
        if self._fault("binance", symbol):
            return
        step = BINANCE_INTERVALS[query["interval"]]
        first = (
            datetime.fromtimestamp(int(query["startTime"]) / 1000, UTC)
            if "startTime" in query
            else (datetime(2017, 8, 17, tzinfo=UTC))
        )
        last = (
            datetime.fromtimestamp(int(query["endTime"]) / 1000, UTC)
            if "endTime" in query
            else datetime.now(UTC)
        )
        limit = min(int(query.get("limit", "500")), 1000)
        series = self.server.state.series.get(symbol)
        rows = []
        for ts, o, h, low, c, v in self.server.state.rows(symbol, step, first, last)[:limit]:
            open_ms = int(ts.timestamp() * 1000)
            close = "N/A" if series is not None and ts in series.malformed else f"{c:.8f}"
            rows.append(
                [
                    open_ms,
                    f"{o:.8f}",
                    f"{h:.8f}",
                    f"{low:.8f}",
                    close,
                    f"{v / 1000:.8f}",
                    open_ms + step * 1000 - 1,
                    f"{v / 1000 * c:.8f}",
                    int(v) // 40 + 1,
                    f"{v / 2000:.8f}",
                    f"{v / 2000 * c:.8f}",
                    "0",
                ]
            )
        self._send(200, rows)

    def _kraken_ohlc(self, query: dict[str, str]) -> None:
        pair = query["pair"]
        if pair not in KRAKEN_PAIRS:
            self._send(200, {"error": ["EQuery:Unknown asset pair"]})
            return
        if self._fault("kraken", pair):
            return
        step = KRAKEN_INTERVALS[query.get("interval", "1")]
        # `since` is exclusive at Kraken: bars starting after it, the latest 720 of them at most
        after = datetime.fromtimestamp(int(query.get("since", "0")), UTC) + timedelta(microseconds=1)
        found = self.server.state.rows(pair, step, after, datetime.now(UTC))[-KRAKEN_PAGE:]
        series = self.server.state.series.get(pair)
        rows = []
        for ts, o, h, low, c, v in found:
            close = "N/A" if series is not None and ts in series.malformed else f"{c:.5f}"
            vwap = f"{(o + h + low + c) / 4:.5f}"
            rows.append(
                [
                    int(ts.timestamp()),
                    f"{o:.5f}",
                    f"{h:.5f}",
                    f"{low:.5f}",
                    close,
                    vwap,
                    f"{v / 1000:.8f}",
                    int(v) // 40 + 1,
                ]
            )
        last = int(found[-1][0].timestamp()) if found else int(after.timestamp())
        self._send(200, {"error": [], "result": {pair: rows, "last": last}})

    def _coinbase_candles(self, product: str, query: dict[str, str]) -> None:
        if product not in COINBASE_PRODUCTS:
            self._coinbase_error(404, "NOT_FOUND", f"ProductID {product} could not be found")
            return
        if self._fault("coinbase", product):
            return
        step = COINBASE_GRANULARITIES.get(query.get("granularity", ""))
        if step is None or "start" not in query or "end" not in query:
            self._coinbase_error(400, "INVALID_ARGUMENT", "granularity, start and end are required")
            return
        start, end = int(query["start"]), int(query["end"])
        if end <= start or -(-(end - start) // step) > COINBASE_PAGE:
            self._coinbase_error(
                400,
                "INVALID_ARGUMENT",
                "start and end argument is invalid - number of candles requested should be less "
                f"than or equal to {COINBASE_PAGE}",
            )
            return
        # the candles starting in [start, end), newest first
        first = datetime.fromtimestamp(start, UTC)
        last = datetime.fromtimestamp(end, UTC) - timedelta(microseconds=1)
        series = self.server.state.series.get(product)
        candles = []
        for ts, o, h, low, c, v in reversed(self.server.state.rows(product, step, first, last)):
            close = "N/A" if series is not None and ts in series.malformed else f"{c:.2f}"
            candles.append(
                {
                    "start": str(int(ts.timestamp())),
                    "low": f"{low:.2f}",
                    "high": f"{h:.2f}",
                    "open": f"{o:.2f}",
                    "close": close,
                    "volume": f"{v / 1000:.8f}",
                }
            )
        self._send(200, {"candles": candles})

    def _coinbase_error(self, status: int, error: str, detail: str) -> None:
        code = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5}[error]
        self._send(status, {"error": error, "code": code, "message": detail, "error_details": detail})


def _coinbase_products(product_type: str) -> dict[str, Any]:
    """The spot products (none of another type: the fake lists no futures)."""
    products = [
        {
            "product_id": product,
            "price": "42000.00" if base == "BTC" else "2300.00",
            "price_percentage_change_24h": "1.25",
            "volume_24h": "10967.87426597",
            "volume_percentage_change_24h": "12.5",
            "base_increment": "0.00000001",
            "quote_increment": "0.01",
            "quote_min_size": "1",
            "quote_max_size": "150000000",
            "base_min_size": "0.00000001",
            "base_max_size": "3400",
            "base_name": name,
            "quote_name": "US Dollar",
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": quote,
            "base_currency_id": base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": base,
            "quote_display_symbol": quote,
            "view_only": False,
            "price_increment": "0.01",
            "display_name": product,
            "product_venue": "CBE",
        }
        for product, (base, quote, name) in COINBASE_PRODUCTS.items()
        if product_type == "SPOT"
    ]
    return {"products": products, "num_products": len(products)}


def _coinbase_fiat() -> dict[str, Any]:
    return {
        "data": [
            {"id": "USD", "name": "US Dollar", "min_size": "0.01"},
            {"id": "EUR", "name": "Euro", "min_size": "0.01"},
        ]
    }


def _coinbase_crypto() -> dict[str, Any]:
    coins = {base: name for base, _, name in COINBASE_PRODUCTS.values()}
    return {
        "data": [
            {
                "asset_id": f"00000000-0000-4000-8000-00000000000{i}",
                "code": code,
                "name": name,
                "color": "#F7931A",
                "sort_index": str(100 + i),
                "exponent": 8,
                "type": "crypto",
                "address_regex": "^([13][a-km-zA-HJ-NP-Z1-9]{25,34})$",
            }
            for i, (code, name) in enumerate(coins.items())
        ]
    }


def _coinbase_rates() -> dict[str, Any]:
    rates = {"USD": "1.0", "EUR": "0.92", "BTC": "0.0000238", "ETH": "0.000435"}
    return {"data": {"currency": "USD", "rates": rates}}


_COINBASE_V2 = {
    "/v2/currencies": _coinbase_fiat,
    "/v2/currencies/crypto": _coinbase_crypto,
    "/v2/exchange-rates": _coinbase_rates,
}


def _kraken_assets() -> dict[str, Any]:
    names = {"XXBT": "XBT", "XETH": "ETH", "ZUSD": "USD"}
    return {
        asset: {
            "aclass": "currency",
            "altname": altname,
            "decimals": 4 if asset == "ZUSD" else 10,
            "display_decimals": 2 if asset == "ZUSD" else 5,
            "collateral_value": 1.0,
            "status": "enabled",
        }
        for asset, altname in names.items()
    }


def _kraken_pairs() -> dict[str, Any]:
    return {
        pair: {
            "altname": altname,
            "wsname": wsname,
            "aclass_base": "currency",
            "base": base,
            "aclass_quote": "currency",
            "quote": quote,
            "lot": "unit",
            "cost_decimals": 5,
            "pair_decimals": 1,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [2, 3, 4, 5],
            "leverage_sell": [2, 3, 4, 5],
            "fees": [[0, 0.4], [10000, 0.35], [50000, 0.24]],
            "fees_maker": [[0, 0.25], [10000, 0.2], [50000, 0.14]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": "0.00005",
            "costmin": "0.5",
            "tick_size": "0.1",
            "status": "online",
        }
        for pair, (base, quote, altname, wsname) in KRAKEN_PAIRS.items()
    }


def _parse_time(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else datetime.fromisoformat(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _exchange_info() -> dict[str, Any]:
    symbols = []
    for market_id, (base, quote) in BINANCE_MARKETS.items():
        symbols.append(
            {
                "symbol": market_id,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "otoAllowed": True,
                "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True,
                "cancelReplaceAllowed": True,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": True,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.01000000",
                        "maxPrice": "1000000.00000000",
                        "tickSize": "0.01000000",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": "5.00000000",
                        "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT", "MARGIN"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": int(datetime.now(UTC).timestamp() * 1000),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeProviders


class ProviderServer:
    """The fake on a random free port of 127.0.0.1, served from a thread until `stop`."""

    def __init__(self) -> None:
        self.state = FakeProviders()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._server.timeout = 5
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class ProviderCase:
    """One adapter as the shared suites drive it: the provider's name, the platform symbol the
    tests fetch, the fake's own name for the same market, and what the adapter does for a
    symbol the provider does not know (Alpaca answers an empty page; an exchange refuses it)."""

    provider: str
    symbol: str
    market: str
    unknown_symbol: str
    unknown_is_error: bool
    price: float


CASES = {
    "alpaca": ProviderCase("alpaca", "AAPL", "AAPL", "ZZZZ", False, 185.0),
    "binance": ProviderCase("binance", "BTC-USDT", "BTCUSDT", "DOGE-EUR", True, 42_000.0),
    "coinbase": ProviderCase("coinbase", "BTC-USD", "BTC-USD", "DOGE-EUR", True, 42_000.0),
    "kraken": ProviderCase("kraken", "BTC-USD", "XXBTZUSD", "DOGE-EUR", True, 42_000.0),
}


def provider_settings(server: ProviderServer, **overrides: Any) -> dict[str, Any]:
    """Settings that point every fake-able provider at the server, with the fake's Alpaca key."""
    return {
        "provider_urls": dict.fromkeys(("alpaca", "binance", "coinbase", "kraken"), server.url),
        "alpaca_key_id": ALPACA_KEY_ID,
        "alpaca_secret_key": ALPACA_SECRET,
        # Generous: a loaded machine can stall the in-process fake for seconds; no test waits on it
        # (an unreachable provider is refused at once, a stalled one is tested with its own timeout).
        "provider_timeout_s": 30,
        "alpaca_requests_per_minute": 0,  # the fake has no rate plan; pacing has its own test
        **overrides,
    }


def small_pages(provider: Any, page: int) -> Any:
    """An adapter paging by `page` bars, without CCXT's own pacing between calls (Kraken's is a
    second a call: right for the real exchange, only slow against the fake)."""
    provider.page_limit = page
    exchange = getattr(provider, "exchange", None)
    if exchange is not None:
        exchange.enableRateLimit = False
    return provider
