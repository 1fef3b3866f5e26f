"""Every route, tried with another user's ids (issue 10, part 2).

Alice (a trader) owns an account, an order on it, a scanner, a strategy, a backtest, a sweep, a
deployment, a webhook, and an alert of her account's fills with a delivery. Bob, also a trader,
asks for each of them on every route of the catalog that names one: each answer is the 404 an
unknown id gets, word for word, and what Alice owns is unchanged afterwards. Lists show Bob none
of it; an admin sees all of it.

Every HTTP route of the catalog must be classified below, so a new route cannot skip the question.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backtesting.test import GOOG
from fastapi.testclient import TestClient

from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import CATALOG, Http
from trading_system.config import load_settings
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel.principal import Role

ACCOUNT = "alice-desk"
EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class World:
    client: TestClient
    container: Container
    admin: dict[str, str]
    alice: dict[str, str]
    bob: dict[str, str]
    ids: dict[str, str]


def key(container: Container, role: Role, owner: str) -> dict[str, str]:
    issued = container.bus.execute(CreateApiKey(role=role, label=owner, owner=owner))
    return {"x-api-key": issued.api_key}


def created(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from trading_system.entrypoints.local.runner import build_local_app

    data_dir: Path = tmp_path_factory.mktemp("ownership") / "data"
    container = bootstrap(load_settings(data_dir=data_dir))
    admin = key(container, Role.ADMIN, "root")
    alice = key(container, Role.TRADER, "alice")
    bob = key(container, Role.TRADER, "bob")
    with TestClient(build_local_app(container, background=False)) as client:
        bars = [
            {"ts": ts.strftime("%Y-%m-%d"), "open": o, "high": h, "low": lo, "close": c, "volume": v}
            for ts, o, h, lo, c, v in zip(
                GOOG.index[:300], GOOG.Open, GOOG.High, GOOG.Low, GOOG.Close, GOOG.Volume, strict=False
            )
        ]
        created(client.post("/v1/symbols", json={"symbol": "GOOG"}, headers=admin))
        created(
            client.post("/v1/bars", json={"timeframe": "1d", "symbol": "GOOG", "bars": bars}, headers=admin)
        )
        account = {"account_id": ACCOUNT, "starting_cash": "100000", "owner": "alice"}
        created(client.post("/v1/accounts", json=account, headers=admin))
        order = {
            "account_id": ACCOUNT,
            "symbol": "GOOG",
            "side": "buy",
            "type": "limit",
            "qty": "1",
            "limit_price": "1",
            "time_in_force": "gtc",
        }
        order_id = created(client.post("/v1/orders", json=order, headers=alice))["id"]
        scanner = {"name": "alice scan", "rules": ["close > 1"], "symbols": ["GOOG"], "timeframe": "1d"}
        scanner_id = created(client.post("/v1/scanners", json=scanner, headers=alice))["scanner_id"]
        created(client.post(f"/v1/scanners/{scanner_id}/runs", headers=alice))
        external = {"name": "alice tv", "kind": "external", "timeframe": "1d"}
        external_id = created(client.post("/v1/scanners", json=external, headers=alice))["scanner_id"]
        created(client.post(f"/v1/scanners/{external_id}/signals", json={"symbol": "GOOG"}, headers=alice))
        draft = {"name": "alice_rules", "rules": {"entry": ["rsi(14) < 30"], "exit": ["rsi(14) > 70"]}}
        created(client.post("/v1/strategies", json=draft, headers=alice))
        run = {"strategy": "sma_cross", "params": {"n1": 10, "n2": 20}, "symbols": ["GOOG"]}
        backtest_id = created(client.post("/v1/backtests", json=run, headers=alice), 202)["backtest_id"]
        sweep = {
            "strategy": "sma_cross",
            "sweep": {"grid": {"n1": [5, 10], "n2": [20, 30]}, "rank_by": "sharpe_ratio"},
            "symbols": ["GOOG"],
        }
        sweep_id = created(client.post("/v1/sweeps", json=sweep, headers=alice), 202)["sweep_id"]
        deployment = {
            "strategy": "alice_rules",
            "symbols": ["GOOG"],
            "timeframe": "1d",
            "account_id": ACCOUNT,
        }
        deployment_id = created(client.post("/v1/deployments", json=deployment, headers=alice))[
            "deployment_id"
        ]
        hook = {
            "name": "alice hook",
            "account_id": ACCOUNT,
            "order": {"symbol": "GOOG", "side": "buy", "qty": "1"},
        }
        webhook_id = created(client.post("/v1/webhooks", json=hook, headers=alice))["webhook_id"]
        # port 9 on loopback refuses connections; nothing is sent here (Bob is refused before any try)
        alert = {
            "name": "alice fills",
            "topic": "fills",
            "source_id": ACCOUNT,
            "target": {"kind": "url", "url": "http://127.0.0.1:9/alice"},
        }
        alert_id = created(client.post("/v1/alerts", json=alert, headers=alice))["alert_id"]
        delivery_id = delivery_of(container, alert_id)
        ids = {
            "account_id": ACCOUNT,
            "order_id": order_id,
            "scanner_id": scanner_id,
            "external_scanner_id": external_id,
            "name": "alice_rules",
            "backtest_id": backtest_id,
            "sweep_id": sweep_id,
            "deployment_id": deployment_id,
            "webhook_id": webhook_id,
            "alert_id": alert_id,
            "delivery_id": delivery_id,
        }
        yield World(client, container, admin, alice, bob, ids)


def delivery_of(container: Container, alert_id: str) -> str:
    """A delivery of the alert, as sending a fill on Alice's account makes it (not yet tried)."""
    from trading_system.alerts.domain import new_delivery
    from trading_system.kernel.messages import Envelope

    alert = container.alerts.get(alert_id)
    assert alert is not None
    sample = json.loads((EVENTS / "bus" / "OrderFilled.json").read_text())["detail"]
    sample["payload"]["account_id"] = ACCOUNT
    delivery = new_delivery(alert, Envelope.model_validate(sample))
    container.deliveries.put(delivery)
    delivery_id: str = delivery.delivery_id
    return delivery_id


Request = tuple[str, str, dict[str, Any] | None]
Ask = Callable[[dict[str, str]], Request]

# Routes that name something of Alice's, and the request that names it. `{x}` is Alice's id x.
OWNED: dict[str, Ask] = {
    "POST /v1/orders": lambda ids: (
        "POST",
        "/v1/orders",
        {"account_id": ids["account_id"], "symbol": "GOOG", "side": "buy", "type": "market", "qty": "1"},
    ),
    "GET /v1/orders": lambda ids: ("GET", f"/v1/orders?account_id={ids['account_id']}", None),
    "GET /v1/orders/{order_id}": lambda ids: ("GET", f"/v1/orders/{ids['order_id']}", None),
    "DELETE /v1/orders/{order_id}": lambda ids: ("DELETE", f"/v1/orders/{ids['order_id']}", None),
    "GET /v1/orders/{order_id}/events": lambda ids: ("GET", f"/v1/orders/{ids['order_id']}/events", None),
    "GET /v1/positions": lambda ids: ("GET", f"/v1/positions?account_id={ids['account_id']}", None),
    "GET /v1/account": lambda ids: ("GET", f"/v1/account?account_id={ids['account_id']}", None),
    "GET /v1/fills": lambda ids: ("GET", f"/v1/fills?account_id={ids['account_id']}", None),
    "GET /v1/pnl": lambda ids: ("GET", f"/v1/pnl?account_id={ids['account_id']}", None),
    "GET /v1/scanners/{scanner_id}": lambda ids: ("GET", f"/v1/scanners/{ids['scanner_id']}", None),
    "PUT /v1/scanners/{scanner_id}": lambda ids: (
        "PUT",
        f"/v1/scanners/{ids['scanner_id']}",
        {"name": "taken over", "rules": ["close > 2"], "symbols": ["GOOG"], "timeframe": "1d"},
    ),
    "DELETE /v1/scanners/{scanner_id}": lambda ids: ("DELETE", f"/v1/scanners/{ids['scanner_id']}", None),
    "POST /v1/scanners/{scanner_id}/runs": lambda ids: (
        "POST",
        f"/v1/scanners/{ids['scanner_id']}/runs",
        None,
    ),
    "GET /v1/scanners/{scanner_id}/runs": lambda ids: ("GET", f"/v1/scanners/{ids['scanner_id']}/runs", None),
    "POST /v1/scanners/{scanner_id}/signals": lambda ids: (
        "POST",
        f"/v1/scanners/{ids['external_scanner_id']}/signals",
        {"symbol": "GOOG", "values": {"close": 1}},
    ),
    "GET /v1/signals": lambda ids: ("GET", f"/v1/signals?scanner_id={ids['scanner_id']}", None),
    "GET /v1/strategies/{name}": lambda ids: ("GET", f"/v1/strategies/{ids['name']}", None),
    "PUT /v1/strategies/{name}": lambda ids: (
        "PUT",
        f"/v1/strategies/{ids['name']}",
        {"name": ids["name"], "rules": {"entry": ["rsi(14) < 20"], "exit": ["rsi(14) > 80"]}},
    ),
    "DELETE /v1/strategies/{name}": lambda ids: ("DELETE", f"/v1/strategies/{ids['name']}", None),
    "POST /v1/backtests": lambda ids: (
        "POST",
        "/v1/backtests",
        {"strategy": ids["name"], "symbols": ["GOOG"]},
    ),
    "GET /v1/backtests/{backtest_id}": lambda ids: ("GET", f"/v1/backtests/{ids['backtest_id']}", None),
    "GET /v1/backtests/{backtest_id}/trades": lambda ids: (
        "GET",
        f"/v1/backtests/{ids['backtest_id']}/trades",
        None,
    ),
    "GET /v1/backtests/{backtest_id}/equity": lambda ids: (
        "GET",
        f"/v1/backtests/{ids['backtest_id']}/equity",
        None,
    ),
    "DELETE /v1/backtests/{backtest_id}": lambda ids: ("DELETE", f"/v1/backtests/{ids['backtest_id']}", None),
    "GET /v1/sweeps/{sweep_id}": lambda ids: ("GET", f"/v1/sweeps/{ids['sweep_id']}", None),
    "GET /v1/sweeps/{sweep_id}/ranking": lambda ids: ("GET", f"/v1/sweeps/{ids['sweep_id']}/ranking", None),
    "GET /v1/sweeps/{sweep_id}/heatmap": lambda ids: (
        "GET",
        f"/v1/sweeps/{ids['sweep_id']}/heatmap?x=n1&y=n2",
        None,
    ),
    "DELETE /v1/sweeps/{sweep_id}": lambda ids: ("DELETE", f"/v1/sweeps/{ids['sweep_id']}", None),
    "POST /v1/deployments": lambda ids: (
        "POST",
        "/v1/deployments",
        {"strategy": "sma_cross", "symbols": ["GOOG"], "timeframe": "1d", "account_id": ids["account_id"]},
    ),
    "GET /v1/deployments/{deployment_id}": lambda ids: (
        "GET",
        f"/v1/deployments/{ids['deployment_id']}",
        None,
    ),
    "GET /v1/deployments/{deployment_id}/parity": lambda ids: (
        "GET",
        f"/v1/deployments/{ids['deployment_id']}/parity",
        None,
    ),
    "POST /v1/deployments/{deployment_id}/start": lambda ids: (
        "POST",
        f"/v1/deployments/{ids['deployment_id']}/start",
        None,
    ),
    "POST /v1/deployments/{deployment_id}/pause": lambda ids: (
        "POST",
        f"/v1/deployments/{ids['deployment_id']}/pause",
        None,
    ),
    "POST /v1/deployments/{deployment_id}/stop": lambda ids: (
        "POST",
        f"/v1/deployments/{ids['deployment_id']}/stop",
        None,
    ),
    "POST /v1/webhooks": lambda ids: (
        "POST",
        "/v1/webhooks",
        {
            "name": "bob's",
            "account_id": ids["account_id"],
            "order": {"symbol": "GOOG", "side": "buy", "qty": "1"},
        },
    ),
    "DELETE /v1/webhooks/{webhook_id}": lambda ids: ("DELETE", f"/v1/webhooks/{ids['webhook_id']}", None),
    # An alert on Alice's account: the 422 an unknown source gets (source_id names it).
    "POST /v1/alerts": lambda ids: (
        "POST",
        "/v1/alerts",
        {
            "name": "bob's",
            "topic": "fills",
            "source_id": ids["account_id"],
            "target": {"kind": "url", "url": "http://127.0.0.1:9/bob"},
        },
    ),
    "GET /v1/alerts/{alert_id}": lambda ids: ("GET", f"/v1/alerts/{ids['alert_id']}", None),
    "DELETE /v1/alerts/{alert_id}": lambda ids: ("DELETE", f"/v1/alerts/{ids['alert_id']}", None),
    "GET /v1/alerts/{alert_id}/deliveries": lambda ids: (
        "GET",
        f"/v1/alerts/{ids['alert_id']}/deliveries",
        None,
    ),
    "POST /v1/alerts/{alert_id}/deliveries/{delivery_id}/retry": lambda ids: (
        "POST",
        f"/v1/alerts/{ids['alert_id']}/deliveries/{ids['delivery_id']}/retry",
        None,
    ),
}

# Lists: Bob sees none of Alice's things in them; the admin sees them.
LISTS: dict[str, tuple[str, str]] = {
    "GET /v1/accounts": ("/v1/accounts", "account_id"),
    "GET /v1/scanners": ("/v1/scanners", "scanner_id"),
    "GET /v1/strategies": ("/v1/strategies", "name"),
    "GET /v1/backtests": ("/v1/backtests", "backtest_id"),
    "GET /v1/sweeps": ("/v1/sweeps", "sweep_id"),
    "GET /v1/deployments": ("/v1/deployments", "deployment_id"),
    "GET /v1/webhooks": ("/v1/webhooks", "webhook_id"),
    "GET /v1/alerts": ("/v1/alerts", "alert_id"),
}

# Shared by everyone (market data, symbols, indicators), about the caller itself, public, or
# for admins only (a trader such as Bob gets a 403 from the role before any id is looked at).
NOT_OWNED = {
    "GET /v1/health",
    "GET /v1/me",
    "GET /v1/symbols",
    "POST /v1/symbols",
    "GET /v1/symbols/{symbol}",
    "POST /v1/bars",
    "POST /v1/bars/files",
    "GET /v1/bars/{symbol}",
    "GET /v1/symbols/{symbol}/corporate-actions",
    "POST /v1/symbols/{symbol}/corporate-actions",
    "GET /v1/indicators/{symbol}",
    "GET /v1/trading/status",
    "POST /v1/scanners",
    "POST /v1/strategies",
    "POST /v1/sweeps",
    "POST /v1/hooks/{webhook_id}",  # the webhook's secret is its authentication (test_webhooks_api.py)
}
ADMIN_ONLY = {
    "POST /v1/keys",
    "GET /v1/keys",
    "GET /v1/schedules",  # platform-wide: every context's schedules and their failures
    "DELETE /v1/keys/{key_id}",
    "POST /v1/accounts",
    "POST /v1/accounts/{account_id}/resets",
    "POST /v1/accounts/{account_id}/resume",
    "POST /v1/accounts/{account_id}/readers",
    "DELETE /v1/accounts/{account_id}/readers/{user}",
    "GET /v1/accounts/{account_id}/events",
    "POST /v1/lake/compactions",
    "POST /v1/backfills",
    "GET /v1/backfills",
    "GET /v1/backfills/{backfill_id}",
    "POST /v1/snapshots/{timeframe}/refreshes",
    "POST /v1/trading/halt",
    "POST /v1/trading/resume",
}


def routes() -> dict[str, Role | None]:
    return {f"{f.trigger.method} {f.trigger.path}": f.role for f in CATALOG if isinstance(f.trigger, Http)}


def send(world: World, request: Request, headers: dict[str, str]) -> Any:
    method, path, body = request
    return world.client.request(method, path, json=body, headers=headers)


def unknown(ids: dict[str, str]) -> dict[str, str]:
    """The same ids, none of which exists (a delivery id still well formed: hex digits and dashes,
    or it would be refused as malformed, a 422, before anything is looked up)."""
    return {name: f"{value}-0" if name == "delivery_id" else f"{value}_nobody" for name, value in ids.items()}


def test_every_route_is_classified() -> None:
    known = set(OWNED) | set(LISTS) | NOT_OWNED | ADMIN_ONLY
    assert set(routes()) - known == set(), "classify the new route(s) in this file"
    assert known - set(routes()) == set(), "a classified route is not in the catalog"
    admin_routes = {route for route, role in routes().items() if role == Role.ADMIN}
    assert admin_routes == ADMIN_ONLY


@pytest.mark.parametrize("route", sorted(OWNED))
def test_another_users_id_answers_as_an_unknown_one(world: World, route: str) -> None:
    ask = OWNED[route]
    theirs = send(world, ask(world.ids), world.bob)
    nothing = send(world, ask(unknown(world.ids)), world.bob)
    # A path's id answers 404; an id in a body (an order's account, a backtest's strategy) the
    # 404 or 422 an unknown one gets. Either way the same status and words, the id aside.
    assert theirs.status_code in (404, 422), f"{route}: {theirs.status_code} {theirs.text}"
    assert nothing.status_code == theirs.status_code, nothing.text
    if "{" in route:
        assert theirs.status_code == 404, theirs.text
    assert masked(theirs.json(), world.ids) == masked(nothing.json(), unknown(world.ids))


def masked(problem: dict[str, Any], ids: dict[str, str]) -> str:
    """The problem's words with the ids named and the request's own marks removed."""
    text = str({k: v for k, v in problem.items() if k not in ("correlation_id", "instance")})
    for name, value in ids.items():
        text = text.replace(value, f"<{name}>")
    return text


def test_what_bob_tried_left_alices_things_as_they_were(world: World) -> None:
    """Runs after the attempts above (pytest keeps the file's order): each of Alice's things
    still answers her, unchanged where Bob tried to change it."""
    for route in sorted(OWNED):
        method, path, _ = OWNED[route](world.ids)
        if method == "GET":
            answer = world.client.get(path, headers=world.alice)
            assert answer.status_code == 200, f"{route}: {answer.text}"
    scanner = world.client.get(f"/v1/scanners/{world.ids['scanner_id']}", headers=world.alice).json()
    assert scanner["name"] == "alice scan"
    order = world.client.get(f"/v1/orders/{world.ids['order_id']}", headers=world.alice).json()
    assert order["status"] in ("accepted", "new", "pending_new")
    deployment = world.client.get(f"/v1/deployments/{world.ids['deployment_id']}", headers=world.alice).json()
    assert deployment["status"] == "running"
    external = world.ids["external_scanner_id"]
    signals = world.client.get(f"/v1/signals?scanner_id={external}", headers=world.alice).json()
    assert [s["values"] for s in signals] == [{}]  # the one she raised; Bob's raised nothing
    hooks = world.client.get("/v1/webhooks", headers=world.alice).json()
    assert world.ids["webhook_id"] in str(hooks)
    page = world.client.get(f"/v1/alerts/{world.ids['alert_id']}/deliveries", headers=world.alice).json()
    (delivery,) = page["deliveries"]  # not retried by Bob: never tried at all
    assert (delivery["delivery_id"], delivery["status"], delivery["attempts"]) == (
        world.ids["delivery_id"],
        "pending",
        0,
    )
    mine = world.client.get("/v1/alerts", headers=world.alice).json()
    assert [a["alert_id"] for a in mine] == [world.ids["alert_id"]]


@pytest.mark.parametrize("route", sorted(LISTS))
def test_lists_show_each_user_their_own(world: World, route: str) -> None:
    path, field = LISTS[route]
    mine = world.ids[field]
    assert mine not in world.client.get(path, headers=world.bob).text
    assert mine in world.client.get(path, headers=world.alice).text
    assert mine in world.client.get(path, headers=world.admin).text


@pytest.mark.parametrize("route", sorted(ADMIN_ONLY - {"POST /v1/keys", "POST /v1/accounts"}))
def test_admin_routes_refuse_a_trader_by_role(world: World, route: str) -> None:
    method, path = route.split(" ")
    path = path.format(
        account_id=ACCOUNT, key_id="whatever", user="carol", timeframe="1d", backfill_id="whatever"
    )
    answer = world.client.request(method, path, json={}, headers=world.bob)
    assert answer.status_code == 403, answer.text
