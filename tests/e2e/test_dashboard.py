"""The dashboard in headless Chromium (Debian's /usr/bin/chromium, installed by `make browser`;
Playwright's own browser downloads are not used), against the real local runner."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.e2e.conftest import LocalRunner

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # 127.0.0.1 only, whatever proxy the environment names
]
WAIT_MS = 10_000  # upper bound of every wait on the page


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
    yield launched
    launched.close()


class Watched:
    """What a page did that a test should know about: uncaught errors, and any request that
    left 127.0.0.1 (the dashboard must not reach a CDN or a font service)."""

    def __init__(self, page: Page, runner: LocalRunner):
        self.errors: list[str] = []
        self.foreign: list[str] = []
        allowed = (runner.base_url + "/", "data:", "blob:")
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        # Console errors too (a CSP violation lands there), except the browser's own line for
        # an HTTP error status, which the tests cause on purpose (a wrong key, an unknown symbol).
        page.on(
            "console",
            lambda m: (
                self.errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("request", lambda r: None if r.url.startswith(allowed) else self.foreign.append(r.url))
        page.on(
            "websocket", lambda ws: None if ws.url.startswith(runner.ws_url) else self.foreign.append(ws.url)
        )

    def assert_clean(self) -> None:
        assert self.foreign == [], f"requests outside 127.0.0.1: {self.foreign}"
        assert self.errors == [], f"uncaught errors in the page: {self.errors}"


@pytest.fixture
def page(browser: Browser, local_runner: LocalRunner) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})  # fresh localStorage
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def chart_state(page: Page) -> dict[str, str]:
    state: dict[str, str] = page.eval_on_selector("#chart", "el => ({...el.dataset})")
    return state


def wait_for_load(page: Page, after: int, symbol: str, timeframe: str) -> dict[str, str]:
    """Wait until the chart has finished a load newer than `after` for this symbol and timeframe;
    an error banner ends the wait early, and the test with the page's message."""
    page.wait_for_function(
        """([after, symbol, timeframe]) => {
            const d = document.getElementById("chart").dataset;
            const loaded = Number(d.loads || 0) > after && d.symbol === symbol && d.timeframe === timeframe;
            return loaded || !document.getElementById("banner").hidden;
        }""",
        arg=[after, symbol, timeframe],
        timeout=WAIT_MS,
    )
    banner = page.locator("#banner")
    assert banner.is_hidden(), f"the dashboard shows an error: {page.inner_text('#banner .banner-body')}"
    return chart_state(page)


def drawn_candle_pixels(page: Page) -> dict[str, Any]:
    """The chart's canvases, their sizes, and how many pixels carry the up and down candle colours."""
    result: dict[str, Any] = page.evaluate(
        """() => {
            const near = (r, g, b, [R, G, B]) =>
                Math.abs(r - R) < 10 && Math.abs(g - G) < 10 && Math.abs(b - B) < 10;
            const out = { canvases: [], up: 0, down: 0 };
            for (const canvas of document.querySelectorAll("#chart canvas")) {
                out.canvases.push([canvas.width, canvas.height]);
                if (!canvas.width || !canvas.height) continue;
                const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 0; i < data.length; i += 4) {
                    if (near(data[i], data[i + 1], data[i + 2], [38, 166, 154])) out.up += 1;
                    else if (near(data[i], data[i + 1], data[i + 2], [239, 83, 80])) out.down += 1;
                }
            }
            return out;
        }"""
    )
    return result


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def listed_symbols(admin: httpx.Client) -> set[str]:
    response = admin.get("/v1/symbols", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {item["symbol"] for item in response.json()["items"]}


def test_dashboard_end_to_end(
    page: Page, local_runner: LocalRunner, admin: httpx.Client, tmp_path: Path
) -> None:
    watched = Watched(page, local_runner)
    page.goto(local_runner.base_url + "/")

    # The key prompt: a wrong key is refused with the API's reason, the right one is taken.
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    page.fill("#key-input", "tsk_wrong")
    page.click("#key-submit")
    expect(page.locator("#key-error")).to_contain_text("refused")
    page.fill("#key-input", local_runner.admin_key)
    page.click("#key-submit")
    expect(dialog).to_be_hidden()
    assert page.evaluate("localStorage.getItem('trading.apiKey')") == local_runner.admin_key

    # The symbol list is the API's, and the filter narrows it.
    expected = listed_symbols(admin)
    items = page.locator("#symbol-list li[data-symbol]")
    expect(items).to_have_count(len(expected))
    assert set(items.evaluate_all("els => els.map(e => e.dataset.symbol)")) == expected
    page.fill("#symbol-filter", "goo")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-symbol", "GOOGL")
    page.fill("#symbol-filter", "")
    expect(items).to_have_count(len(expected))
    expect(page.locator("#status")).to_contain_text("Live")

    # A symbol with intraday bars: the chart draws candles and volume on real canvases.
    page.click("#symbol-list li[data-symbol='AAPL']")
    state = wait_for_load(page, 0, "AAPL", "1d")
    assert int(state["bars"]) == 60  # --days 60 of daily bars
    expect(page.locator("#chart-heading")).to_have_text("AAPL")
    expect(page.locator("#symbol-list li[data-symbol='AAPL']")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#chart-empty")).to_be_hidden()
    drawn = drawn_candle_pixels(page)
    assert drawn["canvases"], "lightweight-charts created no canvas"
    assert any(w > 300 and h > 200 for w, h in drawn["canvases"]), drawn["canvases"]
    assert drawn["up"] > 200 and drawn["down"] > 200, drawn

    # Another timeframe: 1h resampled from the 1m bars, as many as the API has.
    page.click("#timeframes button[data-tf='1h']")
    state = wait_for_load(page, int(state["loads"]), "AAPL", "1h")
    hourly = admin.get("/v1/bars/AAPL", params={"timeframe": "1h"}).json()["bars"]
    assert int(state["bars"]) == len(hourly) > 0
    expect(page.locator("#timeframes button[data-tf='1h']")).to_have_attribute("aria-pressed", "true")
    assert page.url.endswith("#/AAPL/1h")
    expect(page.locator("#chart-info")).to_contain_text("from 1m")

    # A bar ingested through the API shows up in the live feed and redraws the chart.
    last = datetime.fromisoformat(hourly[-1]["ts"].replace("Z", "+00:00"))
    new_ts = (last + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bar = {"ts": new_ts, "open": 500, "high": 505, "low": 499, "close": 504, "volume": 1234}
    response = admin.post("/v1/bars", json={"timeframe": "1m", "symbol": "AAPL", "bars": [bar]})
    assert response.status_code == 201, response.text
    entry = page.locator("#feed li[data-type='BarsIngested']").first
    expect(entry).to_contain_text("AAPL")
    expect(entry).to_contain_text("1 \u00d7 1m bars")  # "1 x 1m bars"
    state = wait_for_load(page, int(state["loads"]), "AAPL", "1h")
    assert int(state["bars"]) == len(hourly) + 1
    expect(page.locator("#status")).to_contain_text("last event")

    # A symbol registered elsewhere joins the list without a reload.
    assert admin.post("/v1/symbols", json={"symbol": "E2EUI"}).status_code in (200, 201)
    expect(page.locator("#symbol-list li[data-symbol='E2EUI']")).to_be_visible()

    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot))
    assert png_size(screenshot) == (1440, 900)
    assert screenshot.stat().st_size > 30_000, "the screenshot is nearly blank"

    # API errors reach the user with the problem's detail.
    page.evaluate("location.hash = '#/NOPE/1d'")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_contain_text("symbol NOPE is not registered")
    expect(page.locator("#chart-empty")).to_contain_text("NOPE")
    page.click("#banner-close")
    expect(page.locator("#banner")).to_be_hidden()

    watched.assert_clean()


def test_key_in_the_url_is_taken_once_and_the_layout_fits_a_phone(
    browser: Browser, local_runner: LocalRunner, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 400, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        watched = Watched(page, local_runner)
        page.goto(f"{local_runner.base_url}/?key={local_runner.admin_key}#/MSFT/1d")
        state = wait_for_load(page, 0, "MSFT", "1d")
        assert int(state["bars"]) == 60
        expect(page.locator("#key-dialog")).to_be_hidden()
        expect(page.locator("#symbol-list li[data-symbol='MSFT']")).to_be_in_viewport()  # scrolled to
        assert "key=" not in page.url  # not left in the address bar, history or bookmarks
        assert page.url.endswith("#/MSFT/1d")
        assert page.evaluate("localStorage.getItem('trading.apiKey')") == local_runner.admin_key

        # Nothing sticks out sideways on a narrow screen.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the viewport"
        box = page.locator("#chart").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 250

        # The stored key is used on the next visit without asking.
        page.goto(f"{local_runner.base_url}/#/MSFT/1h")
        wait_for_load(page, 0, "MSFT", "1h")
        expect(page.locator("#key-dialog")).to_be_hidden()
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        watched.assert_clean()
    finally:
        context.close()
