"""Strategies a user defines without Python (saved rules) or in a strategies folder, over the HTTP
API of the local app: saved, checked, backtested like the built-in ones."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_backtests_api import get, goog, submit

__all__ = ["goog"]  # the fixture, imported for these tests

OVERSOLD = {
    "name": "oversold",
    "summary": "RSI reversion, as rules",
    "rules": {"entry": ["rsi(14) < 30"], "exit": ["rsi(14) > 70"]},
}


def save(client: TestClient, keys: Keys, draft: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post("/v1/strategies", json=draft, headers=keys.header("trader"))
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def stats_of(client: TestClient, keys: Keys, **request: Any) -> dict[str, Any]:
    job = get(client, keys, f"/v1/backtests/{submit(client, keys, **request)['backtest_id']}")
    assert job["status"] == "completed", job
    stats: dict[str, Any] = job["outcome"]["stats"]
    return stats


def test_a_saved_rule_strategy_backtests_like_the_python_one(
    client: TestClient, keys: Keys, goog: None
) -> None:
    saved = save(client, keys, OVERSOLD)
    assert saved["rules"]["side"] == "long" and saved["created_by"]
    listed = {s["name"]: s for s in get(client, keys, "/v1/strategies")}
    assert listed["oversold"]["kind"] == "rules" and listed["sma_cross"]["kind"] == "python"
    assert "entry" not in listed["oversold"]["params"]["properties"]  # overridable: the scalars only

    as_rules = stats_of(client, keys, strategy="oversold", params={})
    as_python = stats_of(client, keys, strategy="rsi_reversion", params={})
    assert as_rules["trades"] > 5
    assert as_rules == as_python

    half = stats_of(client, keys, strategy="oversold", params={"fraction": 0.5})
    half_python = stats_of(client, keys, strategy="rsi_reversion", params={"fraction": 0.5})
    assert half == half_python and half["exposure_time_pct"] == as_rules["exposure_time_pct"]


def test_a_job_runs_the_definition_it_was_submitted_with(client: TestClient, keys: Keys, goog: None) -> None:
    save(client, keys, OVERSOLD)
    job = submit(client, keys, strategy="oversold", params={"stop_loss_pct": 3})
    assert job["kind"] == "rules"
    assert job["params"]["entry"] == ["rsi(14) < 30"] and job["params"]["stop_loss_pct"] == 3
    changed = {**OVERSOLD, "rules": {**OVERSOLD["rules"], "entry": ["rsi(14) < 20"]}}
    response = client.put("/v1/strategies/oversold", json=changed, headers=keys.header("trader"))
    assert response.status_code == 200, response.text
    assert response.json()["created_at"] == get(client, keys, "/v1/strategies/oversold")["created_at"]
    assert client.delete("/v1/strategies/oversold", headers=keys.header("trader")).status_code == 204
    kept = get(client, keys, f"/v1/backtests/{job['backtest_id']}")
    assert kept["params"]["entry"] == ["rsi(14) < 30"]  # what it ran, whatever happened since
    get(client, keys, "/v1/strategies/oversold", status=404)
    response = client.post(
        "/v1/backtests", json={"strategy": "oversold", "symbols": ["GOOG"]}, headers=keys.header("trader")
    )
    assert response.status_code == 422 and "unknown strategy 'oversold'" in response.text


@pytest.mark.parametrize(
    ("draft", "status", "message"),
    [
        ({**OVERSOLD, "rules": {"entry": ["rsii(14) < 30"], "exit": []}}, 422, "entry[0]"),
        ({**OVERSOLD, "rules": {"entry": ["rsi(14) < 30"], "exit": ["close"]}}, 422, "exit[0]"),
        ({**OVERSOLD, "rules": {"entry": ["rsi(14) < 30"]}}, 422, "a way out"),
        ({**OVERSOLD, "rules": {**OVERSOLD["rules"], "fraction": 2}}, 422, "fraction"),
        ({**OVERSOLD, "rules": {**OVERSOLD["rules"], "stop_loss_pct": "NaN"}}, 422, "stop_loss_pct"),
        ({**OVERSOLD, "name": "Bad Name"}, 422, "name"),
        ({**OVERSOLD, "name": "sma_cross"}, 409, "sma_cross is the name of a strategy in code"),
    ],
)
def test_bad_definitions_are_refused_naming_the_problem(
    client: TestClient, keys: Keys, draft: dict[str, Any], status: int, message: str
) -> None:
    response = client.post("/v1/strategies", json=draft, headers=keys.header("trader"))
    assert response.status_code == status and message in response.text, response.text
    assert [s for s in get(client, keys, "/v1/strategies") if s["kind"] == "rules"] == []


def test_a_name_is_saved_once_and_kept(client: TestClient, keys: Keys) -> None:
    save(client, keys, OVERSOLD)
    assert "exists" in str(save(client, keys, OVERSOLD, status=409))
    renamed = {**OVERSOLD, "name": "other"}
    response = client.put("/v1/strategies/oversold", json=renamed, headers=keys.header("trader"))
    assert response.status_code == 422 and "keeps its name" in response.text
    assert client.put("/v1/strategies/absent", json=renamed, headers=keys.header("trader")).status_code == 404
    assert client.post("/v1/strategies", json=OVERSOLD, headers=keys.header("viewer")).status_code == 403


def test_a_key_learns_its_own_role_to_show_only_what_it_may_do(client: TestClient, keys: Keys) -> None:
    for role in ("viewer", "trader", "admin"):
        me = client.get("/v1/me", headers=keys.header(role))
        assert me.status_code == 200 and me.json()["role"] == role
        assert getattr(keys, role).startswith(f"tsk_{me.json()['key_id']}")
    assert client.get("/v1/me").status_code == 401
