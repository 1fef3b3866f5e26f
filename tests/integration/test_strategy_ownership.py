"""Strategies, backtests, sweeps and deployments belong to the user who made them, over the HTTP
API of the local app: another user's answers 404 exactly as an unknown id does and is never
listed; an admin sees every one; code strategies are everyone's; a record stored before users
existed is the first admin's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_backtests_api import goog
from tests.integration.test_strategies_api import OVERSOLD
from trading_system.bootstrap import Container
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel.principal import FIRST_ADMIN, Role

__all__ = ["goog"]


@dataclass(frozen=True)
class Users:
    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]


@pytest.fixture
def users(container: Container, keys: Keys) -> Users:
    def trader(user: str) -> dict[str, str]:
        key: str = container.bus.execute(CreateApiKey(role=Role.TRADER, label=user, owner=user)).api_key
        return {"x-api-key": key}

    return Users(alice=trader("alice"), bob=trader("bob"), admin=keys.header("admin"))


@dataclass(frozen=True)
class Alices:
    strategy: str
    backtest: str
    sweep: str
    deployment: str


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


@pytest.fixture
def alices(client: TestClient, users: Users, goog: None) -> Alices:
    """Alice's strategy, a backtest of it, a sweep and a deployment on her account."""
    mine = {**OVERSOLD, "name": "alice_oversold"}
    assert ok(client.post("/v1/strategies", json=mine, headers=users.alice), 201)["owner"] == "alice"
    body = {"strategy": "alice_oversold", "symbols": ["GOOG"]}
    backtest = ok(client.post("/v1/backtests", json=body, headers=users.alice), 202)
    assert backtest["owner"] == "alice" and backtest["submitted_by"] != "alice"  # the key, for audit
    sweep = {"strategy": "sma_cross", "sweep": {"grid": {"n1": [5, 10], "n2": [20, 30]}}, "symbols": ["GOOG"]}
    swept = ok(client.post("/v1/sweeps", json=sweep, headers=users.alice), 202)
    account = {"account_id": "alices", "starting_cash": "100000", "owner": "alice"}
    ok(client.post("/v1/accounts", json=account, headers=users.admin), 201)
    deploy = {"strategy": "alice_oversold", "symbols": ["GOOG"], "account_id": "alices", "start": False}
    deployment = ok(client.post("/v1/deployments", json=deploy, headers=users.alice), 201)
    assert swept["owner"] == deployment["owner"] == "alice"
    return Alices("alice_oversold", backtest["backtest_id"], swept["sweep_id"], deployment["deployment_id"])


def same_as_unknown(client: TestClient, headers: dict[str, str], method: str, path: str, known: str) -> None:
    """Another user's id answers what an id nobody knows answers, word for word."""
    unknown = known[:-4] + "zzzz"
    theirs = client.request(method, path, headers=headers)
    nobodys = client.request(method, path.replace(known, unknown), headers=headers)
    assert theirs.status_code == nobodys.status_code == 404, theirs.text
    assert problem(theirs.text.replace(known, unknown)) == problem(nobodys.text)


def problem(text: str) -> dict[str, Any]:
    """A problem's body but its correlation id (each request's own)."""
    body: dict[str, Any] = json.loads(text)
    body.pop("correlation_id")
    return body


def test_another_users_things_answer_as_unknown_ones(
    client: TestClient, users: Users, alices: Alices
) -> None:
    bob = users.bob
    for method, path, known in [
        ("GET", f"/v1/strategies/{alices.strategy}", alices.strategy),
        ("DELETE", f"/v1/strategies/{alices.strategy}", alices.strategy),
        ("GET", f"/v1/backtests/{alices.backtest}", alices.backtest),
        ("GET", f"/v1/backtests/{alices.backtest}/trades", alices.backtest),
        ("GET", f"/v1/backtests/{alices.backtest}/equity", alices.backtest),
        ("GET", f"/v1/backtests?ids={alices.backtest}", alices.backtest),
        ("DELETE", f"/v1/backtests/{alices.backtest}", alices.backtest),
        ("GET", f"/v1/sweeps/{alices.sweep}", alices.sweep),
        ("GET", f"/v1/sweeps/{alices.sweep}/ranking", alices.sweep),
        ("GET", f"/v1/sweeps/{alices.sweep}/heatmap?x=n1&y=n2", alices.sweep),
        ("DELETE", f"/v1/sweeps/{alices.sweep}", alices.sweep),
        ("GET", f"/v1/deployments/{alices.deployment}", alices.deployment),
        ("GET", f"/v1/deployments/{alices.deployment}/parity", alices.deployment),
        ("POST", f"/v1/deployments/{alices.deployment}/start", alices.deployment),
        ("POST", f"/v1/deployments/{alices.deployment}/pause", alices.deployment),
        ("POST", f"/v1/deployments/{alices.deployment}/stop", alices.deployment),
    ]:
        same_as_unknown(client, bob, method, path, known)
    changed = {**OVERSOLD, "name": alices.strategy, "summary": "bob's now"}
    response = client.put(f"/v1/strategies/{alices.strategy}", json=changed, headers=bob)
    assert response.status_code == 404, response.text

    # Nothing of Alice's is listed, not even filtered by her strategy's name.
    assert alices.strategy not in {s["name"] for s in ok(client.get("/v1/strategies", headers=bob))}
    assert ok(client.get("/v1/backtests", headers=bob)) == []
    assert ok(client.get(f"/v1/backtests?strategy={alices.strategy}", headers=bob)) == []
    assert ok(client.get("/v1/sweeps", headers=bob)) == []
    assert ok(client.get("/v1/deployments", headers=bob)) == []

    # Alice's things are all still there, unchanged, for her.
    assert (
        ok(client.get(f"/v1/strategies/{alices.strategy}", headers=users.alice))["summary"]
        == OVERSOLD["summary"]
    )
    assert ok(client.get(f"/v1/deployments/{alices.deployment}", headers=users.alice))["status"] == "paused"
    # The worker ran them (as the platform) and they are still hers, with their results.
    ran = [
        (j["backtest_id"], j["status"], j["owner"])
        for j in ok(client.get("/v1/backtests", headers=users.alice))
    ]
    assert ran == [(alices.backtest, "completed", "alice")]
    swept = [
        (s["sweep_id"], s["status"], s["owner"]) for s in ok(client.get("/v1/sweeps", headers=users.alice))
    ]
    assert swept == [(alices.sweep, "completed", "alice")]
    ok(client.get(f"/v1/backtests/{alices.backtest}/equity", headers=users.alice))
    ok(client.get(f"/v1/sweeps/{alices.sweep}/ranking", headers=users.alice))


def test_another_users_strategy_cannot_be_run_nor_its_name_reused(
    client: TestClient, users: Users, alices: Alices
) -> None:
    bob = users.bob
    # Backtesting, sweeping or deploying it: the 422 of a strategy nobody knows, not suggesting it.
    for path, body in [
        ("/v1/backtests", {"strategy": alices.strategy, "symbols": ["GOOG"]}),
        (
            "/v1/sweeps",
            {"strategy": alices.strategy, "sweep": {"grid": {"fraction": [0.5, 1.0]}}, "symbols": ["GOOG"]},
        ),
        ("/v1/deployments", {"strategy": alices.strategy, "symbols": ["GOOG"], "account_id": "alices"}),
    ]:
        response = client.post(path, json=body, headers=bob)
        assert response.status_code == 422, response.text
        assert f"unknown strategy '{alices.strategy}'" in response.text
        assert alices.strategy not in response.json()["errors"][0]["reason"]  # not among the known ones

    # Her name is taken: a 409 that says only that.
    mine = {**OVERSOLD, "name": alices.strategy, "summary": "bob's"}
    taken = client.post("/v1/strategies", json=mine, headers=bob)
    assert taken.status_code == 409 and "is taken" in taken.text and "rsi" not in taken.text.lower()
    again = client.post("/v1/strategies", json={**OVERSOLD, "name": alices.strategy}, headers=users.alice)
    assert again.status_code == 409 and "update it" in again.text  # to her: hers exists

    # Code strategies are everyone's: Bob backtests one.
    queued = ok(
        client.post("/v1/backtests", json={"strategy": "sma_cross", "symbols": ["GOOG"]}, headers=bob), 202
    )
    assert queued["owner"] == "bob"
    code = {s["name"] for s in ok(client.get("/v1/strategies", headers=bob)) if s["kind"] == "python"}
    assert "sma_cross" in code and "rsi_reversion" in code


def test_a_deployment_on_another_users_account_is_refused(
    client: TestClient, users: Users, alices: Alices
) -> None:
    body = {"strategy": "rsi_reversion", "symbols": ["GOOG"], "account_id": "alices", "start": False}
    theirs = client.post("/v1/deployments", json=body, headers=users.bob)
    nobodys = client.post("/v1/deployments", json={**body, "account_id": "nobodys"}, headers=users.bob)
    assert theirs.status_code == nobodys.status_code == 422, theirs.text
    assert problem(theirs.text.replace("alices", "nobodys")) == problem(nobodys.text)
    # Once Bob may read her account he sees it, but his deployment could not trade it.
    granted = client.post("/v1/accounts/alices/readers", json={"user": "bob"}, headers=users.admin)
    assert granted.status_code in (200, 201, 204), granted.text
    reader = client.post("/v1/deployments", json=body, headers=users.bob)
    assert reader.status_code == 422 and "account alices is alice's" in reader.text, reader.text


def test_another_users_scanner_is_no_universe(client: TestClient, users: Users, goog: None) -> None:
    scanner = {"name": "alices", "universe": {"type": "all"}, "timeframe": "1d", "rules": ["close > 0"]}
    scanner_id = ok(client.post("/v1/scanners", json=scanner, headers=users.alice), 201)["scanner_id"]
    body = {
        "strategy": "scanner_signals",
        "symbols": ["GOOG"],
        "universe_scanner": scanner_id,
    }
    refused = client.post("/v1/backtests", json=body, headers=users.bob)
    assert refused.status_code == 422 and f"no scanner {scanner_id}" in refused.text, refused.text
    account = {"account_id": "bobs", "starting_cash": "1000", "owner": "bob"}
    ok(client.post("/v1/accounts", json=account, headers=users.admin), 201)
    deploy = {
        "strategy": "rsi_reversion",
        "universe_scanner": scanner_id,
        "account_id": "bobs",
        "start": False,
    }
    refused = client.post("/v1/deployments", json=deploy, headers=users.bob)
    assert refused.status_code == 422 and f"no scanner {scanner_id}" in refused.text, refused.text
    assert ok(client.post("/v1/backtests", json=body, headers=users.alice), 202)["owner"] == "alice"


def test_an_admin_sees_and_acts_on_every_users_things(
    client: TestClient, users: Users, alices: Alices
) -> None:
    admin = users.admin
    mine = ok(
        client.post("/v1/strategies", json={**OVERSOLD, "name": "bob_oversold"}, headers=users.bob), 201
    )
    assert mine["owner"] == "bob"
    listed = {s["name"]: s.get("owner") for s in ok(client.get("/v1/strategies", headers=admin))}
    assert listed[alices.strategy] == "alice" and listed["bob_oversold"] == "bob"
    assert ok(client.get(f"/v1/strategies/{alices.strategy}", headers=admin))["owner"] == "alice"
    assert [j["backtest_id"] for j in ok(client.get("/v1/backtests", headers=admin))] == [alices.backtest]
    ok(client.get(f"/v1/backtests/{alices.backtest}/trades", headers=admin))
    ok(client.get(f"/v1/sweeps/{alices.sweep}/ranking", headers=admin))
    assert [d["deployment_id"] for d in ok(client.get("/v1/deployments", headers=admin))] == [
        alices.deployment
    ]
    # An admin acting on Alice's things leaves them hers.
    changed = {**OVERSOLD, "name": alices.strategy, "summary": "edited by an admin"}
    assert (
        ok(client.put(f"/v1/strategies/{alices.strategy}", json=changed, headers=admin))["owner"] == "alice"
    )
    started = ok(client.post(f"/v1/deployments/{alices.deployment}/start", headers=admin))
    assert started["status"] == "running" and started["owner"] == "alice"
    # An admin may backtest Alice's strategy; the backtest is the admin's own.
    body = {"strategy": alices.strategy, "symbols": ["GOOG"]}
    assert ok(client.post("/v1/backtests", json=body, headers=admin), 202)["owner"] == FIRST_ADMIN
    # Bob sees his own only.
    assert {
        s["name"] for s in ok(client.get("/v1/strategies", headers=users.bob)) if s["kind"] == "rules"
    } == {"bob_oversold"}


def test_records_stored_before_users_existed_are_the_first_admins(
    client: TestClient, container: Container, users: Users, alices: Alices
) -> None:
    """Nothing is rewritten: a document without an owner reads as the first admin's."""
    from trading_system.kernel.kinds import BACKTESTS, DEPLOYMENTS, STRATEGIES, SWEEPS

    store = container.store
    for kind, key in [
        (STRATEGIES, alices.strategy),
        (BACKTESTS, alices.backtest),
        (SWEEPS, alices.sweep),
        (DEPLOYMENTS, alices.deployment),
    ]:
        doc = store.get(kind, key)
        assert doc is not None and doc.pop("owner") == "alice", (kind, key)
        store.put(kind, key, doc)
    for path in [
        f"/v1/strategies/{alices.strategy}",
        f"/v1/backtests/{alices.backtest}",
        f"/v1/sweeps/{alices.sweep}",
        f"/v1/deployments/{alices.deployment}",
    ]:
        assert ok(client.get(path, headers=users.admin))["owner"] == FIRST_ADMIN, path
        assert client.get(path, headers=users.alice).status_code == 404, path
    # The CLI's keys and the tests' own are the first admin's: a viewer of that user sees them.
    viewer = {"x-api-key": container.bus.execute(CreateApiKey(role=Role.VIEWER)).api_key}
    assert ok(client.get(f"/v1/backtests/{alices.backtest}", headers=viewer))["owner"] == FIRST_ADMIN
