"""Per-user ownership of paper accounts over the HTTP API: two traders, alice and bob, each with
an account an admin created for them; a viewer, carol, whom an admin lets read alice's.

Another user's account, its orders, fills, positions, P&L and history answer exactly what an
unknown id answers (404, the same detail), never 403, so ids do not leak; a reader reads but
cannot trade (403 by role); an admin sees and acts on everything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trading_system.bootstrap import Container
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel.principal import FIRST_ADMIN, Role


@dataclass(frozen=True)
class Users:
    alice: dict[str, str]
    bob: dict[str, str]
    carol: dict[str, str]  # a viewer
    admin: dict[str, str]


def key_of(container: Container, role: Role, owner: str) -> dict[str, str]:
    issued = container.bus.execute(CreateApiKey(role=role, label=f"{owner} {role}", owner=owner))
    return {"x-api-key": issued.api_key}


@pytest.fixture
def users(container: Container) -> Users:
    return Users(
        alice=key_of(container, Role.TRADER, "alice"),
        bob=key_of(container, Role.TRADER, "bob"),
        carol=key_of(container, Role.VIEWER, "carol"),
        admin=key_of(container, Role.ADMIN, FIRST_ADMIN),
    )


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def alice_order(client: TestClient, users: Users) -> dict[str, Any]:
    """alice's and bob's accounts, a price for MSFT, and alice's filled buy and open limit."""
    ok(client.post("/v1/symbols", json={"symbol": "MSFT"}, headers=users.admin), 201)
    for owner in ("alice", "bob"):
        body = {"account_id": f"{owner}-acct", "starting_cash": "10000", "owner": owner}
        created = ok(client.post("/v1/accounts", json=body, headers=users.admin), 201)
        assert created["owner"] == owner
    bars = {"timeframe": "1d", "symbol": "MSFT"}
    row = {"ts": "2024-01-02", "open": 100, "high": 101, "low": 99, "close": 100, "volume": 1e6}
    ok(client.post("/v1/bars", json={**bars, "bars": [row]}, headers=users.admin), 201)
    buy = {"account_id": "alice-acct", "symbol": "MSFT", "side": "buy", "type": "market", "qty": 5}
    bought = ok(client.post("/v1/orders", json=buy, headers=users.alice), 201)
    assert bought["status"] == "filled"
    limit = {**buy, "type": "limit", "limit_price": 50, "time_in_force": "gtc", "qty": 1}
    placed: dict[str, Any] = ok(client.post("/v1/orders", json=limit, headers=users.alice), 201)
    assert placed["status"] == "accepted"
    return placed


def not_found_like_an_unknown_id(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    unknown: str,
    known: str,
    **kwargs: Any,
) -> None:
    """`path` with `known` in it answers as it does with `unknown` in its place: 404, same detail."""
    theirs = client.request(method, path.format(known), headers=headers, **kwargs)
    missing = client.request(method, path.format(unknown), headers=headers, **kwargs)
    assert theirs.status_code == missing.status_code == 404, (theirs.text, missing.text)
    assert theirs.json()["detail"] == missing.json()["detail"].replace(unknown, known)


ACCOUNT_READS = [
    "/v1/account?account_id={}",
    "/v1/orders?account_id={}",
    "/v1/positions?account_id={}",
    "/v1/fills?account_id={}",
    "/v1/pnl?account_id={}",
]


@pytest.mark.parametrize("path", ACCOUNT_READS)
def test_bob_cannot_read_alices_account(
    client: TestClient, users: Users, alice_order: dict[str, Any], path: str
) -> None:
    not_found_like_an_unknown_id(client, "GET", path, users.bob, "nobody-acct", "alice-acct")
    ok(client.get(path.format("alice-acct"), headers=users.alice))
    ok(client.get(path.format("bob-acct"), headers=users.bob))


def test_bob_cannot_see_or_touch_alices_orders(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    order_id, unknown = alice_order["id"], "00000000-0000-0000-0000-000000000000"
    for method, path in (
        ("GET", "/v1/orders/{}"),
        ("GET", "/v1/orders/{}/events"),
        ("DELETE", "/v1/orders/{}"),
    ):
        not_found_like_an_unknown_id(client, method, path, users.bob, unknown, order_id)
    assert ok(client.get(f"/v1/orders/{order_id}", headers=users.alice))["status"] == "accepted"


def test_bob_cannot_trade_on_alices_account(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    # The same client_order_id as alice's order: bob must not even learn that it exists.
    body = {
        "account_id": "alice-acct",
        "symbol": "MSFT",
        "side": "buy",
        "type": "market",
        "qty": 1,
        "client_order_id": alice_order["client_order_id"],
    }
    refused = client.post("/v1/orders", json=body, headers=users.bob)
    unknown = client.post("/v1/orders", json={**body, "account_id": "nobody-acct"}, headers=users.bob)
    assert refused.status_code == unknown.status_code == 404, refused.text
    assert refused.json()["detail"] == unknown.json()["detail"].replace("nobody-acct", "alice-acct")
    mine = ok(client.post("/v1/orders", json={**body, "account_id": "bob-acct"}, headers=users.bob), 201)
    assert mine["account_id"] == "bob-acct"


def test_lists_show_only_what_the_caller_may_read(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    def listed(headers: dict[str, str]) -> set[str]:
        return {a["account_id"] for a in ok(client.get("/v1/accounts", headers=headers))}

    assert listed(users.alice) == {"alice-acct"}
    assert listed(users.bob) == {"bob-acct"}
    assert listed(users.carol) == set()
    assert listed(users.admin) >= {"alice-acct", "bob-acct"}


def test_a_granted_viewer_reads_but_cannot_trade_and_loses_it_on_revoke(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    order_id = alice_order["id"]
    assert client.get("/v1/account?account_id=alice-acct", headers=users.carol).status_code == 404

    granted = ok(client.post("/v1/accounts/alice-acct/readers", json={"user": "carol"}, headers=users.admin))
    assert granted["owner"] == "alice" and granted["readers"] == ["carol"]
    again = ok(client.post("/v1/accounts/alice-acct/readers", json={"user": "carol"}, headers=users.admin))
    assert again["version"] == granted["version"]  # a retried grant changes nothing

    for path in ACCOUNT_READS:
        ok(client.get(path.format("alice-acct"), headers=users.carol))
    ok(client.get(f"/v1/orders/{order_id}", headers=users.carol))
    ok(client.get(f"/v1/orders/{order_id}/events", headers=users.carol))
    assert {a["account_id"] for a in ok(client.get("/v1/accounts", headers=users.carol))} == {"alice-acct"}
    # Reading is not trading: the routes that act need a trader, whoever owns the account.
    body = {"account_id": "alice-acct", "symbol": "MSFT", "side": "buy", "type": "market", "qty": 1}
    assert client.post("/v1/orders", json=body, headers=users.carol).status_code == 403
    assert client.delete(f"/v1/orders/{order_id}", headers=users.carol).status_code == 403
    # bob is no reader: still nothing
    assert client.get("/v1/account?account_id=alice-acct", headers=users.bob).status_code == 404

    revoked = ok(client.delete("/v1/accounts/alice-acct/readers/carol", headers=users.admin))
    assert revoked["readers"] == []
    assert client.get("/v1/account?account_id=alice-acct", headers=users.carol).status_code == 404
    assert client.get(f"/v1/orders/{order_id}", headers=users.carol).status_code == 404
    events = ok(client.get("/v1/accounts/alice-acct/events", headers=users.admin))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "AccountCreated" and events[0]["data"]["owner"] == "alice"
    assert {"AccountReaderGranted", "AccountReaderRevoked"} <= set(kinds)
    granted_event = next(e for e in events if e["type"] == "AccountReaderGranted")
    assert granted_event["by"]["user"] == FIRST_ADMIN and granted_event["data"]["user"] == "carol"


def test_only_admins_grant_readers_and_an_unknown_account_is_a_404(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    grant = {"user": "bob"}
    assert client.post("/v1/accounts/alice-acct/readers", json=grant, headers=users.alice).status_code == 403
    assert client.delete("/v1/accounts/alice-acct/readers/bob", headers=users.alice).status_code == 403
    assert client.post("/v1/accounts/nope/readers", json=grant, headers=users.admin).status_code == 404
    bad = client.post("/v1/accounts/alice-acct/readers", json={"user": "a b"}, headers=users.admin)
    assert bad.status_code == 422


def test_an_admin_sees_and_acts_on_every_account(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    for path in ACCOUNT_READS:
        ok(client.get(path.format("alice-acct"), headers=users.admin))
    canceled = ok(client.delete(f"/v1/orders/{alice_order['id']}", headers=users.admin))
    assert canceled["status"] == "canceled"
    reset = ok(client.post("/v1/accounts/alice-acct/resets", json={}, headers=users.admin))
    assert reset["owner"] == "alice" and reset["epoch"] == 1  # a reset keeps the owner


def test_admin_routes_stay_admin_only_whoever_owns_the_account(
    client: TestClient, users: Users, alice_order: dict[str, Any]
) -> None:
    """Resets, resumes and the audit trail are admin routes: even the owner gets 403 by role."""
    for who in (users.alice, users.bob):
        assert client.post("/v1/accounts/alice-acct/resets", json={}, headers=who).status_code == 403
        assert client.post("/v1/accounts/alice-acct/resume", headers=who).status_code == 403
        assert client.get("/v1/accounts/alice-acct/events", headers=who).status_code == 403


def test_an_account_without_a_named_owner_is_its_creators(client: TestClient, users: Users) -> None:
    body = {"account_id": "house", "starting_cash": "1000"}
    assert ok(client.post("/v1/accounts", json=body, headers=users.admin), 201)["owner"] == FIRST_ADMIN
    assert client.get("/v1/account?account_id=house", headers=users.alice).status_code == 404


def test_the_default_account_follows_the_same_rule(
    client: TestClient, users: Users, container: Container
) -> None:
    default = container.settings.default_account
    ok(
        client.post(
            "/v1/accounts", json={"account_id": default, "starting_cash": "1000"}, headers=users.admin
        ),
        201,
    )
    assert ok(client.get("/v1/account", headers=users.admin))["account_id"] == default
    missing = client.get("/v1/account", headers=users.bob)
    assert missing.status_code == 404 and f"account {default} does not exist" in missing.json()["detail"]
