"""Webhooks in, over the local app's HTTP API: a trader creates a webhook (its secret shown once),
a TradingView-style alert posted to its public URL places an order on its paper account, once
however often it is re-sent; a bad secret is a bare 401 and a malformed alert a 422 naming the
payload's field, and neither writes anything."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.bootstrap import Container
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel import kinds
from trading_system.kernel.documents import scan_all
from trading_system.kernel.principal import FIRST_ADMIN, Role
from trading_system.kernel.signing import sign
from trading_system.strategies.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OrderTemplate,
    WebhookDraft,
    issue,
)

TEMPLATE = {
    "symbol": "{{ticker}}",
    "side": "{{strategy.order.action}}",
    "qty": "{{strategy.order.contracts}}",
    "type": "limit",
    "time_in_force": "gtc",
    "limit_price": "{{close}}",
}
# What TradingView sends once it has filled its placeholders in the alert's message.
ALERT = {
    "ticker": "AAPL",
    "close": 101.5,
    "time": "2026-12-04T15:30:00Z",
    "strategy": {"order": {"action": "buy", "contracts": "3"}},
}


@pytest.fixture
def ready(client: TestClient, keys: Keys) -> TestClient:
    assert (
        client.post("/v1/symbols", json={"symbol": "AAPL"}, headers=keys.header("trader")).status_code == 201
    )
    account = {"account_id": "hooked", "starting_cash": "100000"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    return client


def create(client: TestClient, keys: Keys, **extra: Any) -> dict[str, Any]:
    body = {"name": "tv alerts", "account_id": "hooked", "order": TEMPLATE, **extra}
    response = client.post("/v1/webhooks", json=body, headers=keys.header("trader"))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/webhooks/{created['webhook_id']}"
    return created


def orders(client: TestClient, keys: Keys) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/orders", params={"account_id": "hooked", "status": "all"}, headers=keys.header("viewer")
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["orders"]
    return found


def writes(container: Container, account_id: str = "hooked") -> int:
    """The account's orders and order list items in the table: what a refused alert must not add."""
    return len(scan_all(container.store, kinds.ORDERS)) + len(
        scan_all(container.store, f"{kinds.ORDER_LISTS}:{account_id}")
    )


def test_an_alert_places_one_order_however_often_it_is_sent(
    ready: TestClient, keys: Keys, container: Container
) -> None:
    hook = create(ready, keys)
    assert writes(container) == 0
    assert hook["url"] == f"/v1/hooks/{hook['webhook_id']}" and len(hook["secret"]) >= 40
    first = ready.post(f"{hook['url']}?secret={hook['secret']}", json=ALERT)
    assert first.status_code == 201, first.text
    order = first.json()["order"]
    assert first.json()["replayed"] is False
    assert (order["symbol"], order["side"], order["type"], order["qty"]) == ("AAPL", "buy", "limit", "3")
    assert order["limit_price"] == "101.5" and order["account_id"] == "hooked"
    assert order["client_order_id"].startswith(f"{hook['webhook_id']}-")
    assert first.headers["location"] == f"/v1/orders/{order['id']}"

    # Re-sent (TradingView retries; a user re-fires it), the secret this time in the body.
    again = ready.post(hook["url"], content=json.dumps({**ALERT, "secret": hook["secret"]}))
    assert again.status_code == 201, again.text
    assert again.json()["replayed"] is True and again.json()["order"]["id"] == order["id"]
    assert [o["id"] for o in orders(ready, keys)] == [order["id"]]
    assert writes(container) > 0  # what the refusals below are checked by does count orders

    # A different alert is a different order.
    other = ready.post(f"{hook['url']}?secret={hook['secret']}", json={**ALERT, "close": 99})
    assert other.status_code == 201 and other.json()["order"]["id"] != order["id"]
    assert len(orders(ready, keys)) == 2


def test_an_idempotency_key_template_decides_what_is_the_same_alert(ready: TestClient, keys: Keys) -> None:
    hook = create(ready, keys, idempotency_key="{{time}}-{{ticker}}")
    url = f"{hook['url']}?secret={hook['secret']}"
    placed = ready.post(url, json=ALERT).json()["order"]
    # Same time and ticker: the same alert, even with another price; Trading refuses a changed body.
    changed = ready.post(url, json={**ALERT, "close": 50})
    assert changed.status_code == 409, changed.text
    assert [o["id"] for o in orders(ready, keys)] == [placed["id"]]


def test_a_bad_secret_is_a_bare_401_and_writes_nothing(
    ready: TestClient, keys: Keys, container: Container
) -> None:
    hook = create(ready, keys)
    before = writes(container)
    for url, body in [
        (f"{hook['url']}?secret=wrong", ALERT),
        (hook["url"], ALERT),  # no secret at all
        (hook["url"], {**ALERT, "secret": "wrong"}),
        (f"/v1/hooks/wh_000000000000?secret={hook['secret']}", ALERT),  # another webhook's id
        (f"{hook['url']}?secret=wrong", {"ticker": 1}),  # malformed too: the secret comes first
    ]:
        response = ready.post(url, json=body)
        assert response.status_code == 401, (url, response.text)
        assert response.json()["detail"] == "the webhook secret is not valid"
        assert "errors" not in response.json() or not response.json()["errors"]
    assert writes(container) == before
    assert orders(ready, keys) == []


def test_a_malformed_alert_is_a_422_naming_the_field_and_writes_nothing(
    ready: TestClient, keys: Keys, container: Container
) -> None:
    hook = create(ready, keys)
    url = f"{hook['url']}?secret={hook['secret']}"
    before = writes(container)
    missing = ready.post(url, json={k: v for k, v in ALERT.items() if k != "close"})
    assert missing.status_code == 422, missing.text
    assert [e["field"] for e in missing.json()["errors"]] == ["body.close"]
    wrong_side = ready.post(url, json={**ALERT, "strategy": {"order": {"action": "hold", "contracts": "3"}}})
    assert wrong_side.status_code == 422, wrong_side.text
    assert wrong_side.json()["errors"][0]["field"] == "body.strategy.order.action"
    not_json = ready.post(url, content=b"buy AAPL now", headers={"content-type": "text/plain"})
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["field"] == "body"
    assert writes(container) == before
    assert orders(ready, keys) == []


def test_a_signed_webhook_needs_a_fresh_valid_signature(ready: TestClient, keys: Keys) -> None:
    hook = create(ready, keys, signed=True)
    assert hook["signing_key"]
    url = f"{hook['url']}?secret={hook['secret']}"
    body = json.dumps(ALERT).encode()
    now = str(int(time.time()))
    headers = {"content-type": "application/json", TIMESTAMP_HEADER: now}
    unsigned = ready.post(url, content=body, headers=headers)
    assert unsigned.status_code == 401
    forged = ready.post(url, content=body, headers={**headers, SIGNATURE_HEADER: sign("guess", now, body)})
    assert forged.status_code == 401
    stale = str(int(time.time()) - 3600)
    old = ready.post(
        url,
        content=body,
        headers={
            **headers,
            TIMESTAMP_HEADER: stale,
            SIGNATURE_HEADER: sign(hook["signing_key"], stale, body),
        },
    )
    assert old.status_code == 401
    assert orders(ready, keys) == []
    good = ready.post(
        url, content=body, headers={**headers, SIGNATURE_HEADER: sign(hook["signing_key"], now, body)}
    )
    assert good.status_code == 201, good.text


def test_webhooks_are_listed_without_secrets_and_deleted_by_their_owner(
    ready: TestClient, keys: Keys, container: Container
) -> None:
    hook = create(ready, keys)
    listed = ready.get("/v1/webhooks", headers=keys.header("trader"))
    assert listed.status_code == 200
    assert [h["webhook_id"] for h in listed.json()] == [hook["webhook_id"]]
    assert "secret" not in listed.text and hook["secret"] not in listed.text
    stored = json.dumps(scan_all(container.store, kinds.WEBHOOKS))
    assert hook["secret"] not in stored and "secret_sha256" in stored  # kept hashed only
    assert ready.get("/v1/webhooks", headers=keys.header("viewer")).status_code == 403
    assert (
        ready.get("/v1/webhooks", headers=keys.header("admin")).json()[0]["webhook_id"] == hook["webhook_id"]
    )
    assert (
        ready.delete(f"/v1/webhooks/{hook['webhook_id']}", headers=keys.header("trader")).status_code == 204
    )
    assert (
        ready.delete(f"/v1/webhooks/{hook['webhook_id']}", headers=keys.header("trader")).status_code == 404
    )
    gone = ready.post(f"{hook['url']}?secret={hook['secret']}", json=ALERT)
    assert gone.status_code == 401


def test_creating_refuses_an_unknown_account_and_a_bad_template(ready: TestClient, keys: Keys) -> None:
    body = {"name": "x", "account_id": "nobody", "order": TEMPLATE}
    unknown = ready.post("/v1/webhooks", json=body, headers=keys.header("trader"))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "account_id"
    braces = {**TEMPLATE, "qty": "{{ 1 + 1 }}"}
    bad = ready.post(
        "/v1/webhooks", json={**body, "account_id": "hooked", "order": braces}, headers=keys.header("trader")
    )
    assert bad.status_code == 422, bad.text
    assert "qty" in json.dumps(bad.json()["errors"])
    fixed = ready.post(
        "/v1/webhooks",
        json={**body, "account_id": "hooked", "order": {**TEMPLATE, "account_id": "other"}},
        headers=keys.header("trader"),
    )
    assert fixed.status_code == 422 and "account_id" in json.dumps(fixed.json()["errors"])
    assert ready.get("/v1/webhooks", headers=keys.header("trader")).json() == []


def user_key(container: Container, user: str) -> dict[str, str]:
    issued = container.bus.execute(CreateApiKey(role=Role.TRADER, label=user, owner=user))
    return {"x-api-key": issued.api_key}


@pytest.fixture
def alice(ready: TestClient, keys: Keys, container: Container) -> dict[str, str]:
    """Alice's trader key; she owns the account `alices`."""
    account = {"account_id": "alices", "starting_cash": "100000", "owner": "alice"}
    assert ready.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    return user_key(container, "alice")


def test_a_webhook_is_its_users_and_another_users_is_not_seen_nor_deleted(
    ready: TestClient, keys: Keys, container: Container, alice: dict[str, str]
) -> None:
    body = {"name": "alice's", "account_id": "alices", "order": TEMPLATE}
    hook = ready.post("/v1/webhooks", json=body, headers=alice).json()
    assert hook["owner"] == "alice" and hook["created_by"] != "alice"  # the key, for the audit trail
    assert container.webhooks.get(hook["webhook_id"]).owner == "alice"  # type: ignore[union-attr]
    bob = user_key(container, "bob")
    assert ready.get("/v1/webhooks", headers=bob).json() == []
    assert ready.get("/v1/webhooks", headers=keys.header("trader")).json() == []  # the admin user's trader
    refused = ready.delete(f"/v1/webhooks/{hook['webhook_id']}", headers=bob)
    unknown = ready.delete("/v1/webhooks/wh_nobodys", headers=bob)
    assert refused.status_code == unknown.status_code == 404, refused.text  # ids do not leak: not a 403
    assert refused.json()["detail"].replace(hook["webhook_id"], "wh_nobodys") == unknown.json()["detail"]
    assert container.webhooks.get(hook["webhook_id"]) is not None
    # Another key of Alice's (she rotated it) still manages it: it is hers, not the key's.
    assert [
        h["webhook_id"] for h in ready.get("/v1/webhooks", headers=user_key(container, "alice")).json()
    ] == [hook["webhook_id"]]
    # An admin sees and deletes every user's webhooks.
    assert [h["owner"] for h in ready.get("/v1/webhooks", headers=keys.header("admin")).json()] == ["alice"]
    assert ready.delete(f"/v1/webhooks/{hook['webhook_id']}", headers=keys.header("admin")).status_code == 204


def test_a_webhook_on_another_users_account_is_refused_as_an_unknown_account(
    ready: TestClient, container: Container, alice: dict[str, str]
) -> None:
    bob = user_key(container, "bob")
    body = {"name": "bob's", "account_id": "alices", "order": TEMPLATE}
    refused = ready.post("/v1/webhooks", json=body, headers=bob)
    unknown = ready.post("/v1/webhooks", json={**body, "account_id": "nobodys"}, headers=bob)
    assert refused.status_code == unknown.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "account_id"
    assert refused.json()["detail"].replace("alices", "nobodys") == unknown.json()["detail"]
    assert container.webhooks.list() == []


def test_a_fired_webhook_acts_for_its_owner_on_the_owners_accounts_only(
    ready: TestClient, keys: Keys, container: Container, alice: dict[str, str]
) -> None:
    mine = ready.post(
        "/v1/webhooks", json={"name": "a", "account_id": "alices", "order": TEMPLATE}, headers=alice
    )
    fired = ready.post(f"{mine.json()['url']}?secret={mine.json()['secret']}", json=ALERT)
    assert fired.status_code == 201, fired.text
    assert fired.json()["order"]["account_id"] == "alices"
    # Bob's webhook naming Alice's account, as one stored before she owned it would be: its
    # alerts are refused as an unknown account's and place nothing.
    draft = WebhookDraft(name="b", account_id="alices", order=OrderTemplate(**TEMPLATE))
    theirs, secret = issue(draft, "bob", "bobs-key", datetime.now(UTC))
    container.webhooks.add(theirs)
    before = writes(container, "alices")
    refused = ready.post(f"/v1/hooks/{theirs.webhook_id}?secret={secret}", json={**ALERT, "close": 90})
    assert refused.status_code == 404, refused.text
    assert writes(container, "alices") == before
    listed = ready.get("/v1/orders", params={"account_id": "alices", "status": "all"}, headers=alice)
    assert [o["id"] for o in listed.json()["orders"]] == [fired.json()["order"]["id"]]


def test_an_admin_sets_up_a_webhook_on_a_users_account_for_that_user(
    ready: TestClient, keys: Keys, alice: dict[str, str]
) -> None:
    """A webhook trades as a trader of its owner's, so one an admin makes on Alice's account is
    Alice's: hers to see and delete, and its alerts trade on her account."""
    body = {"name": "set up for alice", "account_id": "alices", "order": TEMPLATE}
    hook = ready.post("/v1/webhooks", json=body, headers=keys.header("admin")).json()
    assert hook["owner"] == "alice"
    assert [h["webhook_id"] for h in ready.get("/v1/webhooks", headers=alice).json()] == [hook["webhook_id"]]
    fired = ready.post(f"{hook['url']}?secret={hook['secret']}", json=ALERT)
    assert fired.status_code == 201 and fired.json()["order"]["account_id"] == "alices", fired.text


def test_a_webhook_stored_before_users_existed_is_the_first_admins(
    ready: TestClient, keys: Keys, container: Container
) -> None:
    hook = create(ready, keys)
    stored = container.store.get(kinds.WEBHOOKS, hook["webhook_id"])
    assert stored is not None
    del stored["owner"]
    container.store.put(kinds.WEBHOOKS, hook["webhook_id"], stored)
    assert container.webhooks.get(hook["webhook_id"]).owner == FIRST_ADMIN  # type: ignore[union-attr]
    assert [h["owner"] for h in ready.get("/v1/webhooks", headers=keys.header("trader")).json()] == [
        FIRST_ADMIN
    ]
    assert ready.get("/v1/webhooks", headers=user_key(container, "bob")).json() == []
    # It still fires, as the first admin, on the account it names (an admin's).
    assert ready.post(f"{hook['url']}?secret={hook['secret']}", json=ALERT).status_code == 201


def test_the_secret_in_the_body_is_never_mapped_into_the_order(ready: TestClient, keys: Keys) -> None:
    hook = create(ready, keys, idempotency_key="{{secret}}")
    leaked = ready.post(hook["url"], json={**ALERT, "secret": hook["secret"]})
    assert leaked.status_code == 422, leaked.text
    assert leaked.json()["errors"][0]["field"] == "body.secret"
    assert hook["secret"] not in leaked.text
