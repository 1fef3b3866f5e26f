"""Scanners are their user's (issue 10, part 2): Alice's scanner, its runs and its signals answer
Bob as an unknown id would, lists show each user their own, an admin sees and acts on all, a
scanner stored before users existed is the first admin's, and schedules run whoever's it is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_analytics_scanning_api import daily, scanners_run
from trading_system.analytics.signals import Signal
from trading_system.bootstrap import Container
from trading_system.entrypoints.local.workers import Scheduler
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel import kinds
from trading_system.kernel.principal import FIRST_ADMIN, Role
from trading_system.market_data.domain import Timeframe

SCANNER = {"name": "above zero", "rules": ["close > 0"], "universe": {"type": "tag", "tag": "test"}}
UNKNOWN = "scn_nobodys0000"


@dataclass(frozen=True)
class Users:
    admin: dict[str, str]
    alice: dict[str, str]
    bob: dict[str, str]


def user_key(container: Container, role: Role, user: str) -> dict[str, str]:
    issued = container.bus.execute(CreateApiKey(role=role, label=user, owner=user))
    return {"x-api-key": issued.api_key}


@pytest.fixture
def users(client: TestClient, keys: Keys, container: Container) -> Users:
    for seed, symbol in enumerate(["UPPY", "DOWNY"], start=1):
        client.post("/v1/symbols", json={"symbol": symbol, "tags": ["test"]}, headers=keys.header("trader"))
        bars = {"timeframe": "1d", "symbol": symbol, "bars": daily(30, seed)}
        assert client.post("/v1/bars", json=bars, headers=keys.header("trader")).status_code == 201
    return Users(
        admin=user_key(container, Role.ADMIN, "root"),
        alice=user_key(container, Role.TRADER, "alice"),
        bob=user_key(container, Role.TRADER, "bob"),
    )


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def scanner_of(client: TestClient, headers: dict[str, str], **extra: Any) -> str:
    scanner_id: str = ok(client.post("/v1/scanners", json={**SCANNER, **extra}, headers=headers), 201)[
        "scanner_id"
    ]
    return scanner_id


def same_as_unknown(
    client: TestClient, headers: dict[str, str], method: str, path: str, known: str, **kw: Any
) -> None:
    """Another user's id answers what an id nobody knows answers, word for word."""
    theirs = client.request(method, path, headers=headers, **kw)
    nobodys = client.request(method, path.replace(known, UNKNOWN), headers=headers, **kw)
    assert theirs.status_code == nobodys.status_code == 404, theirs.text
    mine, unknown = theirs.json(), nobodys.json()
    for body in (mine, unknown):
        body.pop("correlation_id", None)
    assert json_text(mine).replace(known, UNKNOWN) == json_text(unknown)


def json_text(body: Any) -> str:
    return json.dumps(body, sort_keys=True)


def test_another_users_scanner_and_its_runs_answer_as_an_unknown_one(
    client: TestClient, users: Users, container: Container
) -> None:
    scanner_id = scanner_of(client, users.alice)
    created = ok(client.get(f"/v1/scanners/{scanner_id}", headers=users.alice))
    assert created["owner"] == "alice" and created["created_by"] != "alice"  # the key, for the audit trail
    ok(client.post(f"/v1/scanners/{scanner_id}/runs", headers=users.alice), 201)
    path = f"/v1/scanners/{scanner_id}"
    for method, route, body in [
        ("GET", path, None),
        ("PUT", path, {**SCANNER, "name": "bob's now"}),
        ("POST", f"{path}/runs", None),
        ("GET", f"{path}/runs", None),
        ("GET", f"/v1/signals?scanner_id={scanner_id}", None),
        ("DELETE", path, None),
    ]:
        same_as_unknown(client, users.bob, method, route, scanner_id, json=body)
    # Nothing Bob tried changed it, ran it or deleted it.
    assert ok(client.get(path, headers=users.alice)) == created
    assert len(ok(client.get(f"{path}/runs", headers=users.alice))) == 1


def test_lists_and_signals_show_each_user_their_own_and_an_admin_all(
    client: TestClient, users: Users, keys: Keys
) -> None:
    alices = scanner_of(client, users.alice)
    bobs = scanner_of(client, users.bob, name="bob's")
    firsts = scanner_of(client, keys.header("trader"), name="the first admin's")
    for scanner_id, headers in [(alices, users.alice), (bobs, users.bob), (firsts, keys.header("trader"))]:
        assert ok(client.post(f"/v1/scanners/{scanner_id}/runs", headers=headers), 201)["new_signals"] == 2

    def listed(headers: dict[str, str]) -> list[str]:
        return [s["scanner_id"] for s in ok(client.get("/v1/scanners", headers=headers))]

    def signalled(headers: dict[str, str], **params: str) -> list[str]:
        found = ok(client.get("/v1/signals", params={"limit": "5000", **params}, headers=headers))
        return sorted({s["scanner_id"] for s in found if s["source"] == "scanner"})

    assert listed(users.alice) == [alices] and listed(users.bob) == [bobs]
    assert listed(keys.header("viewer")) == [firsts]  # the existing keys are the first admin's
    assert listed(users.admin) == [alices, bobs, firsts]
    assert signalled(users.alice) == [alices] and signalled(users.bob) == [bobs]
    assert signalled(users.admin) == sorted([alices, bobs, firsts])
    assert signalled(users.admin, scanner_id=bobs) == [bobs]
    assert signalled(users.bob, scanner_id=bobs, symbol="UPPY") == [bobs]


def test_an_admin_acts_on_every_users_scanner_which_stays_its_owners(
    client: TestClient, users: Users
) -> None:
    scanner_id = scanner_of(client, users.alice)
    renamed = ok(client.put(f"/v1/scanners/{scanner_id}", json={**SCANNER, "name": "x"}, headers=users.admin))
    assert (renamed["name"], renamed["owner"]) == ("x", "alice")
    assert (
        ok(client.post(f"/v1/scanners/{scanner_id}/runs", headers=users.admin), 201)["scanner_id"]
        == scanner_id
    )
    assert ok(client.get(f"/v1/scanners/{scanner_id}", headers=users.alice))["name"] == "x"
    assert client.delete(f"/v1/scanners/{scanner_id}", headers=users.admin).status_code == 204
    assert client.get(f"/v1/scanners/{scanner_id}", headers=users.alice).status_code == 404


def test_a_scanner_stored_before_users_existed_is_the_first_admins(
    client: TestClient, users: Users, keys: Keys, container: Container
) -> None:
    scanner_id = scanner_of(client, keys.header("trader"))
    stored = container.store.get(kinds.SCANNERS, scanner_id)
    assert stored is not None and stored.pop("owner") == FIRST_ADMIN
    container.store.put(kinds.SCANNERS, scanner_id, stored)  # as written before owners were
    assert ok(client.get(f"/v1/scanners/{scanner_id}", headers=keys.header("viewer")))["owner"] == FIRST_ADMIN
    assert client.get(f"/v1/scanners/{scanner_id}", headers=users.alice).status_code == 404
    assert ok(client.get("/v1/scanners", headers=users.alice)) == []


def test_a_users_scanner_still_runs_on_its_schedule(
    client: TestClient, users: Users, container: Container
) -> None:
    scanner_id = scanner_of(client, users.alice, schedule="rate(1 minute)", run_on_refresh=False)
    now = datetime.now(UTC)
    fired = scanners_run(Scheduler(container), now + timedelta(seconds=61))  # as the platform, not Alice
    assert fired == [f"run_scheduled_scanner:{scanner_id}"]
    runs = ok(client.get(f"/v1/scanners/{scanner_id}/runs", headers=users.alice))
    assert [r["trigger"] for r in runs] == ["schedule"]
    assert client.get(f"/v1/scanners/{scanner_id}/runs", headers=users.bob).status_code == 404


def test_crossovers_and_patterns_are_no_ones_and_shown_to_every_user(
    client: TestClient, users: Users, container: Container
) -> None:
    """Analytics' signals come of the shared bars (and the stream shows them to every client);
    only scanners' signals are a user's."""
    at = datetime(2024, 2, 1, tzinfo=UTC)
    crossover = Signal(
        source="analytics",
        symbol="UPPY",
        timeframe=Timeframe.D1,
        ts=at,
        name="golden_cross",
        values={},
        detected_at=at,
    )
    container.signal_log.append_signals([crossover.record()])
    alices = scanner_of(client, users.alice)
    ok(client.post(f"/v1/scanners/{alices}/runs", headers=users.alice), 201)
    for_bob = ok(client.get("/v1/signals", headers=users.bob))
    assert {s["source"] for s in for_bob} == {"analytics"}  # the bars' own patterns, and:
    assert "golden_cross" in {s["name"] for s in for_bob}
    for_alice = ok(client.get("/v1/signals", headers=users.alice))
    assert sorted({s["source"] for s in for_alice}) == ["analytics", "scanner"]
    # Asked for one scanner's signals, none of Analytics' come along.
    only = ok(client.get("/v1/signals", params={"scanner_id": alices}, headers=users.alice))
    assert {s["source"] for s in only} == {"scanner"}
