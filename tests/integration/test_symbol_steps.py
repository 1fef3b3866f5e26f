"""A symbol's tick size and quantity step, given when it is registered (issue 9, part 5): orders
trade whole steps of it, and the listing says both, for the dashboard's decimals."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Keys


def test_a_registered_quantity_step_holds_orders_to_whole_steps(client: TestClient, keys: Keys) -> None:
    trader, admin = keys.header("trader"), keys.header("admin")
    body = {"symbol": "WHOLE", "qty_step": "1", "tick_size": "0.01"}
    registered = client.post("/v1/symbols", json=body, headers=trader)
    assert registered.status_code == 201, registered.text
    assert (registered.json()["qty_step"], registered.json()["tick_size"]) == ("1", "0.01")
    bar = {"ts": "2024-01-02", "open": 10, "high": 10, "low": 10, "close": 10, "volume": 100}
    ingested = client.post(
        "/v1/bars", json={"timeframe": "1d", "symbol": "WHOLE", "bars": [bar]}, headers=trader
    )
    assert ingested.status_code == 201, ingested.text
    assert (
        client.post(
            "/v1/accounts", json={"account_id": "steps", "starting_cash": "1000"}, headers=admin
        ).status_code
        == 201
    )
    order = {"account_id": "steps", "symbol": "WHOLE", "side": "buy", "type": "market"}
    fractional = client.post("/v1/orders", json={**order, "qty": "1.5"}, headers=trader)
    assert fractional.status_code == 422, fractional.text
    (problem,) = fractional.json()["errors"]
    assert problem["field"] == "qty" and "quantity step 1" in problem["reason"]
    assert client.post("/v1/orders", json={**order, "qty": "2"}, headers=trader).status_code == 201


def test_the_same_symbol_with_another_step_is_a_conflict(client: TestClient, keys: Keys) -> None:
    trader = keys.header("trader")
    assert (
        client.post("/v1/symbols", json={"symbol": "FX", "tick_size": "0.00001"}, headers=trader).status_code
        == 201
    )
    assert (
        client.post("/v1/symbols", json={"symbol": "FX", "tick_size": "0.00001"}, headers=trader).status_code
        == 200
    )
    assert (
        client.post("/v1/symbols", json={"symbol": "FX", "tick_size": "0.0001"}, headers=trader).status_code
        == 409
    )
    for bad in ("0", "-1", "abc"):
        refused = client.post("/v1/symbols", json={"symbol": "BAD", "qty_step": bad}, headers=trader)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "qty_step"
