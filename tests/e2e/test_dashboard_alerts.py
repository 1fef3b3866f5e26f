"""The dashboard's Alerts section in headless Chromium, against the real local runner: an alert
created through the form sends the paper account's fills to a receiver on 127.0.0.1, its
deliveries are listed live, a failed one is retried from the page, and the alert is deleted."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_dashboard as dashboard
from tests.e2e.conftest import LocalRunner
from tests.e2e.test_dashboard import Watched, new_key, open_dashboard
from tests.fakes.receiver import Receiver
from trading_system.kernel.signing import sign

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e")]

# test_dashboard.py's browser fixtures: Debian's Chromium, headless, 127.0.0.1 only, a fresh
# context per test with every wait bounded.
playwright = dashboard.playwright
browser = dashboard.browser
page = dashboard.page

# Markup in a name: the page must show it as text (dom.js's `h` sets textContent, never HTML).
ALERT_NAME = '<img src=x onerror="window.__injected = 1"> e2e fills'


def wait_for_alerts(page: Page) -> None:
    page.wait_for_function("() => Number(document.getElementById('alerts').dataset.loads || 0) > 0")


def place_market_buy(trader: httpx.Client) -> dict[str, str]:
    response = trader.post("/v1/orders", json={"symbol": "AAPL", "side": "buy", "qty": "1"})
    assert response.status_code == 201, response.text
    order: dict[str, str] = response.json()
    assert order["status"] == "filled"
    return order


def test_an_alert_made_in_the_form_delivers_fills_and_a_failed_one_is_retried(
    page: Page,
    local_runner: LocalRunner,
    admin: httpx.Client,
) -> None:
    watched = Watched(page, local_runner)
    trader_key = new_key(admin, "trader")
    with Receiver() as receiver, local_runner.client(trader_key) as trader:
        open_dashboard(page, local_runner, trader_key)
        wait_for_alerts(page)
        expect(page.locator("#alerts-note")).to_be_hidden()
        form = page.locator("#alert-form")
        expect(form).to_be_visible()

        # A target the API refuses: its problem+json shows in the form and under the URL field.
        page.fill("#alert-name", ALERT_NAME)
        page.select_option("#alert-topic", "fills")
        page.fill("#alert-source", "paper")
        page.select_option("#alert-kind", "url")
        page.fill("#alert-url", "ftp://127.0.0.1/x")
        page.click("#alert-create")
        errors = page.locator("#alert-form-errors")
        expect(errors).to_be_visible()
        expect(errors).to_contain_text("422 Validation failed")
        expect(page.locator("#alert-url-field .field-error")).to_contain_text("http:// or https://")
        expect(page.locator("#alert-url")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#alert-issued")).to_be_hidden()

        # A URL alert on the paper account's fills: its signing key is shown once.
        page.fill("#alert-url", receiver.url("/fills?token=abc"))
        page.click("#alert-create")
        issued = page.locator("#alert-issued")
        expect(issued).to_be_visible()
        expect(issued).to_contain_text("not shown again")
        expect(errors).to_be_hidden()
        signing_key = page.inner_text("#alert-signing-key").strip()
        assert len(signing_key) >= 32
        listed = trader.get("/v1/alerts").json()
        alert = next(a for a in listed if a["name"] == ALERT_NAME)
        assert alert["signed"] is True and "signing_key" not in alert
        alert_id = alert["alert_id"]

        # Listed, the name as text, the target masked as the API masks it; its deliveries open.
        row = page.locator(f"#alert-list tr[data-alert-id='{alert_id}']")
        expect(row.locator("button[data-select-alert]")).to_have_text(ALERT_NAME)
        assert row.locator("img").count() == 0
        expect(row).to_contain_text("paper")
        expect(row).to_contain_text(alert["target"]["url"])
        expect(row).not_to_contain_text("token=abc")
        expect(row).to_have_attribute("aria-selected", "true")
        panel = page.locator("#alert-deliveries")
        expect(panel).to_be_visible()
        expect(panel.locator("h3")).to_have_text(f"Deliveries of {ALERT_NAME}")
        expect(page.locator("#delivery-list tr.none")).to_be_visible()
        page.click("#alert-issued-done")
        expect(issued).to_be_hidden()
        expect(page.locator("#alert-signing-key")).to_have_text("")

        # A fill on paper (a market buy through the API): delivered, signed with the key shown.
        place_market_buy(trader)
        rows = page.locator("#delivery-list tbody tr[data-delivery-id]")
        expect(rows).to_have_count(1)
        expect(rows.first.locator(".badge")).to_have_text("delivered")
        expect(rows.first).to_contain_text("AAPL")
        expect(rows.first.locator("button[data-retry-delivery]")).to_have_count(0)
        assert len(receiver.received) == 1
        sent = receiver.received[0]
        assert sent.path == "/fills?token=abc"
        assert sent.headers["x-alert-signature"] == sign(
            signing_key, sent.headers["x-alert-timestamp"], sent.body
        )

        # The receiver answers 500 to the next: listed as retrying, with its error and next attempt.
        receiver.answer(500)
        place_market_buy(trader)
        expect(rows).to_have_count(2)
        failing = rows.first  # newest first
        expect(failing.locator(".badge")).to_have_text("retrying")
        expect(failing).to_have_attribute("data-status", "retrying")
        cells = failing.locator("td")
        expect(cells.nth(3)).to_have_text("1")  # attempts
        expect(cells.nth(4)).to_contain_text("500")  # the last error
        expect(cells.nth(5)).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"))
        delivery_id = failing.get_attribute("data-delivery-id")
        assert len(receiver.received) == 2

        # The receiver recovers (200 again): Retry sends it now, and it is delivered.
        failing.locator("button[data-retry-delivery]").click()
        retried = page.locator(f"#delivery-list tr[data-delivery-id='{delivery_id}']")
        expect(retried.locator(".badge")).to_have_text("delivered")
        expect(retried.locator("button[data-retry-delivery]")).to_have_count(0)
        expect(page.locator("#alert-deliveries-status")).to_contain_text("delivered")
        assert len(receiver.received) == 3
        first_try, retry = receiver.received[1], receiver.received[2]
        assert retry.headers["x-alert-delivery"] == first_try.headers["x-alert-delivery"]
        assert page.evaluate("window.__injected") is None

        # Delete: the first press arms the button, the second deletes; the deliveries close.
        delete = row.locator("button[data-delete-alert]")
        delete.click()
        expect(delete).to_have_text("Confirm")
        assert trader.get(f"/v1/alerts/{alert_id}").status_code == 200
        delete.click()
        expect(row).to_have_count(0)
        expect(panel).to_be_hidden()
        assert trader.get(f"/v1/alerts/{alert_id}").status_code == 404

    expect(page.locator("#banner")).to_be_hidden()
    watched.assert_clean()


def test_a_viewer_sees_why_instead_of_the_alert_form(
    page: Page,
    local_runner: LocalRunner,
    admin: httpx.Client,
) -> None:
    watched = Watched(page, local_runner)
    viewer_key = new_key(admin, "viewer")
    with local_runner.client(viewer_key) as viewer:
        refused = viewer.get("/v1/alerts")
    assert refused.status_code == 403, refused.text

    open_dashboard(page, local_runner, viewer_key)
    wait_for_alerts(page)
    note = page.locator("#alerts-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("needs the trader role (this key has viewer)")
    expect(page.locator("#alert-form")).to_be_hidden()
    expect(page.locator("#alert-list")).to_be_hidden()
    expect(page.locator("#banner")).to_be_hidden()
    watched.assert_clean()
