"""Crypto exchanges through CCXT's `fetch_ohlcv`. Only the one exchange's module is imported
(`ccxt.binance`, never the `ccxt` package's __init__, which imports a hundred exchanges).

A platform symbol names the market as CCXT's unified symbol does (BTC/USDT: registered so, it
stays the platform's symbol, in the lake as `symbol=BTC%2FUSDT`), with a dash (BTC-USDT), or by
the exchange's own id (BTCUSDT).
A page continues from the token, the start (epoch milliseconds) of the next bar to fetch.
An exchange answering a time window rather than a count of bars (Coinbase: `start` and `end`, at
most 300 candles between them) is asked one page's window at a time, the next page from where the
window ended, however few bars it held (a gap, or nothing traded).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import threading
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from trading_system.config import Settings
from trading_system.market_data.domain import Bar, Timeframe
from trading_system.market_data.ports import (
    ProviderBars,
    ProviderCredentialsError,
    ProviderError,
    ProviderGarbage,
    ProviderRateLimited,
    ProviderUnavailable,
    UnknownProviderSymbol,
)

# What each exchange needs to answer public OHLCV with the fewest calls: Binance loads spot
# markets only (not futures and options, three more requests) and no currencies (a signed call).
# Coinbase has no such options: its markets cost five public requests once (the v2 currencies,
# crypto currencies and exchange rates CCXT loads first, then the Advanced Trade products, spot
# and futures); it stays on those public endpoints (fetchMarketsV3, usePrivate off: no key).
EXCHANGES: dict[str, dict[str, Any]] = {
    "binance": {
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False},
        "page": 1000,
        "until": True,
        "rows": lambda body: body if isinstance(body, list) else None,
    },
    "coinbase": {
        "options": {"fetchMarkets": "fetchMarketsV3", "usePrivate": False},
        "page": 300,
        "until": True,
        "window": True,  # candles between start and end, at most 300: a window a page
        "rows": lambda body: body.get("candles") if isinstance(body, dict) else None,
    },
    "kraken": {
        "options": {},
        "page": 720,
        "until": False,
        "latest_only": True,  # Kraken's OHLC holds the latest 720 bars of an interval, whatever `since`
        "rows": lambda body: (
            next((v for k, v in body["result"].items() if k != "last"), None)
            if isinstance(body, dict) and isinstance(body.get("result"), dict)
            else None
        ),
    },
}


class CcxtProvider:
    asset_class = "crypto"

    def __init__(
        self,
        exchange_id: str,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        page_limit: int | None = None,
        api_key: str | None = None,
        secret: str | None = None,
    ):
        if exchange_id not in EXCHANGES:
            raise ValueError(f"no CCXT exchange {exchange_id!r} here: use one of {', '.join(EXCHANGES)}")
        self.name = exchange_id
        spec = EXCHANGES[exchange_id]
        self.page_limit = min(page_limit or spec["page"], spec["page"])
        self._until = bool(spec["until"])
        self._latest_only = bool(spec.get("latest_only"))
        self._window = bool(spec.get("window"))
        self._cap = int(spec["page"])
        self._raw_rows = spec["rows"]
        self._lock = threading.Lock()  # a CCXT exchange keeps the last response on itself
        module = _exchange_module(exchange_id)
        # The last JSON body is kept: CCXT turns a body that is not OHLCV into no bars, silently.
        config: dict[str, Any] = {
            "timeout": int(timeout_s * 1000),
            "options": dict(spec["options"]),
            "enableLastJsonResponse": True,
        }
        if api_key and secret:
            config |= {"apiKey": api_key, "secret": secret}
        self.exchange: Any = getattr(module, exchange_id)(config)
        # The HTTP status of the last response: CCXT may raise a bare ExchangeError for an error
        # body before it looks at the status (Coinbase's 500 `internal_server_error`).
        self._status: int | None = None
        answered = self.exchange.on_rest_response

        def on_rest_response(code: Any, *rest: Any) -> Any:
            self._status = code if isinstance(code, int) else None
            return answered(code, *rest)

        self.exchange.on_rest_response = on_rest_response
        if base_url:
            self.exchange.urls["api"] = _rebased(self.exchange.urls["api"], base_url.rstrip("/"))

    @classmethod
    def from_settings(cls, exchange_id: str, settings: Settings) -> CcxtProvider:
        return cls(exchange_id, settings.provider_urls.get(exchange_id), settings.provider_timeout_s)

    def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime, token: str | None = None
    ) -> ProviderBars:
        step_ms = timeframe.seconds * 1000
        end_ms = int(end.timestamp() * 1000)
        since = _since(token) if token else int(start.timestamp() * 1000)
        # the end of what this page asks: the range's, or one page's window of it
        stop = min(end_ms, since + self.page_limit * step_ms) if self._window else end_ms
        params = {"until": stop - 1} if self._until else {}
        with self._lock:
            self.exchange.last_json_response = None
            self._status = None
            rows = self._call(
                symbol,
                lambda market: self.exchange.fetch_ohlcv(
                    market, timeframe.value, since, self.page_limit, params
                ),
            )
            raw = self._raw_rows(self.exchange.last_json_response)
        if not isinstance(rows, list) or not isinstance(raw, list):
            raise ProviderGarbage(f"{self.name} answered {symbol}'s OHLCV with something that is not candles")
        for index, row in enumerate(raw):
            if not isinstance(row, list | dict):
                raise ProviderGarbage(
                    f"{self.name} sent a malformed bar for {symbol} (row {index} of the page)"
                )
        bars = [self._bar(row, i, symbol) for i, row in enumerate(rows)]
        kept = [bar for bar in bars if since <= bar.ts.timestamp() * 1000 < stop]
        if self._latest_only and len(raw) >= self._cap and kept and kept[0].ts.timestamp() * 1000 > since:
            # The exchange answered its latest bars, not those from `since`: the rest is out of reach.
            first = datetime.fromtimestamp(since / 1000, UTC).isoformat()
            raise ProviderError(
                f"{self.name} serves only its latest {self._cap} {timeframe.value} bars of {symbol}, from "
                f"{kept[0].ts.isoformat()}: bars from {first} are beyond it (backfill them from another "
                "provider, or start later)",
                400,
                "Bad request",
                "start",
            )
        if self._window:  # the window is done, whatever it held: the next one starts where it ended
            next_ms: int | None = stop
            more = stop < end_ms
        else:
            next_ms = int(kept[-1].ts.timestamp() * 1000) + step_ms if kept else None
            # A full page may have more after it; a short one is all the exchange holds up to now.
            more = len(rows) >= self.page_limit and next_ms is not None and since < next_ms < end_ms
        # CCXT hands rows over as lists already; the page is small (at most 1,000), so a Bar each
        # for the checks above costs little beside CCXT's own parsing.
        from trading_system.market_data.bar_batch import BarSeries  # numpy, only where bars are read

        return ProviderBars(BarSeries.of(kept), str(next_ms) if more else None)

    def _market(self, symbol: str) -> str:
        exchange = self.exchange
        exchange.load_markets()
        if symbol in exchange.markets:  # the unified name itself: BTC/USDT
            return symbol
        unified = symbol.replace("-", "/")
        if unified in exchange.markets:
            return unified
        by_id = exchange.markets_by_id.get(symbol) if exchange.markets_by_id else None
        if by_id:
            return str(by_id[0]["symbol"])
        raise UnknownProviderSymbol(self.name, symbol)

    def _call(self, symbol: str, fetch: Any) -> Any:
        from ccxt.base import errors

        try:
            return fetch(self._market(symbol))
        except ProviderError:
            raise
        except errors.AuthenticationError:
            # CCXT's message may quote the request; the key is named by setting only.
            raise ProviderCredentialsError(f"{self.name} refused the API key: check its settings") from None
        except errors.BadSymbol:
            raise UnknownProviderSymbol(self.name, symbol) from None
        except (errors.RateLimitExceeded, errors.DDoSProtection):
            raise ProviderRateLimited(self.name, self._retry_after()) from None
        except errors.NetworkError as error:
            raise ProviderUnavailable(f"{self.name} is unavailable: {type(error).__name__}") from None
        except (errors.BadResponse, errors.ExchangeError) as error:
            # An error body CCXT raised on before looking at the status: the status decides.
            if self._status == 429:
                raise ProviderRateLimited(self.name, self._retry_after()) from None
            if self._status is not None and self._status >= 500:
                raise ProviderUnavailable(f"{self.name} is unavailable: HTTP {self._status}") from None
            if self._status == 401:
                raise ProviderCredentialsError(
                    f"{self.name} refused the API key: check its settings"
                ) from None
            raise ProviderGarbage(
                f"{self.name} answered {symbol}'s OHLCV badly: {str(error)[:200]}"
            ) from None
        except (TypeError, ValueError, KeyError, IndexError) as error:
            # CCXT parsing a body that is not what the exchange documents
            raise ProviderGarbage(
                f"{self.name} sent a response for {symbol} CCXT cannot read: {error}"
            ) from None

    def _retry_after(self) -> float | None:
        headers = self.exchange.last_response_headers or {}
        try:
            return max(0.0, float(headers.get("Retry-After", "")))
        except ValueError:
            return None

    def _bar(self, row: Any, index: int, symbol: str) -> Bar:
        where = f"{self.name} sent a malformed bar for {symbol} (row {index} of the page"
        if not isinstance(row, list) or len(row) < 6:
            raise ProviderGarbage(f"{where}: not [time, open, high, low, close, volume])")
        stamp = row[0]
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            raise ProviderGarbage(f"{where}: time {str(stamp)[:40]!r} is not epoch milliseconds)")
        values = []
        for name, value in zip(("open", "high", "low", "close", "volume"), row[1:6], strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ProviderGarbage(f"{where}: {name} is {str(value)[:40]!r}, not a number)")
            values.append(float(value))
        ts = datetime.fromtimestamp(stamp / 1000, UTC)
        return Bar(ts=ts, open=values[0], high=values[1], low=values[2], close=values[3], volume=values[4])


def _exchange_module(exchange_id: str) -> ModuleType:
    """`ccxt.<exchange_id>` without running `ccxt/__init__.py`, which imports every exchange
    (about 0.6 s; one exchange and CCXT's base take about 0.25 s): when nothing has imported the
    package yet, an empty package module over the same folder stands in for it."""
    with _IMPORT_LOCK:
        if "ccxt" not in sys.modules:
            spec = importlib.util.find_spec("ccxt")
            if spec is None or spec.submodule_search_locations is None:
                raise ModuleNotFoundError("ccxt is not installed: pip install ccxt (the `crypto` extra)")
            package = ModuleType("ccxt")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            package.__file__ = spec.origin
            sys.modules["ccxt"] = package
        return importlib.import_module(f"ccxt.{exchange_id}")


_IMPORT_LOCK = threading.Lock()


def _since(token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise ProviderError(
            f"{token[:40]!r} is not a page token of a CCXT exchange", 400, "Bad request"
        ) from None


def _rebased(urls: Any, base: str) -> Any:
    """The exchange's API URLs with scheme and host replaced by `base` (paths kept)."""
    if isinstance(urls, dict):
        return {key: _rebased(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        parts = urlsplit(urls)
        return base + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls
