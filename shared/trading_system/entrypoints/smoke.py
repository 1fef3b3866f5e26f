"""A smoke test of a running platform, through its public API only: what a user runs against
their own deployment (`make smoke URL=... KEY=...`) and what the tests run against `trading serve`.

Each step says what it checked and how long it took; the first failure stops the run with the
step's name and what came back. It needs an admin key (it creates a symbol and a paper account),
leaves behind only what is cheap to keep (a symbol `SMOKE`, its bars, an account `smoke`) and
deletes its scanner. Standard library only, plus `websockets` for the stream.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SYMBOL = "SMOKE"
ACCOUNT = "smoke"
TIMEOUT_S = 30


class SmokeFailed(Exception):
    """A step did not do what it should; the message names the step and what came back."""


@dataclass
class Report:
    passed: list[tuple[str, float]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Api:
    def __init__(self, url: str, key: str):
        self.url = url.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("x-api-key", self.key)
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        except OSError as error:
            raise SmokeFailed(f"{method} {path}: cannot reach {self.url}: {error}") from None
        if status not in expect:
            raise SmokeFailed(f"{method} {path} answered {status}, expected {expect}: {text[:500]}")
        return json.loads(text) if text else None


def run(url: str, key: str, say: Callable[[str], None] = print, stream_url: str | None = None) -> Report:
    """Every step in order; raises SmokeFailed at the first that fails."""
    api = Api(url, key)
    report = Report()

    @contextmanager
    def step(name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except SmokeFailed as error:
            raise SmokeFailed(f"{name}: {error}") from None
        took = time.perf_counter() - started
        report.passed.append((name, took))
        say(f"ok   {name} ({took * 1000:.0f} ms)")

    with step("health"):
        api.call("GET", "/v1/health")
    with step("register a symbol"):
        api.call("POST", "/v1/symbols", {"symbol": SYMBOL, "name": "smoke test"}, expect=(200, 201))
    first = (datetime.now(UTC) - timedelta(days=10)).date()
    bars = [
        {
            "ts": (first + timedelta(days=d)).isoformat(),
            "open": 10 + d,
            "high": 11 + d,
            "low": 9 + d,
            "close": 10.5 + d,
            "volume": 1000,
        }
        for d in range(5)
    ]
    with step("ingest bars"):
        api.call("POST", "/v1/bars", {"timeframe": "1d", "symbol": SYMBOL, "bars": bars}, expect=(201,))
    with step("read them back"):
        start = bars[0]["ts"]
        page = api.call("GET", f"/v1/bars/{SYMBOL}?timeframe=1d&start={start}")
        closes = [bar["close"] for bar in page["bars"]][:5]
        if closes != [bar["close"] for bar in bars]:
            raise SmokeFailed(f"the closes read back are {closes}, not those written")
    with step("scan"):
        scanner = api.call(
            "POST",
            "/v1/scanners",
            {
                "name": f"smoke {uuid.uuid4().hex[:6]}",
                "rules": ["close > 0"],
                "universe": {"type": "symbols", "symbols": [SYMBOL]},
            },
            expect=(201,),
        )
        try:
            result = api.call("POST", f"/v1/scanners/{scanner['scanner_id']}/runs", expect=(200, 201))
            if SYMBOL not in [match["symbol"] for match in result["matches"]]:
                raise SmokeFailed(f"{SYMBOL} should match `close > 0`: {result['matches']}")
        finally:
            api.call("DELETE", f"/v1/scanners/{scanner['scanner_id']}", expect=(200, 204))
    with step("open the paper account"):
        api.call("POST", "/v1/accounts", {"account_id": ACCOUNT, "starting_cash": "10000"}, expect=(201, 409))
    events = _Listener(url, key, report, say, stream_url)
    with events:
        with step("place a paper order"):
            order = api.call(
                "POST",
                "/v1/orders",
                {
                    "account_id": ACCOUNT,
                    "symbol": SYMBOL,
                    "side": "buy",
                    "type": "limit",
                    "qty": "1",
                    "limit_price": "1.00",
                    "client_order_id": f"smoke-{uuid.uuid4()}",
                },
                expect=(201,),
            )
        with step("cancel it"):
            canceled = api.call("DELETE", f"/v1/orders/{order['id']}", expect=(200,))
            if canceled["status"] != "canceled":
                raise SmokeFailed(f"the order is {canceled['status']}, not canceled")
        events.expect("OrderCanceled", order["id"])
    return report


class _Listener:
    """The stream, subscribed to `orders` before the order is placed, in a thread of its own."""

    def __init__(
        self, url: str, key: str, report: Report, say: Callable[[str], None], stream_url: str | None = None
    ):
        # Locally the stream is beside the API; in AWS it is its own API (the WebSocketUrl output).
        scheme = "wss" if url.startswith("https") else "ws"
        local = f"{scheme}{url.rstrip('/').removeprefix('https').removeprefix('http')}/v1/stream"
        self.url = stream_url or local
        self.key, self.report, self.say = key, report, say
        self.loop = asyncio.new_event_loop()
        self.socket: Any = None
        self.unavailable: str | None = None

    def __enter__(self) -> _Listener:
        try:
            self.socket = self.loop.run_until_complete(self._subscribe())
        except Exception as error:  # no stream at this URL: the step is reported skipped
            self.unavailable = f"no stream at {self.url}: {error}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.socket is not None:
            self.loop.run_until_complete(self.socket.close())
        self.loop.close()

    async def _subscribe(self) -> Any:
        from websockets.asyncio.client import connect

        socket = await asyncio.wait_for(connect(f"{self.url}?api_key={self.key}"), TIMEOUT_S)
        await socket.send(json.dumps({"action": "subscribe", "channels": ["orders"]}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))
        if reply.get("type") != "subscribed":
            raise SmokeFailed(f"subscribing answered {reply}")
        return socket

    def expect(self, event_type: str, order_id: str) -> None:
        name = f"receive {event_type} on the stream"
        if self.unavailable is not None:
            self.report.skipped.append((name, self.unavailable))
            self.say(f"skip {name}: {self.unavailable}")
            return
        started = time.perf_counter()
        self.loop.run_until_complete(self._wait_for(event_type, order_id))
        took = time.perf_counter() - started
        self.report.passed.append((name, took))
        self.say(f"ok   {name} ({took * 1000:.0f} ms)")

    async def _wait_for(self, event_type: str, order_id: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                message = json.loads(await asyncio.wait_for(self.socket.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
            event = message.get("event", {})
            if event.get("event_type") == event_type and event.get("payload", {}).get("order_id") == order_id:
                return
        raise SmokeFailed(f"receive {event_type} on the stream: nothing within {TIMEOUT_S} s")
