"""Parameter sweeps over the HTTP API of the local app: submitted (202), run in a process pool,
every backtest's statistics kept in the lake, ranked, mapped for two parameters; each result
equal to the same backtest run on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_backtests_api import Boom, get, goog
from trading_system.strategies import registry
from trading_system.strategies.domain import Strategy

__all__ = ["goog"]

GRID = {"n1": [5, 10, 20], "n2": [10, 30, 60]}  # (10, 10), (20, 10) are refused: n1 must be < n2


def sweep(client: TestClient, keys: Keys, status: int = 202, **changes: Any) -> dict[str, Any]:
    body = {
        "strategy": "sma_cross",
        "sweep": {"grid": GRID, "rank_by": "sharpe_ratio"},
        "symbols": ["GOOG", "TWIN"],
        "commission": 0.002,
        **changes,
    }
    response = client.post("/v1/sweeps", json=body, headers=keys.header("trader"))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_sweep_ranks_every_combination_and_each_equals_its_own_backtest(
    client: TestClient, keys: Keys, goog: None
) -> None:
    queued = sweep(client, keys)
    assert queued["status"] == "queued" and len(queued["combinations"]) == 7
    assert [s["values"] for s in queued["skipped"]] == [{"n1": 10, "n2": 10}, {"n1": 20, "n2": 10}]
    job = get(client, keys, f"/v1/sweeps/{queued['sweep_id']}")
    assert job["status"] == "completed", job
    assert job["outcome"]["backtests"] == 14 and job["outcome"]["vectorised"] == 14

    ranking = get(client, keys, f"/v1/sweeps/{job['sweep_id']}/ranking")
    assert len(ranking) == 7 and [r["rank"] for r in ranking] == list(range(1, 8))
    means = [r["mean"] for r in ranking]
    assert means == sorted(means, reverse=True)
    assert job["outcome"]["best"][0] == ranking[0]
    # The best combination, as an ordinary backtest on each symbol: the same Sharpe ratio.
    best = ranking[0]["values"]
    sharpes = []
    for symbol in ("GOOG", "TWIN"):
        body = {"strategy": "sma_cross", "params": best, "symbols": [symbol], "commission": 0.002}
        backtest_id = client.post("/v1/backtests", json=body, headers=keys.header("trader")).json()[
            "backtest_id"
        ]
        sharpes.append(get(client, keys, f"/v1/backtests/{backtest_id}")["outcome"]["stats"]["sharpe_ratio"])
    assert ranking[0]["mean"] == pytest.approx(sum(sharpes) / 2, rel=1e-9)

    by_return = get(client, keys, f"/v1/sweeps/{job['sweep_id']}/ranking?rank_by=return_pct&limit=3")
    assert len(by_return) == 3 and by_return[0]["mean"] >= by_return[1]["mean"] >= by_return[2]["mean"]

    heat = get(client, keys, f"/v1/sweeps/{job['sweep_id']}/heatmap?x=n1&y=n2")
    assert heat["x_values"] == [5, 10, 20] and heat["y_values"] == [10, 30, 60]
    cells = {
        (x, y): heat["values"][j][i]
        for j, y in enumerate(heat["y_values"])
        for i, x in enumerate(heat["x_values"])
    }
    assert cells[(10, 10)] is None and cells[(20, 10)] is None  # refused combinations
    assert cells[(best["n1"], best["n2"])] == pytest.approx(ranking[0]["mean"], rel=1e-12)
    bad = client.get(f"/v1/sweeps/{job['sweep_id']}/heatmap?x=n1&y=n3", headers=keys.header("viewer"))
    assert bad.status_code == 422 and "n3" in bad.text

    listed = get(client, keys, "/v1/sweeps")
    assert [s["sweep_id"] for s in listed] == [job["sweep_id"]]
    assert client.delete(f"/v1/sweeps/{job['sweep_id']}", headers=keys.header("trader")).status_code == 204
    get(client, keys, f"/v1/sweeps/{job['sweep_id']}", status=404)


def test_a_random_sample_is_drawn_again_from_the_same_seed(
    client: TestClient, keys: Keys, goog: None
) -> None:
    spec = {
        "random": {"n1": {"low": 2, "high": 30, "int": True}, "n2": {"low": 40, "high": 120, "int": True}},
        "samples": 6,
    }
    first = sweep(client, keys, sweep=spec, seed=7, symbols=["GOOG"])
    again = sweep(client, keys, sweep=spec, seed=7, symbols=["GOOG"])
    other = sweep(client, keys, sweep=spec, seed=8, symbols=["GOOG"])
    assert first["combinations"] == again["combinations"] != other["combinations"]
    assert all(2 <= c["n1"] <= 30 and 40 <= c["n2"] <= 120 for c in first["combinations"])


def test_a_saved_rule_strategy_can_be_swept(client: TestClient, keys: Keys, goog: None) -> None:
    draft = {"name": "oversold", "rules": {"entry": ["rsi(14) < 30"], "exit": ["rsi(14) > 70"]}}
    assert client.post("/v1/strategies", json=draft, headers=keys.header("trader")).status_code == 201
    job = sweep(
        client, keys, strategy="oversold", sweep={"grid": {"fraction": [0.25, 0.5, 1.0]}}, symbols=["GOOG"]
    )
    done = get(client, keys, f"/v1/sweeps/{job['sweep_id']}")
    assert done["status"] == "completed" and done["kind"] == "rules"
    assert done["base_params"]["entry"] == ["rsi(14) < 30"]
    ranking = get(client, keys, f"/v1/sweeps/{job['sweep_id']}/ranking?rank_by=exposure_time_pct")
    assert {r["values"]["fraction"] for r in ranking} == {0.25, 0.5, 1.0}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"sweep": {"grid": {"n1": list(range(1, 101)), "n2": list(range(101, 201))}}},
            "the sweep has 10,000 parameter combinations; the ceiling is 1,000",
        ),
        ({"sweep": {"grid": {"n3": [1, 2]}}}, "n3"),
        (
            {"sweep": {"grid": {"n1": [30, 40], "n2": [10, 20]}}},
            "none of the 4 parameter combinations is valid",
        ),
        ({"sweep": {"grid": GRID, "rank_by": "sharpe"}}, "did you mean 'sharpe_ratio'"),
        ({"sweep": {"grid": {}}}, "at least one parameter"),
        ({"strategy": "sma_crosss"}, "did you mean 'sma_cross'"),
        ({"symbols": ["MSFT"]}, "symbol MSFT is not registered"),
    ],
)
def test_bad_sweeps_are_refused_and_nothing_is_queued(
    client: TestClient, keys: Keys, goog: None, changes: dict[str, Any], message: str
) -> None:
    refused = sweep(client, keys, status=422, **changes)
    assert message in str(refused), refused
    assert get(client, keys, "/v1/sweeps") == []


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    known: Mapping[str, type[Strategy]] = {**registry.available(), "boom": Boom}
    monkeypatch.setattr(registry, "available", lambda folder=None: known)


def test_a_strategy_that_raises_fails_the_sweep_with_no_results(
    client: TestClient, keys: Keys, goog: None, boom: None
) -> None:
    job = sweep(client, keys, strategy="boom", sweep={"grid": {"after": [50, 100]}}, symbols=["GOOG"])
    failed = get(client, keys, f"/v1/sweeps/{job['sweep_id']}")
    assert failed["status"] == "failed" and "divided by zero" in failed["error"]
    conflict = client.get(f"/v1/sweeps/{job['sweep_id']}/ranking", headers=keys.header("viewer"))
    assert conflict.status_code == 409
