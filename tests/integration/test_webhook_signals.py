"""Webhooks in that raise signals, over the local app's HTTP API: a TradingView alert posted to a
signal webhook becomes a signal of the user's external scanner, once per symbol and bar, and from
there goes where every scanner's signals go (here: an alert out to Slack). A payload that maps to
no signal is a 422 naming the payload's field; a webhook takes its `rate_limit` alerts a minute,
then a 429 with Retry-After; neither raises anything. The same signals can be raised with an API
key at POST /v1/scanners/{id}/signals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import user_key
from tests.fakes.clock import MovableClock
from tests.fakes.receiver import Receiver
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import Settings
from trading_system.kernel import kinds
from trading_system.kernel.documents import scan_all
from trading_system.kernel.principal import FIRST_ADMIN, Role

# A Friday afternoon in New York, a minute into its minute: the alerts below are of this day.
NOW = datetime(2026, 12, 4, 15, 10, 1, tzinfo=UTC)
SIGNAL = {"ts": "{{time}}", "values": {"close": "{{close}}"}}
ALERT = {"ticker": "MSFT", "time": "2026-12-04T15:10:00Z", "close": 101.5}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(NOW)


@pytest.fixture
def container(settings: Settings, clock: MovableClock) -> Container:
    return bootstrap(settings, clock=clock)


@pytest.fixture
def admin(container: Container) -> dict[str, str]:
    return user_key(container, Role.ADMIN, FIRST_ADMIN)


@pytest.fixture
def alice(client: TestClient, container: Container, admin: dict[str, str]) -> dict[str, str]:
    for symbol in ("MSFT", "AAPL"):
        ok(client.post("/v1/symbols", json={"symbol": symbol}, headers=admin), 201)
    return user_key(container, Role.TRADER, "alice")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def external_scanner(client: TestClient, headers: dict[str, str], **definition: Any) -> str:
    body = {"name": "tv breakouts", "kind": "external", "timeframe": "1h", **definition}
    scanner = ok(client.post("/v1/scanners", json=body, headers=headers), 201)
    assert scanner["kind"] == "external" and scanner["rules"] == [] and scanner["run_on_refresh"] is False
    scanner_id: str = scanner["scanner_id"]
    return scanner_id


def signal_webhook(client: TestClient, headers: dict[str, str], scanner_id: str, **draft: Any) -> Any:
    body = {"name": "tv", "scanner_id": scanner_id, "signal": SIGNAL, **draft}
    return ok(client.post("/v1/webhooks", json=body, headers=headers), 201)


def signals(client: TestClient, headers: dict[str, str], scanner_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(f"/v1/signals?scanner_id={scanner_id}", headers=headers))
    return found


def test_an_alert_raises_one_signal_per_bar_which_alerts_out_then_send(
    client: TestClient, alice: dict[str, str], container: Container, clock: MovableClock
) -> None:
    scanner_id = external_scanner(client, alice, universe={"type": "symbols", "symbols": ["MSFT"]})
    hook = signal_webhook(client, alice, scanner_id)
    assert hook["draft"]["order"] is None and hook["draft"]["account_id"] is None
    url = f"{hook['url']}?secret={hook['secret']}"
    with Receiver() as slack:
        target = {"kind": "slack", "url": slack.url("/slack")}
        alert = {"name": "tv", "topic": "signals", "source_id": scanner_id, "target": target}
        ok(client.post("/v1/alerts", json=alert, headers=alice), 201)

        first = ok(client.post(url, json=ALERT), 201)
        assert first["order"] is None and first["replayed"] is False
        # The hourly bar the alert's moment falls in (MSFT has no exchange: the UTC grid).
        assert first["signal"] == {
            "signal_id": f"{scanner_id}:MSFT:2026-12-04T15:00:00+00:00",
            "scanner_id": scanner_id,
            "symbol": "MSFT",
            "timeframe": "1h",
            "ts": "2026-12-04T15:00:00Z",
            "values": {"close": 101.5},
            "new": True,
        }
        [listed] = signals(client, alice, scanner_id)
        assert (listed["symbol"], listed["name"], listed["values"]) == (
            "MSFT",
            "tv breakouts",
            {"close": 101.5},
        )
        [sent] = slack.received
        assert json.loads(sent.body)["text"].startswith("tv: tv breakouts signalled MSFT (1h)")

        # Re-sent, the secret in the body this time; then another alert in the same bar: each is
        # the signal already raised, and nothing more is sent.
        again = ok(client.post(hook["url"], content=json.dumps({**ALERT, "secret": hook["secret"]})), 201)
        assert again["replayed"] is True and again["signal"]["signal_id"] == first["signal"]["signal_id"]
        earlier = ok(client.post(url, json={**ALERT, "time": "2026-12-04T15:00:00Z", "close": 99}), 201)
        assert earlier["replayed"] is True
        assert len(signals(client, alice, scanner_id)) == 1 and len(slack.received) == 1

        # The next bar is a new signal.
        clock.move(timedelta(hours=1))
        ok(client.post(url, json={**ALERT, "time": "2026-12-04T16:00:00Z"}), 201)
        assert len(signals(client, alice, scanner_id)) == 2 and len(slack.received) == 2
    assert len(scan_all(container.store, kinds.SIGNAL_KEYS)) == 2


@pytest.mark.parametrize(
    ("alert", "field", "words"),
    [
        ({**ALERT, "time": "soon"}, "body.time", "is not a moment"),
        ({**ALERT, "close": "n/a"}, "body.close", "is not a number"),
        ({k: v for k, v in ALERT.items() if k != "ticker"}, "body.ticker", "the payload has no field ticker"),
        ({**ALERT, "ticker": "no such"}, "body.ticker", "symbol"),
        ({**ALERT, "ticker": "AAPL"}, "body.ticker", "symbol AAPL is not in scanner"),
        ({**ALERT, "ticker": "TSLA"}, "body.ticker", "symbol TSLA is not registered"),
        ({**ALERT, "time": "2026-12-04T16:00:00Z"}, "body.time", "is in the future"),
    ],
)
def test_an_alert_that_maps_to_no_signal_is_a_422_naming_its_field(
    client: TestClient,
    alice: dict[str, str],
    container: Container,
    alert: dict[str, Any],
    field: str,
    words: str,
) -> None:
    scanner_id = external_scanner(client, alice, universe={"type": "symbols", "symbols": ["MSFT"]})
    hook = signal_webhook(client, alice, scanner_id)
    refused = ok(client.post(f"{hook['url']}?secret={hook['secret']}", json=alert), 422)
    assert refused["errors"][0]["field"] == field and words in refused["detail"], refused
    assert signals(client, alice, scanner_id) == []
    assert scan_all(container.store, kinds.SIGNAL_KEYS) == []


def test_a_webhook_takes_its_rate_a_minute_and_strangers_do_not_spend_it(
    client: TestClient, alice: dict[str, str], clock: MovableClock
) -> None:
    scanner_id = external_scanner(client, alice)
    hook = signal_webhook(client, alice, scanner_id, rate_limit=2)
    url = f"{hook['url']}?secret={hook['secret']}"
    for _ in range(5):
        assert client.post(f"{hook['url']}?secret=wrong", json=ALERT).status_code == 401
    ok(client.post(url, json={**ALERT, "ticker": "MSFT"}), 201)
    ok(client.post(url, json={**ALERT, "ticker": "AAPL"}), 201)
    refused = client.post(url, json={**ALERT, "ticker": "MSFT", "time": "2026-12-04T14:00:00Z"})
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "59"  # it is 15:10:01
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "/problems/too-many-requests" and "takes 2 alerts a minute" in problem["detail"]
    assert len(signals(client, alice, scanner_id)) == 2  # the refused alert raised nothing

    clock.move(timedelta(seconds=59))  # the next minute
    ok(client.post(url, json={**ALERT, "ticker": "MSFT", "time": "2026-12-04T14:00:00Z"}), 201)
    assert len(signals(client, alice, scanner_id)) == 3


def test_signal_webhooks_need_an_external_scanner_of_your_own(
    client: TestClient, alice: dict[str, str], container: Container
) -> None:
    bob = user_key(container, Role.TRADER, "bob")
    rules = {"name": "rules", "rules": ["close > 1"]}
    rules_id = ok(client.post("/v1/scanners", json=rules, headers=alice), 201)["scanner_id"]
    mine = external_scanner(client, alice)

    def refused(headers: dict[str, str], scanner_id: str) -> Any:
        body = {"name": "tv", "scanner_id": scanner_id, "signal": SIGNAL}
        return ok(client.post("/v1/webhooks", json=body, headers=headers), 422)

    assert "runs rules" in refused(alice, rules_id)["detail"]
    theirs, unknown = refused(bob, mine), refused(bob, "scn_nobody")
    assert theirs["errors"][0]["field"] == "scanner_id"
    assert theirs["detail"].replace(mine, "?") == unknown["detail"].replace("scn_nobody", "?")
    # An order template for a scanner, a signal template for an account: the body says which.
    mixed = {"name": "tv", "account_id": "x", "signal": SIGNAL}
    assert "`scanner_id`" in ok(client.post("/v1/webhooks", json=mixed, headers=alice), 422)["detail"]
    assert scan_all(container.store, kinds.WEBHOOKS) == []


def test_signals_can_be_raised_with_a_key_too(
    client: TestClient, alice: dict[str, str], container: Container
) -> None:
    scanner_id = external_scanner(client, alice, timeframe="1d")
    path = f"/v1/scanners/{scanner_id}/signals"
    raised = ok(
        client.post(path, json={"symbol": "AAPL", "values": {"score": 3, "hot": True}}, headers=alice), 201
    )
    # No ts: now, in the day's bar (AAPL without an exchange: the UTC day).
    assert raised["ts"] == "2026-12-04T00:00:00Z" and raised["new"] is True
    assert raised["values"] == {"score": 3.0, "hot": True}
    again = ok(client.post(path, json={"symbol": "AAPL", "ts": "2026-12-04T09:00:00Z"}, headers=alice), 200)
    assert again["new"] is False and again["signal_id"] == raised["signal_id"]

    future = ok(client.post(path, json={"symbol": "AAPL", "ts": "2026-12-05T00:00:00Z"}, headers=alice), 422)
    assert future["errors"][0]["field"] == "ts"
    bad_value = {"symbol": "AAPL", "values": {"not a name": 1}}
    assert client.post(path, json=bad_value, headers=alice).status_code == 422
    viewer = user_key(container, Role.VIEWER, "alice")
    assert client.post(path, json={"symbol": "AAPL"}, headers=viewer).status_code == 403

    # A rules scanner runs; an external one takes signals. Neither does the other's.
    rules = {"name": "rules", "rules": ["close > 1"]}
    rules_id = ok(client.post("/v1/scanners", json=rules, headers=alice), 201)["scanner_id"]
    wrong = ok(client.post(f"/v1/scanners/{rules_id}/signals", json={"symbol": "AAPL"}, headers=alice), 422)
    assert wrong["errors"][0]["field"] == "scanner_id" and "runs rules" in wrong["detail"]
    not_run = ok(client.post(f"/v1/scanners/{scanner_id}/runs", headers=alice), 422)
    assert "no rules to run" in not_run["detail"]

    # Disabled, it takes none.
    disabled = {"name": "tv", "kind": "external", "timeframe": "1d", "enabled": False}
    ok(client.put(f"/v1/scanners/{scanner_id}", json=disabled, headers=alice))
    conflict = ok(client.post(path, json={"symbol": "MSFT"}, headers=alice), 409)
    assert "is disabled" in conflict["detail"]
    assert len(signals(client, alice, scanner_id)) == 1
