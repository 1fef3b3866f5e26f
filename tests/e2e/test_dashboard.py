"""The dashboard in headless Chromium (Debian's /usr/bin/chromium, installed by `make browser`;
Playwright's own browser downloads are not used), against the real local runner."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

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
    # A fresh localStorage; en-US, so the numbers the tests expect are formatted one way.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
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


# ---- the trading section ----------------------------------------------------------------------

BUY_MARKER_RGB = (76, 154, 255)  # COLORS.buy in web/app.js


def money(value: str) -> str:
    """How the dashboard shows an amount: two decimals, thousands grouped (en-US)."""
    return f"{Decimal(value):,.2f}"


def quantity(value: str | Decimal) -> str:
    return f"{Decimal(value).normalize():,f}"


def new_key(admin: httpx.Client, role: str) -> str:
    response = admin.post("/v1/keys", json={"role": role, "label": f"e2e dashboard {role}"})
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


def open_dashboard(page: Page, runner: LocalRunner, key: str, view: str = "#/AAPL/1d") -> dict[str, str]:
    """The dashboard with `key`, once the chart and the trading section have both loaded and the
    stream has confirmed the trading channels (events sent before that would not reach the page)."""
    page.goto(f"{runner.base_url}/?key={key}{view}")
    symbol, timeframe = view.removeprefix("#/").split("/")
    state = wait_for_load(page, 0, symbol, timeframe)
    page.wait_for_function("() => Number(document.getElementById('trading').dataset.loads || 0) > 0")
    expect(page.locator("#status")).to_have_attribute(
        "data-channels", re.compile(r"\borders\b.*\bpositions\b")
    )
    return state


def marker_pixels(page: Page, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the chart's canvases carry a marker colour."""
    count: int = page.evaluate(
        """([R, G, B]) => {
            let count = 0;
            for (const canvas of document.querySelectorAll("#chart canvas")) {
                if (!canvas.width || !canvas.height) continue;
                const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 0; i < data.length; i += 4) {
                    const near = Math.abs(data[i] - R) < 12 && Math.abs(data[i + 1] - G) < 12;
                    if (near && Math.abs(data[i + 2] - B) < 12) count += 1;
                }
            }
            return count;
        }""",
        list(rgb),
    )
    return count


def symbol_fills(admin: httpx.Client, symbol: str) -> list[dict[str, Any]]:
    response = admin.get("/v1/fills", params={"symbol": symbol, "limit": 1000})
    assert response.status_code == 200, response.text
    fills: list[dict[str, Any]] = response.json()["fills"]
    return fills


def test_trading_section_follows_the_account_live(
    page: Page, local_runner: LocalRunner, admin: httpx.Client, tmp_path: Path
) -> None:
    watched = Watched(page, local_runner)
    account = admin.get("/v1/account").json()
    positions = {p["symbol"]: p for p in admin.get("/v1/positions").json()}
    open_orders = admin.get("/v1/orders", params={"status": "open"}).json()["orders"]
    # What `trading demo seed` made: two filled market buys and one resting limit order.
    assert {"AAPL", "MSFT"} <= positions.keys()
    resting = next(o for o in open_orders if o["client_order_id"] == "demo-AMZN-limit")
    aapl_fills = symbol_fills(admin, "AAPL")
    assert aapl_fills, "the demo seed bought AAPL"

    open_dashboard(page, local_runner, local_runner.admin_key)

    # The account summary, the positions and the open orders, as the API has them.
    expect(page.locator("#trading-account")).to_contain_text(account["account_id"])
    for field in ("equity", "cash", "buying_power"):
        expect(page.locator(f"#account [data-field='{field}'] dd")).to_have_text(money(account[field]))
    day_pl = page.locator("#account [data-field='day_pl'] dd")
    expect(day_pl).to_have_attribute("title", account["day_pl"])  # the exact value, as received
    sign = "up" if Decimal(account["day_pl"]) > 0 else "down" if Decimal(account["day_pl"]) < 0 else "flat"
    expect(day_pl).to_have_class(sign)
    rows = page.locator("#positions tbody tr[data-symbol]")
    expect(rows).to_have_count(len(positions))
    assert set(rows.evaluate_all("els => els.map(e => e.dataset.symbol)")) == set(positions)
    for symbol, position in positions.items():
        expect(page.locator(f"#positions tr[data-symbol='{symbol}'] td").nth(1)).to_have_text(
            quantity(position["qty"])
        )
    order_row = page.locator(f"#open-orders tr[data-order-id='{resting['id']}']")
    expect(order_row).to_contain_text("AMZN")
    expect(order_row).to_contain_text("limit")
    expect(order_row.locator("td").nth(4)).to_have_text(f"{Decimal(resting['limit_price']):,.2f}")
    expect(page.locator("#fills tbody tr[data-fill-id]").first).to_be_visible()

    # The AAPL fills are marked on the chart: buys below the bar, in the buy colour.
    assert chart_state(page)["markers"] == str(len(aapl_fills))
    assert marker_pixels(page, BUY_MARKER_RGB) > 20, "no buy marker drawn on the chart"

    # A market order placed elsewhere (a trader's key, through the API) reaches the panels live.
    page.evaluate("window.__sameDocument = true")  # gone if the page reloaded
    filled_in_feed = page.locator("#feed li[data-type='OrderFilled']")
    feed_fills = filled_in_feed.count()
    trader = local_runner.client(new_key(admin, "trader"))
    with trader:
        response = trader.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "5"})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "filled"
    newest = admin.get("/v1/fills", params={"limit": 1}).json()["fills"][0]
    assert newest["order_id"] == response.json()["id"]
    expect(page.locator(f"#fills tr[data-fill-id='{newest['fill_id']}']")).to_contain_text("AAPL")
    expect(page.locator("#positions tr[data-symbol='AAPL'] td").nth(1)).to_have_text(
        quantity(Decimal(positions["AAPL"]["qty"]) + 5)
    )
    expect(page.locator("#account [data-field='cash'] dd")).to_have_text(
        money(admin.get("/v1/account").json()["cash"])
    )
    page.wait_for_function(
        "(n) => document.getElementById('chart').dataset.markers === String(n)", arg=len(aapl_fills) + 1
    )
    # The fill came on `events` (the feed) and on `orders` (the panels): the feed shows it once.
    expect(filled_in_feed).to_have_count(feed_fills + 1)
    assert page.evaluate("window.__sameDocument") is True

    page.locator("#trading").scroll_into_view_if_needed()
    screenshot = tmp_path / "trading.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 30_000, "the screenshot is nearly blank"

    # Cancel, with an admin key in the dashboard: the order leaves the open orders.
    order_row.locator("button[data-cancel-order]").click()
    expect(order_row).to_have_count(0)
    assert admin.get(f"/v1/orders/{resting['id']}").json()["status"] == "canceled"
    expect(page.locator("#banner")).to_be_hidden()

    watched.assert_clean()


def test_a_viewer_sees_why_it_cannot_cancel(
    page: Page, local_runner: LocalRunner, admin: httpx.Client
) -> None:
    watched = Watched(page, local_runner)
    positions = admin.get("/v1/positions").json()
    last = next((p["current_price"] for p in positions if p["symbol"] == "MSFT"), None) or "100"
    limit = (Decimal(last) / 2).quantize(Decimal("0.01"))  # far below the market: it rests
    trader = local_runner.client(new_key(admin, "trader"))
    viewer_key = new_key(admin, "viewer")
    with trader, local_runner.client(viewer_key) as viewer:
        placed = trader.post(
            "/v1/orders",
            json={"symbol": "MSFT", "side": "buy", "type": "limit", "time_in_force": "gtc",
                  "qty": "3", "limit_price": str(limit)},
        )  # fmt: skip
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        refused = viewer.delete(f"/v1/orders/{order_id}")
        assert refused.status_code == 403, refused.text

        open_dashboard(page, local_runner, viewer_key, "#/MSFT/1d")
        row = page.locator(f"#open-orders tr[data-order-id='{order_id}']")
        row.locator("button[data-cancel-order]").click()

        # The API's reason reaches the user; the order stays, with its button usable again.
        banner = page.locator("#banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("403")
        expect(banner).to_contain_text(refused.json()["detail"])
        expect(row.locator("button[data-cancel-order]")).to_be_enabled()
        assert admin.get(f"/v1/orders/{order_id}").json()["status"] == "accepted"

        # Cancelled elsewhere: the row goes without a reload, through the stream.
        assert trader.delete(f"/v1/orders/{order_id}").status_code == 200
        expect(row).to_have_count(0)
    watched.assert_clean()


def test_without_the_account_the_section_says_why(page: Page, local_runner: LocalRunner) -> None:
    """The trading reads go to an account that does not exist: the section shows the API's 404
    message instead of empty or broken panels, and the rest of the dashboard works."""
    watched = Watched(page, local_runner)

    def to_missing_account(route: Route) -> None:
        url = route.request.url
        route.continue_(url=f"{url}{'&' if '?' in url else '?'}account_id=e2e-missing")

    page.route(re.compile(r"/v1/(account|positions|orders|fills)(\?|$)"), to_missing_account)
    open_dashboard(page, local_runner, local_runner.admin_key)
    message = page.locator("#trading-message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("No trading account")
    expect(message).to_contain_text("account e2e-missing does not exist")
    expect(page.locator("#trading-body")).to_be_hidden()
    expect(page.locator("#banner")).to_be_hidden()
    assert chart_state(page)["markers"] == "0"
    watched.assert_clean()


# ---- the schedules section --------------------------------------------------------------------


def record_failed_runs(runner: LocalRunner, function: str, error: str, attempts: int) -> None:
    """`attempts` failed attempts of one firing of `function`, written to the runner's write
    store as its scheduler writes them (the same adapter, the same SQLite file)."""
    from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
    from trading_system.adapters.schedule_runs import DocumentScheduleRuns
    from trading_system.kernel.clock import newest_first_id
    from trading_system.kernel.schedule_runs import RunStatus, ScheduleRun

    store = SqliteDocumentStore(runner.data_dir / "trading.db")
    try:
        runs = DocumentScheduleRuns(store)
        for attempt in range(1, attempts + 1):
            at = datetime.now(UTC)
            runs.record(
                ScheduleRun(
                    run_id=newest_first_id("run"),
                    function=function,
                    command="CompactLake",
                    invocation="e2e-firing",
                    attempt=attempt,
                    started_at=at,
                    finished_at=at,
                    status=RunStatus.FAILED,
                    error=error,
                )
            )
    finally:
        store.close()


def test_a_failed_schedule_stands_out_in_the_schedules_section(
    page: Page, local_runner: LocalRunner, admin: httpx.Client
) -> None:
    watched = Watched(page, local_runner)
    # The nightly compaction (00:30 UTC: the runner's own scheduler will not run it meanwhile).
    error = "OSError: e2e: the lake is unreachable"
    record_failed_runs(local_runner, "compact_lake_nightly", error, attempts=3)
    listed = {s["name"]: s for s in admin.get("/v1/schedules").json()}
    assert listed["compact_lake_nightly"]["status"] == "failing"
    assert listed["compact_lake_nightly"]["failures_since_success"] == 3

    open_dashboard(page, local_runner, local_runner.admin_key)
    row = page.locator("#schedule-list tr[data-schedule='compact_lake_nightly']")
    expect(row).to_have_attribute("data-status", "failing", timeout=WAIT_MS)
    expect(row).to_have_class(re.compile(r"\bfailing\b"))
    expect(row.locator(".badge")).to_have_text("failing")
    expect(row.locator("td.error-text")).to_have_text(error)
    expect(row).to_contain_text("attempt 3")
    expect(row).to_contain_text("cron(30 0 * * ? *)")
    expect(page.locator("#schedule-list-count")).to_contain_text("failing")
    # Every schedule of the catalog is listed, the failing ones first.
    statuses = page.locator("#schedule-list tbody tr").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert set(listed) == set(page.locator("#schedule-list tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.schedule)"
    ))  # fmt: skip
    assert statuses == sorted(statuses, key=lambda s: s != "failing"), statuses
    # The failing row looks different from a healthy one.
    failing_bg = row.evaluate("r => getComputedStyle(r).backgroundColor")
    other = page.locator("#schedule-list tr:not(.failing)").first
    assert failing_bg != other.evaluate("r => getComputedStyle(r).backgroundColor")

    # A key below admin sees why, not a table.
    viewer_key = new_key(admin, "viewer")
    page.goto(f"{local_runner.base_url}/?key={viewer_key}#/AAPL/1d")
    page.wait_for_function("() => Number(document.getElementById('schedules').dataset.loads || 0) > 0")
    expect(page.locator("#schedules-note")).to_contain_text("needs the admin role (this key has viewer)")
    expect(page.locator("#schedule-list")).to_be_hidden()
    watched.assert_clean()


# ---- the backtests section --------------------------------------------------------------------

BACKTEST_SYMBOLS = ("BTGOOG", "BTHALF")  # GOOG's daily bars, and the same at half the price


@pytest.fixture(scope="module")
def backtest_bars(local_runner: LocalRunner) -> tuple[str, ...]:
    """backtesting.py's GOOG daily bars (2004-2013) under two symbols of their own, ingested once."""
    from backtesting.test import GOOG

    with local_runner.client(local_runner.admin_key) as admin:
        for symbol, scale in zip(BACKTEST_SYMBOLS, (1.0, 0.5), strict=True):
            assert admin.post("/v1/symbols", json={"symbol": symbol}).status_code in (200, 201)
            bars = [
                {
                    "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "open": round(row.Open * scale, 4),
                    "high": round(row.High * scale, 4),
                    "low": round(row.Low * scale, 4),
                    "close": round(row.Close * scale, 4),
                    "volume": float(row.Volume),
                }
                for ts, row in GOOG.iterrows()
            ]
            response = admin.post("/v1/bars", json={"timeframe": "1d", "symbol": symbol, "bars": bars})
            assert response.status_code == 201, response.text
    return BACKTEST_SYMBOLS


def run_backtest(client: httpx.Client, symbols: list[str], **params: int) -> dict[str, Any]:
    """A completed sma_cross backtest through the API (the local runtime runs it at once)."""
    body = {"strategy": "sma_cross", "params": params, "symbols": symbols, "commission": 0.002}
    response = client.post("/v1/backtests", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = client.get(f"/v1/backtests/{response.json()['backtest_id']}").json()
    assert job["status"] == "completed", job
    return job


def open_backtests(page: Page, runner: LocalRunner, key: str, symbol: str = BACKTEST_SYMBOLS[0]) -> None:
    """The dashboard with `key`, once the backtests section has read its list and the strategies."""
    page.goto(f"{runner.base_url}/?key={key}#/{symbol}/1d")
    page.wait_for_function(
        """() => Number(document.getElementById('backtests').dataset.loads || 0) > 0
                 && Number(document.getElementById('backtest-form').dataset.strategies || 0) > 0"""
    )
    expect(page.locator("#backtests-message")).to_be_hidden()


def wait_for_backtest(page: Page, backtest_id: str | None = None, after: int = 0) -> dict[str, str]:
    """Wait until the detail has finished showing a backtest (that one, if given); its data-*."""
    page.wait_for_function(
        """([id, after]) => {
            const d = document.getElementById("backtest-detail").dataset;
            return Number(d.loads || 0) > after && (!id || d.backtestId === id);
        }""",
        arg=[backtest_id, after],
    )
    detail: dict[str, str] = page.eval_on_selector("#backtest-detail", "el => ({...el.dataset})")
    return detail


def stat_text(value: float | int | None, kind: str = "number") -> str:
    """How the dashboard shows a statistic (en-US): two decimals, a count whole, null as an en dash."""
    if value is None:
        return "\u2013"
    return f"{value:,.0f}" if kind == "count" else f"{value:,.2f}"


def canvas_sizes(page: Page, selector: str) -> list[list[int]]:
    sizes: list[list[int]] = page.eval_on_selector_all(
        f"{selector} canvas", "els => els.map(c => [c.width, c.height])"
    )
    return sizes


def colour_pixels(page: Page, selector: str, rgb: tuple[int, int, int]) -> int:
    count: int = page.evaluate(
        """([selector, [R, G, B]]) => {
            let count = 0;
            for (const canvas of document.querySelectorAll(`${selector} canvas`)) {
                if (!canvas.width || !canvas.height) continue;
                const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 0; i < data.length; i += 4) {
                    const near = Math.abs(data[i] - R) < 12 && Math.abs(data[i + 1] - G) < 12;
                    if (near && Math.abs(data[i + 2] - B) < 12) count += 1;
                }
            }
            return count;
        }""",
        [selector, list(rgb)],
    )
    return count


def test_a_backtest_runs_from_the_form_and_shows_its_results(
    page: Page, local_runner: LocalRunner, admin: httpx.Client, backtest_bars: tuple[str, ...]
) -> None:
    watched = Watched(page, local_runner)
    symbol = backtest_bars[0]
    strategies = {s["name"]: s for s in admin.get("/v1/strategies").json()}
    open_backtests(page, local_runner, local_runner.admin_key, symbol)

    # The picker is the API's list; sma_cross's inputs come from its schema, with its defaults.
    options = page.locator("#bt-strategy option")
    expect(options).to_have_count(len(strategies))
    assert set(options.evaluate_all("els => els.map(e => e.value)")) == set(strategies)
    page.select_option("#bt-strategy", "sma_cross")
    schema = strategies["sma_cross"]["params"]["properties"]
    for name, spec in schema.items():
        expect(page.locator(f"#bt-param-{name}")).to_have_value(str(spec["default"]))
    expect(page.locator("#bt-symbols")).to_have_value(symbol)  # the charted symbol

    # A parameter the API refuses: its 422 is shown by the form, naming the field, and by the field.
    page.fill("#bt-param-n1", "0")
    page.fill("#bt-commission", "0.002")
    page.click("#backtest-run")
    errors = page.locator("#backtest-form-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("422")
    expect(errors).to_contain_text("params.n1: Input should be greater than or equal to 1")
    field = page.locator("#backtest-form [data-field='params.n1']")
    expect(field.locator(".field-error")).to_have_text("Input should be greater than or equal to 1")
    expect(page.locator("#bt-param-n1")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#backtest-detail")).to_be_hidden()

    # Fixed, it runs; the result is selected and shown.
    page.fill("#bt-param-n1", "10")
    page.click("#backtest-run")
    detail = wait_for_backtest(page)
    expect(errors).to_be_hidden()
    backtest_id = detail["backtestId"]
    job = admin.get(f"/v1/backtests/{backtest_id}").json()
    assert job["status"] == detail["status"] == "completed"
    assert job["params"] == {"n1": 10, "n2": 20} and job["request"]["symbols"] == [symbol]
    stats = job["outcome"]["stats"]
    run_status = page.locator("#backtest-run-status")
    expect(run_status).to_contain_text(f"{stat_text(stats['trades'], 'count')} trades")
    row = page.locator(f"#backtest-list tr[data-backtest-id='{backtest_id}']")
    expect(row).to_have_attribute("aria-selected", "true")
    expect(row.locator("td").nth(5)).to_have_text(stat_text(stats["return_pct"]))

    # The statistics, labelled as backtesting.py labels them.
    stat_rows = page.locator("#backtest-stats tr")
    return_row = page.locator("#backtest-stats tr[data-stat='return_pct']")
    expect(return_row.locator("th")).to_have_text("Return [%]")
    expect(return_row.locator("td")).to_have_text(stat_text(stats["return_pct"]))
    sharpe_row = page.locator("#backtest-stats tr[data-stat='sharpe_ratio']")
    expect(sharpe_row.locator("th")).to_have_text("Sharpe Ratio")
    expect(sharpe_row.locator("td")).to_have_text(stat_text(stats["sharpe_ratio"]))
    expect(page.locator("#backtest-stats tr[data-stat='trades'] td")).to_have_text(str(stats["trades"]))
    assert stat_rows.count() >= len(stats)

    # The equity and drawdown curves, drawn.
    curve = admin.get(f"/v1/backtests/{backtest_id}/equity", params={"points": 2000}).json()
    page.wait_for_function(
        "(n) => document.getElementById('backtest-equity').dataset.points === String(n)", arg=len(curve)
    )
    sizes = canvas_sizes(page, "#backtest-equity")
    assert any(w > 300 and h > 150 for w, h in sizes), sizes  # the equity pane, over the drawdown
    assert colour_pixels(page, "#backtest-equity", BUY_MARKER_RGB) > 100, "no equity line drawn"

    # Every trade in the table, and marked (entry and exit) on the symbol's candles.
    trades = admin.get(f"/v1/backtests/{backtest_id}/trades", params={"limit": 10_000}).json()
    assert len(trades) == stats["trades"] > 10
    expect(page.locator("#backtest-trades tbody tr[data-trade-index]")).to_have_count(len(trades))
    candles = page.locator("#backtest-candles")
    expect(candles).to_have_attribute("data-symbol", symbol)
    expect(candles).to_have_attribute("data-markers", str(2 * len(trades)))
    assert int(candles.get_attribute("data-bars") or 0) == job["outcome"]["bars"]
    assert colour_pixels(page, "#backtest-candles", BUY_MARKER_RGB) > 20, "no entry marker drawn"
    # A trade's entry time scrolls the candles to it.
    page.locator("#backtest-trades button[data-trade-index='0']").click()
    expect(page.locator("#backtest-trades tbody tr").first).to_contain_text(trades[0]["entry_time"][:10])

    watched.assert_clean()


def test_backtests_compare_side_by_side_and_delete(
    page: Page, local_runner: LocalRunner, admin: httpx.Client, backtest_bars: tuple[str, ...]
) -> None:
    watched = Watched(page, local_runner)
    with local_runner.client(new_key(admin, "trader")) as trader:
        trader_key = str(trader.headers["x-api-key"])
        single = run_backtest(trader, [backtest_bars[0]], n1=5, n2=30)
        portfolio = run_backtest(trader, list(backtest_bars))
    open_backtests(page, local_runner, trader_key)
    expect(page.locator("#backtests-note")).to_be_hidden()

    # Tick two: the comparison puts their statistics side by side, in the list's order.
    compare = page.locator("#backtest-compare-button")
    expect(compare).to_be_disabled()
    for job in (single, portfolio):
        page.check(f"#backtest-list input[data-compare-backtest='{job['backtest_id']}']")
    expect(compare).to_be_enabled()
    compare.click()
    table = page.locator("#backtest-compare-table")
    expect(table).to_be_visible()
    columns = table.locator("thead th[data-backtest-id]")
    expect(columns).to_have_count(2)
    assert columns.evaluate_all("els => els.map(e => e.dataset.backtestId)") == [
        portfolio["backtest_id"],  # newest first, as listed
        single["backtest_id"],
    ]
    cells = table.locator("tr[data-stat='return_pct'] td")
    expect(cells).to_have_text([stat_text(j["outcome"]["stats"]["return_pct"]) for j in (portfolio, single)])
    expect(table.locator("tr[data-stat='sharpe_ratio'] th")).to_have_text("Sharpe Ratio")

    # A portfolio's trades are marked per symbol: the other symbol's on its own candles.
    page.locator(f"#backtest-list button[data-select-backtest='{portfolio['backtest_id']}']").click()
    wait_for_backtest(page, portfolio["backtest_id"])
    trades = admin.get(f"/v1/backtests/{portfolio['backtest_id']}/trades", params={"limit": 10_000}).json()
    candles = page.locator("#backtest-candles")
    loads = int(candles.get_attribute("data-loads") or 0)
    page.select_option("#backtest-symbol", backtest_bars[1])
    page.wait_for_function(
        "(n) => Number(document.getElementById('backtest-candles').dataset.loads) > n", arg=loads
    )
    expect(candles).to_have_attribute("data-symbol", backtest_bars[1])
    own = [t for t in trades if t["symbol"] == backtest_bars[1]]
    expect(candles).to_have_attribute("data-markers", str(2 * len(own)))
    expect(page.locator("#backtest-trades tbody tr[data-trade-index]")).to_have_count(len(trades))

    # Delete, with a trader's key: a second press confirms; it leaves the list, the comparison
    # and the detail, and the API.
    row = page.locator(f"#backtest-list tr[data-backtest-id='{portfolio['backtest_id']}']")
    delete = row.locator("button[data-delete-backtest]")
    delete.click()
    expect(delete).to_have_text("Confirm")
    assert admin.get(f"/v1/backtests/{portfolio['backtest_id']}").status_code == 200
    delete.click()
    expect(row).to_have_count(0)
    expect(page.locator("#backtest-detail")).to_be_hidden()
    expect(page.locator("#backtest-compare")).to_be_hidden()
    assert admin.get(f"/v1/backtests/{portfolio['backtest_id']}").status_code == 404
    expect(page.locator(f"#backtest-list tr[data-backtest-id='{single['backtest_id']}']")).to_be_visible()
    expect(page.locator("#banner")).to_be_hidden()
    watched.assert_clean()


def test_a_viewer_cannot_run_or_delete_backtests_and_sees_why(
    page: Page, local_runner: LocalRunner, admin: httpx.Client, backtest_bars: tuple[str, ...]
) -> None:
    watched = Watched(page, local_runner)
    job = run_backtest(admin, [backtest_bars[0]], n1=1500, n2=2100)  # too slow to cross: no trade
    assert job["outcome"]["stats"]["trades"] == 0 and job["outcome"]["stats"]["sharpe_ratio"] is None
    viewer_key = new_key(admin, "viewer")
    with local_runner.client(viewer_key) as viewer:
        refused = viewer.delete(f"/v1/backtests/{job['backtest_id']}")
        me = viewer.get("/v1/me").json()
    assert refused.status_code == 403, refused.text
    assert me["role"] == "viewer"

    open_backtests(page, local_runner, viewer_key)
    note = page.locator("#backtests-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("needs the trader role (this key has viewer)")
    expect(note).to_have_attribute("title", f"key {me['key_id']} has viewer")  # from GET /v1/me
    row = page.locator(f"#backtest-list tr[data-backtest-id='{job['backtest_id']}']")
    delete = row.locator("button[data-delete-backtest]")
    expect(delete).to_be_disabled()
    expect(delete).to_have_attribute("title", re.compile("trader role"))
    expect(page.locator("#backtest-run")).to_be_disabled()
    expect(page.locator("#backtest-form-note")).to_contain_text("Running backtests needs the trader role")

    # Reading is a viewer's right: the backtest opens with its statistics, those without a value
    # (no trade, no Sharpe ratio) as a dash.
    page.locator(f"#backtest-list button[data-select-backtest='{job['backtest_id']}']").click()
    wait_for_backtest(page, job["backtest_id"])
    expect(page.locator("#backtest-stats tr[data-stat='return_pct'] td")).to_have_text(
        stat_text(job["outcome"]["stats"]["return_pct"])
    )
    expect(page.locator("#backtest-stats tr[data-stat='sharpe_ratio'] td")).to_have_text("\u2013")
    expect(page.locator("#backtest-stats tr[data-stat='trades'] td")).to_have_text("0")
    expect(page.locator("#backtest-trades tbody tr.none")).to_have_text("No trades.")
    expect(page.locator("#backtest-candles")).to_have_attribute("data-markers", "0")
    assert admin.get(f"/v1/backtests/{job['backtest_id']}").status_code == 200
    watched.assert_clean()


# ---- parameter sweeps ---------------------------------------------------------------------------


def sweep_cells(page: Page) -> dict[tuple[str, str], float | None]:
    """The heat map's cells as the page keeps them (JavaScript prints a number so that it reads
    back as the same double)."""
    cells: list[list[str]] = page.eval_on_selector_all(
        "#sweep-heatmap td", "els => els.map(td => [td.dataset.x, td.dataset.y, td.dataset.value])"
    )
    return {(x, y): float(value) if value else None for x, y, value in cells}


def expected_cells(heat: dict[str, Any]) -> dict[tuple[str, str], float | None]:
    return {
        (str(x), str(y)): heat["values"][j][i]
        for j, y in enumerate(heat["y_values"])
        for i, x in enumerate(heat["x_values"])
    }


def test_a_sweep_shows_its_heat_map_and_ranking_by_the_statistic_picked(
    page: Page, local_runner: LocalRunner, admin: httpx.Client, backtest_bars: tuple[str, ...]
) -> None:
    body = {
        "strategy": "sma_cross",
        "symbols": list(backtest_bars),
        "commission": 0.002,
        "sweep": {"grid": {"n1": [5, 10, 20], "n2": [30, 60]}, "rank_by": "sharpe_ratio"},
    }
    response = admin.post("/v1/sweeps", json=body)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["sweep_id"]
    assert admin.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "completed"

    open_backtests(page, local_runner, local_runner.admin_key)
    row = page.locator(f"#sweep-list tr[data-sweep-id='{sweep_id}']")
    expect(row).to_contain_text("completed")
    page.click(f"[data-select-sweep='{sweep_id}']")
    page.wait_for_function("() => Number(document.getElementById('sweep-detail').dataset.loads || 0) > 0")
    heat = admin.get(f"/v1/sweeps/{sweep_id}/heatmap", params={"x": "n1", "y": "n2"}).json()
    cells = sweep_cells(page)
    assert len(cells) == 6 and cells == expected_cells(heat)
    expect(page.locator("#sweep-ranking tbody tr")).to_have_count(6)

    # another statistic: the map and the ranking follow
    loads = int(page.eval_on_selector("#sweep-detail", "el => el.dataset.loads"))
    page.select_option("#sweep-stat", "return_pct")
    page.wait_for_function(
        "n => Number(document.getElementById('sweep-detail').dataset.loads || 0) > n", arg=loads
    )
    by_return = admin.get(
        f"/v1/sweeps/{sweep_id}/heatmap", params={"x": "n1", "y": "n2", "rank_by": "return_pct"}
    ).json()
    assert sweep_cells(page) == expected_cells(by_return) != cells
    ranking = admin.get(f"/v1/sweeps/{sweep_id}/ranking", params={"rank_by": "return_pct"}).json()
    first = page.locator("#sweep-ranking tbody tr").first
    expect(first).to_contain_text(f"n1={ranking[0]['values']['n1']}, n2={ranking[0]['values']['n2']}")

    # across and down swapped: the same values, transposed
    loads = int(page.eval_on_selector("#sweep-detail", "el => el.dataset.loads"))
    page.select_option("#sweep-x", "n2")
    page.wait_for_function(
        "n => Number(document.getElementById('sweep-detail').dataset.loads || 0) > n", arg=loads
    )
    expect(page.locator("#sweep-map-note")).to_contain_text("two different parameters")


# ---- prices with the decimals their symbol trades in --------------------------------------------

FX_SYMBOL = "EURUSD"


def fx_bars(start: datetime, n: int) -> list[dict[str, Any]]:
    """Daily bars of a currency pair around 1.08345, five decimals each, ending at 1.08345."""
    closes = [Decimal("1.08345") + Decimal(k % 7 - 3) * Decimal("0.00013") for k in range(n - 1)]
    closes.append(Decimal("1.08345"))
    bars = []
    for i, close in enumerate(closes):
        open_ = close - Decimal("0.00021")
        bars.append(
            {
                "ts": (start + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "open": float(open_),
                "high": float(close + Decimal("0.00037")),
                "low": float(open_ - Decimal("0.00029")),
                "close": float(close),
                "volume": 1_000_000,
            }
        )
    return bars


def test_prices_show_as_many_decimals_as_their_symbol_trades_in(
    page: Page, local_runner: LocalRunner, admin: httpx.Client
) -> None:
    """A currency pair at 1.08345 reads 1.08345 in the chart's legend, the positions and the
    fills (not 1.08), while an equity next to it keeps two decimals."""
    watched = Watched(page, local_runner)
    registered = admin.post("/v1/symbols", json={"symbol": FX_SYMBOL, "asset_class": "fx"})
    assert registered.status_code in (200, 201), registered.text
    bars = fx_bars(datetime(2026, 1, 5, tzinfo=UTC), 30)
    ingested = admin.post("/v1/bars", json={"timeframe": "1d", "symbol": FX_SYMBOL, "bars": bars})
    assert ingested.status_code == 201, ingested.text
    bought = admin.post("/v1/orders", json={"symbol": FX_SYMBOL, "side": "buy", "qty": "1000"})
    assert bought.status_code == 201, bought.text
    assert bought.json()["status"] == "filled"
    fill = symbol_fills(admin, FX_SYMBOL)[0]
    assert fill["price"] == "1.08345"
    positions = {p["symbol"]: p for p in admin.get("/v1/positions").json()}
    equity_price = positions["AAPL"]["current_price"]

    open_dashboard(page, local_runner, local_runner.admin_key, view=f"#/{FX_SYMBOL}/1d")

    # The chart's legend: the last bar, O H L C with five decimals.
    last = bars[-1]
    legend = page.locator("#legend")
    expect(legend).to_contain_text(f"C{Decimal(str(last['close'])):.5f}")
    expect(legend).to_contain_text(f"H{Decimal(str(last['high'])):.5f}")
    # The positions: the pair's price and average entry with five decimals, the equity's with two.
    fx_row = page.locator(f"#positions tr[data-symbol='{FX_SYMBOL}'] td")
    expect(fx_row.nth(2)).to_have_text("1.08345")  # average entry
    expect(fx_row.nth(3)).to_have_text("1.08345")  # the latest price
    equity_row = page.locator("#positions tr[data-symbol='AAPL'] td")
    expect(equity_row.nth(3)).to_have_text(f"{Decimal(equity_price):,.2f}")
    # The fill, in the table and on the chart's marker.
    expect(page.locator(f"#fills tr[data-fill-id='{fill['fill_id']}'] td").nth(4)).to_have_text("1.08345")
    watched.assert_clean()
