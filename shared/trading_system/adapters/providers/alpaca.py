"""Alpaca's market data API v2 (stock bars) over plain HTTP: urllib3 is already in the Lambda
layer (botocore needs it), alpaca-py would add pydantic models and a websocket client we never use.

GET {base}/v2/stocks/{symbol}/bars?timeframe=1Min&start=...&end=...&limit=...&page_token=...
with the headers APCA-API-KEY-ID / APCA-API-SECRET-KEY; the answer is
{"bars": [{"t": "2024-01-02T14:30:00Z", "o": .., "h": .., "l": .., "c": .., "v": .., "n": .., "vw": ..}],
 "symbol": "AAPL", "next_page_token": "..." | null}.

GET {base}/v1/corporate-actions?symbols=AAPL&types=forward_split,reverse_split,cash_dividend
&start=2024-01-01&end=2024-12-31&limit=1000&sort=asc&page_token=... answers
{"corporate_actions": {"forward_splits": [{"symbol", "new_rate", "old_rate", "ex_date", ...}],
 "reverse_splits": [...], "cash_dividends": [{"symbol", "rate", "ex_date", ...}]}, "next_page_token"}.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec
import orjson
import urllib3

from trading_system.config import Settings
from trading_system.market_data.domain import ActionKind, Bar, CorporateAction, Timeframe
from trading_system.market_data.ports import (
    ProviderBars,
    ProviderCredentialsError,
    ProviderError,
    ProviderGarbage,
    ProviderRateLimited,
    ProviderUnavailable,
    UnknownProviderSymbol,
)

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries

PUBLIC_URL = "https://data.alpaca.markets"
_DAY_US = 86_400 * 1_000_000
_STAMP = len("2024-01-02T14:30:00Z")
MAX_PAGE = 10_000  # Alpaca's largest `limit`
TIMEFRAMES = {
    Timeframe.M1: "1Min",
    Timeframe.M5: "5Min",
    Timeframe.M15: "15Min",
    Timeframe.H1: "1Hour",
    Timeframe.D1: "1Day",
}
KEY_SETTINGS = "TRADING_ALPACA_KEY_ID and TRADING_ALPACA_SECRET_KEY"
ACTIONS_PAGE = 1_000  # Alpaca's largest `limit` for corporate actions
MAX_ACTION_PAGES = 1_000  # a provider paging forever is a broken one
# Alpaca's groups of corporate actions, by the name it answers them under.
_ACTION_GROUPS = {
    "forward_splits": ActionKind.SPLIT,
    "reverse_splits": ActionKind.SPLIT,
    "cash_dividends": ActionKind.CASH_DIVIDEND,
}


class AlpacaProvider:
    name = "alpaca"
    asset_class = "us_equity"

    def __init__(
        self,
        key_id: str | None,
        secret_key: str | None,
        base_url: str = PUBLIC_URL,
        feed: str = "iex",
        timeout_s: float = 30.0,
        page_limit: int = MAX_PAGE,
        requests_per_minute: int = 0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._key_id = key_id
        self._secret_key = secret_key
        self.base_url = base_url.rstrip("/")
        self.feed = feed
        self.page_limit = min(page_limit, MAX_PAGE)
        # Requests are spaced to the plan's rate so a long backfill does not live on 429s.
        self._spacing_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._sleep = sleep
        self._monotonic = monotonic
        self._next_request_at = 0.0
        self._pace = threading.Lock()
        # No retries here: the backfill retries with its own bounded backoff, sleeping as told.
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False, maxsize=4)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlpacaProvider:
        secret = settings.alpaca_secret_key
        return cls(
            settings.alpaca_key_id,
            secret.get_secret_value() if secret is not None else None,
            settings.provider_urls.get("alpaca", PUBLIC_URL),
            settings.alpaca_feed,
            settings.provider_timeout_s,
            requests_per_minute=settings.alpaca_requests_per_minute,
        )

    def missing_credentials(self) -> str | None:
        """What to set when the API key is missing (the settings' names, never a value)."""
        if not self._key_id or not self._secret_key:
            return f"alpaca needs an API key: set {KEY_SETTINGS}"
        return None

    def fetch_bars(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime, token: str | None = None
    ) -> ProviderBars:
        if not self._key_id or not self._secret_key:  # as missing_credentials() says
            raise ProviderCredentialsError(f"alpaca needs an API key: set {KEY_SETTINGS}")
        fields: dict[str, str] = {
            "timeframe": TIMEFRAMES[timeframe],
            "start": _rfc3339(start),
            "end": _rfc3339(end),  # inclusive at Alpaca: a bar starting at `end` is dropped below
            "limit": str(self.page_limit),
            "adjustment": "raw",
            "feed": self.feed,
            "sort": "asc",
        }
        if token:
            fields["page_token"] = token
        url = f"{self.base_url}/v2/stocks/{quote(symbol, safe='')}/bars"
        headers = {"APCA-API-KEY-ID": self._key_id, "APCA-API-SECRET-KEY": self._secret_key}
        self._wait_turn()
        try:
            response = self._http.request("GET", url, fields=fields, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise ProviderUnavailable(f"alpaca did not answer: {type(error).__name__}") from None
        series, next_token = _page(self._checked(response, symbol), symbol, timeframe)
        start_us, end_us = _epoch_us(start), _epoch_us(end)
        kept = series.where((series.ts_us >= start_us) & (series.ts_us < end_us))
        # Bars come oldest first: one at or past `end` means the range is exhausted.
        exhausted = len(kept) < len(series) and bool((series.ts_us >= end_us).any())
        return ProviderBars(kept, None if exhausted else (next_token or None))

    def fetch_corporate_actions(self, symbol: str, start: date, end: date) -> list[CorporateAction]:
        """Splits and cash dividends from the current endpoint, GET /v1/corporate-actions (the
        older /v1beta1/corporate-actions/announcements is deprecated), every page read."""
        if not self._key_id or not self._secret_key:
            raise ProviderCredentialsError(f"alpaca needs an API key: set {KEY_SETTINGS}")
        url = f"{self.base_url}/v1/corporate-actions"
        headers = {"APCA-API-KEY-ID": self._key_id, "APCA-API-SECRET-KEY": self._secret_key}
        fields = {
            "symbols": symbol,
            "types": "forward_split,reverse_split,cash_dividend",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "limit": str(ACTIONS_PAGE),
            "sort": "asc",
        }
        found: list[CorporateAction] = []
        for _ in range(MAX_ACTION_PAGES):
            self._wait_turn()
            try:
                response = self._http.request("GET", url, fields=fields, headers=headers)
            except urllib3.exceptions.HTTPError as error:
                raise ProviderUnavailable(f"alpaca did not answer: {type(error).__name__}") from None
            body = _json_object(self._checked(response, symbol), symbol, "corporate actions")
            groups = body.get("corporate_actions") or {}
            if not isinstance(groups, dict):
                raise ProviderGarbage(f"alpaca sent corporate actions for {symbol} that are not an object")
            for group, kind in _ACTION_GROUPS.items():
                rows = groups.get(group) or []
                if not isinstance(rows, list):
                    raise ProviderGarbage(f"alpaca sent {group} for {symbol} that are not a list")
                found += [_action(row, i, group, kind, symbol) for i, row in enumerate(rows)]
            token = body.get("next_page_token")
            if not token:
                return sorted(found, key=lambda a: (a.ex_date, a.kind))
            if not isinstance(token, str):
                raise ProviderGarbage(f"alpaca sent a next_page_token for {symbol} that is not text")
            fields["page_token"] = token
        raise ProviderGarbage(
            f"alpaca kept paging {symbol}'s corporate actions past {MAX_ACTION_PAGES} pages"
        )

    def _wait_turn(self) -> None:
        if not self._spacing_s:
            return
        with self._pace:
            wait = self._next_request_at - self._monotonic()
            if wait > 0:
                self._sleep(wait)
            self._next_request_at = max(self._next_request_at, self._monotonic()) + self._spacing_s

    def _checked(self, response: urllib3.BaseHTTPResponse, symbol: str) -> bytes:
        """The body of a successful answer; an error for any other."""
        status = response.status
        if status == 429:
            raise ProviderRateLimited("alpaca", _retry_after(response.headers))
        if status >= 500:
            raise ProviderUnavailable(f"alpaca answered HTTP {status}")
        if status in (401, 403):
            # The body is not shown: nothing the provider echoes back may leak the key.
            raise ProviderCredentialsError(
                f"alpaca refused the API key (HTTP {status}): check {KEY_SETTINGS}"
            )
        if status >= 400:  # the body is read for its message only here: a page of bars is 1 MB
            message = _message(response.data)
            if status in (404, 422) and "symbol" in message.lower():
                raise UnknownProviderSymbol("alpaca", symbol)
            raise ProviderError(f"alpaca refused the request for {symbol} (HTTP {status}): {message}")
        data: bytes = response.data
        return data


def _json_object(data: bytes, symbol: str, what: str) -> dict[str, Any]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderGarbage(f"alpaca answered {symbol}'s {what} with something that is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderGarbage(f"alpaca answered {symbol}'s {what} with JSON that is not an object")
    return body


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(data: bytes) -> str:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:200].decode("utf-8", "replace")
    return str(body.get("message", ""))[:200] if isinstance(body, dict) else ""


def _retry_after(headers: Any) -> float | None:
    """Retry-After (seconds or an HTTP date), else Alpaca's X-RateLimit-Reset (epoch seconds)."""
    value = headers.get("Retry-After")
    now = time.time()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                return None
    reset = headers.get("X-RateLimit-Reset")
    try:
        return max(0.0, float(reset) - now) if reset else None
    except ValueError:
        return None


class _AlpacaBar(msgspec.Struct):
    """A bar in Alpaca's own form: numbers, and a stamp that `_columns` checks (other fields,
    `n` and `vw`, are skipped unread)."""

    t: str
    o: float  # msgspec takes a JSON integer here too, and refuses text, booleans and null
    h: float
    l: float  # noqa: E741 (Alpaca's name)
    c: float
    v: float


class _AlpacaPage(msgspec.Struct):
    bars: list[_AlpacaBar] | None = None  # an unknown symbol, or a range without trades: null or []
    next_page_token: str | None = None


_ALPACA_PAGE = msgspec.json.Decoder(_AlpacaPage)


def _page(data: bytes, symbol: str, timeframe: Timeframe) -> tuple[BarSeries, str | None]:
    """A page's bars as columns, and its next token. A page as Alpaca sends it (objects stamped
    in whole UTC seconds, `...:00Z`, with numbers) is decoded straight into typed bars and read a
    column at a time: twice as fast as JSON objects made into dicts, which was half a backfill's
    time. Any other goes bar by bar, which reads the rarer forms (an offset, fractions of a
    second) and names the first malformed row. The fields the platform does not read (`n`, `vw`,
    `symbol`) are skipped unchecked, so a page is no longer refused for one of those alone (a
    `vw` of 1e999, which the plain JSON reader cannot parse)."""
    try:
        page = _ALPACA_PAGE.decode(data)
    # Not Alpaca's form (a ValidationError is a DecodeError), or text that is not UTF-8 (a
    # ValueError), or nesting past msgspec's depth: read it as plain JSON, bar by bar.
    except (msgspec.DecodeError, ValueError, RecursionError):
        page = None
    if page is not None:
        series = _columns(page.bars or [], timeframe)
        if series is not None:
            return series, page.next_page_token
    from trading_system.market_data.bar_batch import BarSeries

    body = _json_object(data, symbol, "bars")
    rows = body.get("bars") or []
    if not isinstance(rows, list):
        raise ProviderGarbage(f"alpaca sent bars for {symbol} that are not a list")
    series = BarSeries.of([_bar(row, i, symbol, timeframe) for i, row in enumerate(rows)])
    token = body.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise ProviderGarbage(f"alpaca sent a next_page_token for {symbol} that is not text")
    return series, token


def _columns(bars: list[_AlpacaBar], timeframe: Timeframe) -> BarSeries | None:
    """Typed bars as columns; None when a stamp is not in Alpaca's own form or a number is not
    finite (the bar-by-bar reading then says which)."""
    # numpy only where bars are read: checking a backfill request (an HTTP function) builds this
    # provider without reading any
    import numpy as np

    from trading_system.market_data.bar_batch import BarSeries

    # Stamps in Alpaca's own form, `2024-01-02T14:30:00Z`, read all at once: joined, cut every
    # 20 characters, each ending in Z, numpy parsing the rest.
    text = "".join([bar.t for bar in bars])
    if len(text) != _STAMP * len(bars) or not text.isascii():
        return None
    cut = np.frombuffer(text.encode("ascii"), dtype=f"S{_STAMP}")
    if not bool((cut.view(np.uint8)[_STAMP - 1 :: _STAMP] == ord("Z")).all()):
        return None
    try:
        ts_us = cut.astype(f"S{_STAMP - 1}").astype("datetime64[us]").astype(np.int64)
    except ValueError:
        return None
    prices = [
        np.array([bar.o for bar in bars], dtype=np.float64),
        np.array([bar.h for bar in bars], dtype=np.float64),
        np.array([bar.l for bar in bars], dtype=np.float64),
        np.array([bar.c for bar in bars], dtype=np.float64),
        np.array([bar.v for bar in bars], dtype=np.float64),
    ]
    if not all(bool(np.isfinite(p).all()) for p in prices):  # a guard: msgspec makes no NaN or inf
        return None
    if timeframe is Timeframe.D1:
        ts_us -= ts_us % _DAY_US  # as _bar does: the session's UTC date
    return BarSeries(ts_us, *prices)


def _epoch_us(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond


def _bar(row: Any, index: int, symbol: str, timeframe: Timeframe) -> Bar:
    where = f"alpaca sent a malformed bar for {symbol} (row {index} of the page"
    if not isinstance(row, dict):
        raise ProviderGarbage(f"{where}: not an object)")
    stamp = row.get("t")
    if not isinstance(stamp, str):
        raise ProviderGarbage(f"{where}: 't' is missing or not text)")
    ts = _timestamp(stamp)
    if ts is None:
        raise ProviderGarbage(f"{where}: 't' {stamp[:40]!r} is not an RFC 3339 time)")
    values: dict[str, float] = {}
    for key, name in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"), ("v", "volume")):
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ProviderGarbage(f"{where}: '{key}' is {str(value)[:40]!r}, not a number)")
        values[name] = float(value)
    if timeframe is Timeframe.D1:
        # Alpaca stamps a daily bar at midnight New York (04:00 or 05:00 UTC); the platform's
        # daily bar is the session's UTC date, which that time falls on.
        ts = Timeframe.D1.floor(ts)
    return Bar(
        ts=ts,
        open=values["open"],
        high=values["high"],
        low=values["low"],
        close=values["close"],
        volume=values["volume"],
    )


def _action(row: Any, index: int, group: str, kind: ActionKind, symbol: str) -> CorporateAction:
    """One of Alpaca's split rows ({"symbol", "new_rate", "old_rate", "ex_date", ...}) or cash
    dividend rows ({"symbol", "rate", "ex_date", "special", "foreign", ...}; USD unless it says)."""
    where = f"alpaca sent a malformed {group[:-1]} for {symbol} (row {index} of the page"
    if not isinstance(row, dict):
        raise ProviderGarbage(f"{where}: not an object)")
    if row.get("symbol") not in (None, symbol):
        raise ProviderGarbage(f"{where}: it is {str(row.get('symbol'))[:20]!r}'s)")
    try:
        ex_date = date.fromisoformat(str(row.get("ex_date")))
    except ValueError:
        raise ProviderGarbage(f"{where}: 'ex_date' {str(row.get('ex_date'))[:40]!r} is not a date)") from None

    def number(key: str) -> Decimal:
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ProviderGarbage(f"{where}: '{key}' is {str(value)[:40]!r}, not a number)")
        try:
            parsed = Decimal(str(value))  # via text: 0.24 stays 0.24, not its binary neighbour
        except ArithmeticError:
            raise ProviderGarbage(f"{where}: '{key}' is {str(value)[:40]!r}, not a number)") from None
        if not parsed.is_finite() or parsed <= 0:
            raise ProviderGarbage(f"{where}: '{key}' is {str(value)[:40]!r}, not a positive number)")
        return parsed

    if kind is ActionKind.SPLIT:
        return CorporateAction(
            symbol=symbol,
            kind=kind,
            ex_date=ex_date,
            new_rate=number("new_rate"),
            old_rate=number("old_rate"),
        )
    currency = row.get("currency") or "USD"
    if not isinstance(currency, str) or len(currency) != 3:
        raise ProviderGarbage(f"{where}: 'currency' {str(currency)[:20]!r} is not a currency code)")
    return CorporateAction(
        symbol=symbol, kind=kind, ex_date=ex_date, amount=number("rate"), currency=currency.upper()
    )


def _timestamp(text: str) -> datetime | None:
    # Alpaca may send nanoseconds; Python keeps microseconds.
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
