"""The dashboard's live stream through a server restart, in headless Chromium against the real
local runner: the page stays open while `trading serve` stops and starts again on the same data
and port, the stream reconnects and subscribes to the same channels again on its own, and a fill
placed through the API afterwards reaches the trading panels live, without a reload."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.e2e import test_dashboard as dashboard
from tests.e2e.conftest import LocalRunner
from tests.e2e.test_dashboard import Watched, new_key, open_dashboard, quantity

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e")]

# test_dashboard.py's browser fixtures: Debian's Chromium, headless, 127.0.0.1 only, a fresh
# context per test with every wait bounded.
playwright = dashboard.playwright
browser = dashboard.browser
page = dashboard.page

# The stream retries after 1, 2, 4, 8, 16 s (±20 %): a server that takes ten seconds to come
# back on a busy machine is met by the attempt near 15 s, the one after it near 31 s.
RECONNECT_WAIT_S = 60.0
ACCOUNT = "paper"


@dataclass
class Socket:
    """One WebSocket the page opened, as Playwright saw it: the frames both ways."""

    ws: WebSocket
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    def subscribes(self) -> list[list[str]]:
        return [m["channels"] for m in self.sent if m.get("action") == "subscribe"]

    def confirmed(self) -> set[str]:
        """Every channel the server said this socket is subscribed to."""
        return {c for m in self.received if m.get("type") == "subscribed" for c in m.get("channels", [])}


def watch_sockets(page: Page) -> list[Socket]:
    sockets: list[Socket] = []

    def frame(payload: str | bytes) -> dict[str, Any]:
        try:
            message = json.loads(payload)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    def opened(ws: WebSocket) -> None:
        socket = Socket(ws)
        sockets.append(socket)
        ws.on("framesent", lambda payload: socket.sent.append(frame(payload)))
        ws.on("framereceived", lambda payload: socket.received.append(frame(payload)))
        ws.on("close", lambda _: setattr(socket, "closed", True))
        ws.on("socketerror", lambda _: setattr(socket, "closed", True))  # a refused attempt

    page.on("websocket", opened)
    return sockets


def wait_until(page: Page, done: Any, seconds: float, what: str) -> None:
    """Poll `done()` while the page runs (Playwright delivers its events during the wait)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds:.0f} s")
        page.wait_for_timeout(100)


def trading_loads(page: Page) -> int:
    loads: int = page.evaluate("() => Number(document.getElementById('trading').dataset.loads || 0)")
    return loads


def test_a_fill_reaches_the_dashboard_live_after_the_server_restarts(
    page: Page, local_runner: LocalRunner, admin: httpx.Client
) -> None:
    watched = Watched(page, local_runner)
    sockets = watch_sockets(page)
    trader_key = new_key(admin, "trader")

    # A trader's key: the stream carries the public events and the `paper` account's own.
    open_dashboard(page, local_runner, trader_key)
    expect(page.locator("#trading-account")).to_contain_text(ACCOUNT)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "open")
    channels_before = status.get_attribute("data-channels")
    assert channels_before is not None
    assert {f"orders:{ACCOUNT}", f"positions:{ACCOUNT}"} <= set(channels_before.split())
    assert len(sockets) == 1, [s.ws.url for s in sockets]
    first = sockets[0]
    subscribes_before = first.subscribes()
    assert [f"orders:{ACCOUNT}", f"positions:{ACCOUNT}"] in subscribes_before
    assert first.confirmed() == set(channels_before.split())
    positions = {p["symbol"]: p for p in admin.get("/v1/positions").json()}
    aapl_before = Decimal(positions["AAPL"]["qty"]) if "AAPL" in positions else Decimal(0)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloaded

    # The server stops (its socket closes with 1012) and comes back on the same data and port.
    started = time.monotonic()
    local_runner.restart()
    restarted_in = time.monotonic() - started
    loads_before_resync = trading_loads(page)

    # The page finds the drop itself, reconnects, and asks for the same channels again.
    wait_until(page, lambda: first.closed, 10, "the page's first socket did not close")

    def resubscribed() -> Socket | None:
        for socket in sockets[1:]:
            if socket.closed or not socket.subscribes():
                continue
            if socket.confirmed() >= set(channels_before.split()):
                return socket
        return None

    wait_until(page, lambda: resubscribed() is not None, RECONNECT_WAIT_S, "the stream did not resubscribe")
    reconnected_in = time.monotonic() - started
    again = resubscribed()
    assert again is not None
    assert again.ws.url == first.ws.url  # the same stream, with the same key
    assert again.subscribes() == subscribes_before
    assert again.confirmed() == first.confirmed()
    assert [s for s in sockets[1:] if not s.closed] == [again], "more than one socket open"
    expect(status).to_have_attribute("data-state", "open")
    expect(status).to_have_attribute("data-channels", channels_before)
    expect(page.locator("#status-text")).to_have_text(re.compile(r"^Live"))
    # Events were missed while it was down: the panels are read again, once.
    page.wait_for_function(
        "(n) => Number(document.getElementById('trading').dataset.loads) > n", arg=loads_before_resync
    )
    page.wait_for_timeout(1000)  # a second reload of the resync would land within this
    loads_after_resync = trading_loads(page)
    expect(page.locator("#trading-message")).to_be_hidden()

    # A market order placed through the API fills at once; the fill reaches the panels by the
    # stream alone (nothing on the page polls the account).
    with local_runner.client(trader_key) as trader:
        response = trader.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "3"})
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["status"] == "filled", order
        fills = trader.get("/v1/fills", params={"limit": 5}).json()["fills"]
        cash = trader.get("/v1/account").json()["cash"]
    fill = next(f for f in fills if f["order_id"] == order["id"])
    expect(page.locator(f"#fills tr[data-fill-id='{fill['fill_id']}']")).to_contain_text("AAPL")
    expect(page.locator("#positions tr[data-symbol='AAPL'] td").nth(1)).to_have_text(
        quantity(aapl_before + 3)
    )
    expect(page.locator("#account [data-field='cash'] dd")).to_have_text(dashboard.money(cash))
    assert trading_loads(page) > loads_after_resync
    expect(page.locator("#status-text")).to_contain_text("last event")
    assert page.evaluate("window.__sameDocument") is True
    assert again.ws in [s.ws for s in sockets if not s.closed]  # still the reconnected socket
    expect(page.locator("#banner")).to_be_hidden()

    # The only console errors: Chromium's own lines for the attempts made while the server was
    # down (connection refused). The page itself logs nothing and throws nothing.
    refused_attempt = re.compile(
        rf"^WebSocket connection to '{re.escape(local_runner.ws_url)}\?api_key=[^']+' failed"
    )
    unexpected = [e for e in watched.errors if not refused_attempt.match(e)]
    failed_sockets = [s for s in sockets[1:] if s is not again]
    assert len(watched.errors) - len(unexpected) <= len(failed_sockets), watched.errors
    watched.errors = unexpected
    watched.assert_clean()
    print(
        f"restart {restarted_in:.1f} s, resubscribed {reconnected_in:.1f} s after the stop began, "
        f"{len(failed_sockets)} refused attempt(s)"
    )
