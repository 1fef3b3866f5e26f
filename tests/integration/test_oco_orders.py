"""One-cancels-other groups: a stop-loss and a take-profit on the same shares are both accepted
(they share what they hold back, since only one will fill), the first to fill cancels the
other, a bar that reaches both fills only the one placed first, and a market exit in the group
cancels both legs at once. The position never goes short and nothing stays held back. And a bar
far from the previous close (a bad tick) fills nothing, unless the account opts out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys

_days: dict[int, int] = {}  # per test client (a fresh data folder): the last day ingested


def bar(client: TestClient, keys: Keys, low: float, high: float, close: float) -> None:
    day = _days[id(client)] = _days.get(id(client), 1) + 1
    middle = round((low + high) / 2, 2)  # opens inside the bar: no gap through a leg's price
    row = {
        "ts": f"2024-01-{day:02d}",
        "open": middle,
        "high": high,
        "low": low,
        "close": close,
        "volume": 1e6,
    }
    body = {"timeframe": "1d", "symbol": "OCO", "bars": [row]}
    response = client.post("/v1/bars", json=body, headers=keys.header("trader"))
    assert response.status_code == 201, response.text


def order(client: TestClient, keys: Keys, status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"symbol": "OCO", "account_id": "oco", "time_in_force": "gtc", **fields}
    response = client.post("/v1/orders", json=body, headers=keys.header("trader"))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def get_order(client: TestClient, keys: Keys, order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/v1/orders/{order_id}", headers=keys.header("viewer")).json()
    return found


def position(client: TestClient, keys: Keys) -> float:
    positions = client.get("/v1/positions?account_id=oco", headers=keys.header("viewer")).json()
    return sum(float(p["qty"]) for p in positions if p["symbol"] == "OCO")


@pytest.fixture
def long_ten(client: TestClient, keys: Keys) -> None:
    assert (
        client.post("/v1/symbols", json={"symbol": "OCO"}, headers=keys.header("trader")).status_code == 201
    )
    account = {"account_id": "oco", "starting_cash": "10000"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    bar(client, keys, 99, 101, 100)
    bought = order(client, keys, side="buy", type="market", qty=10)
    assert bought["status"] == "filled", bought
    assert position(client, keys) == 10


def bracket(
    client: TestClient, keys: Keys, group: str | None = "b1"
) -> tuple[dict[str, Any], dict[str, Any]]:
    stop = order(client, keys, side="sell", type="stop", qty=10, stop_price=90, oco_group=group)
    take = order(
        client, keys, status=201, side="sell", type="limit", qty=10, limit_price=110, oco_group=group
    )
    return stop, take


def test_both_legs_are_accepted_and_the_first_to_fill_cancels_the_other(
    client: TestClient, keys: Keys, long_ten: None
) -> None:
    stop, take = bracket(client, keys)
    assert stop["status"] == take["status"] == "accepted"
    bar(client, keys, 95, 105, 100)  # neither
    bar(client, keys, 100, 112, 111)  # the take-profit
    filled, canceled = get_order(client, keys, take["id"]), get_order(client, keys, stop["id"])
    assert filled["status"] == "filled" and float(filled["filled_avg_price"]) == 110
    assert canceled["status"] == "canceled" and "one-cancels-other" in canceled["cancel_reason"]
    assert position(client, keys) == 0
    bar(client, keys, 80, 100, 85)  # the stop's level, later: nothing left to sell short
    assert position(client, keys) == 0
    # nothing stays held back: the ten shares can be bought and sold again in full
    order(client, keys, side="buy", type="market", qty=10)
    again = order(client, keys, side="sell", type="limit", qty=10, limit_price=200)
    assert again["status"] == "accepted", again


def test_a_bar_that_reaches_both_fills_the_one_placed_first(
    client: TestClient, keys: Keys, long_ten: None
) -> None:
    stop, take = bracket(client, keys)
    bar(client, keys, 85, 115, 100)
    assert get_order(client, keys, stop["id"])["status"] == "filled"
    assert get_order(client, keys, take["id"])["status"] == "canceled"
    assert position(client, keys) == 0


def test_a_market_exit_in_the_group_cancels_both_legs(client: TestClient, keys: Keys, long_ten: None) -> None:
    stop, take = bracket(client, keys)
    exit_ = order(client, keys, side="sell", type="market", qty=10, oco_group="b1")
    assert exit_["status"] == "filled"
    assert get_order(client, keys, stop["id"])["status"] == "canceled"
    assert get_order(client, keys, take["id"])["status"] == "canceled"
    assert position(client, keys) == 0


def test_without_a_group_the_second_leg_is_refused(client: TestClient, keys: Keys, long_ten: None) -> None:
    order(client, keys, side="sell", type="stop", qty=10, stop_price=90)
    refused = order(client, keys, status=422, side="sell", type="limit", qty=10, limit_price=110)
    assert "insufficient position" in refused["order"]["reject_reason"]


def test_the_group_is_part_of_what_makes_a_client_order_id_the_same_order(
    client: TestClient, keys: Keys, long_ten: None
) -> None:
    order(
        client, keys, side="sell", type="stop", qty=10, stop_price=90, oco_group="b1", client_order_id="leg"
    )
    again = {"side": "sell", "type": "stop", "qty": 10, "stop_price": 90, "client_order_id": "leg"}
    order(client, keys, status=409, **again, oco_group="b2")


# -- a bad tick is not a price (issue 9, part 2) ----------------------------------------------------


def test_a_fill_far_from_the_previous_close_is_refused_unless_the_account_opts_out(
    client: TestClient, keys: Keys, long_ten: None
) -> None:
    stop = order(client, keys, side="sell", type="stop", qty=10, stop_price=90)
    bar(client, keys, 0.5, 2, 1)  # a bad tick: 100 -> 1, a hundredfold drop
    refused = get_order(client, keys, stop["id"])
    assert refused["status"] == "canceled" and "max_price_jump" in refused["cancel_reason"], refused
    assert position(client, keys) == 10  # the ten shares were not sold at 1

    # from 1 back to 400: refused on the default account, filled on one that opts out
    body = {"account_id": "wild", "starting_cash": "10000", "settings": {"max_price_jump": None}}
    assert client.post("/v1/accounts", json=body, headers=keys.header("admin")).status_code == 201
    stops = {
        account: order(client, keys, side="buy", type="stop", qty=1, stop_price=300, account_id=account)
        for account in ("oco", "wild")
    }
    assert all(placed["status"] == "accepted" for placed in stops.values())
    bar(client, keys, 300, 450, 400)
    assert get_order(client, keys, stops["oco"]["id"])["status"] == "canceled"
    assert get_order(client, keys, stops["wild"]["id"])["status"] == "filled"


def test_a_move_within_the_factor_fills(client: TestClient, keys: Keys, long_ten: None) -> None:
    stop = order(client, keys, side="sell", type="stop", qty=10, stop_price=90)
    bar(client, keys, 40, 60, 50)  # halved: within 10x
    assert get_order(client, keys, stop["id"])["status"] == "filled"
