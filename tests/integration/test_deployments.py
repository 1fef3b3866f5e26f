"""A strategy deployed live on a paper account, fed one bar at a time through the HTTP API of
the local app: it decides on each settled bar like the backtest engine does, never doubles an
order, pauses itself when its strategy raises, alerts on stale bars, and survives a restart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import Settings
from trading_system.kernel.messages import Envelope
from trading_system.strategies import registry
from trading_system.strategies.backtest import backtest
from trading_system.strategies.builtin import RsiReversion
from trading_system.strategies.domain import Context, Strategy, StrategyParams
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES
from trading_system.trading.events import BarsSettled

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY = 120  # bars ingested at once before the deployment trades bar by bar
TOTAL = 260


@dataclass
class MovableClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(DAY0)


@pytest.fixture
def container(settings: Settings, clock: MovableClock) -> Container:
    return bootstrap(settings, clock=clock)


def wave(n: int, seed: int) -> list[dict[str, Any]]:
    """Daily bars that swing, so RSI(14) crosses 30 and 70 often."""
    rng = np.random.default_rng(seed)
    close = 100 + 12 * np.sin(np.arange(n) / 6) + np.cumsum(rng.normal(0, 0.8, n))
    open_ = np.concatenate([[close[0]], close[:-1] + rng.normal(0, 0.5, n - 1)])
    return [
        {
            "ts": (DAY0 + timedelta(days=i)).strftime("%Y-%m-%d"),
            "open": round(float(o), 2),
            "high": round(float(max(o, c)) + 0.5, 2),
            "low": round(float(min(o, c)) - 0.5, 2),
            "close": round(float(c), 2),
            "volume": 1e6,
        }
        for i, (o, c) in enumerate(zip(open_, close, strict=True))
    ]


BARS = wave(TOTAL, 7)


def ingest(client: TestClient, keys: Keys, clock: MovableClock, bars: list[dict[str, Any]]) -> None:
    """Bars arriving a minute after the last one closed."""
    clock.at = datetime.fromisoformat(bars[-1]["ts"]).replace(tzinfo=UTC) + timedelta(days=1, minutes=1)
    response = client.post(
        "/v1/bars", json={"timeframe": "1d", "symbol": "WAVE", "bars": bars}, headers=keys.header("trader")
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def market(client: TestClient, keys: Keys, clock: MovableClock) -> None:
    assert (
        client.post("/v1/symbols", json={"symbol": "WAVE"}, headers=keys.header("trader")).status_code == 201
    )
    account = {"account_id": "live", "starting_cash": "100000"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201, account
    ingest(client, keys, clock, BARS[:HISTORY])


def deploy(client: TestClient, keys: Keys, status: int = 201, **changes: Any) -> dict[str, Any]:
    body = {
        "strategy": "rsi_reversion",
        "symbols": ["WAVE"],
        "timeframe": "1d",
        "account_id": "live",
        **changes,
    }
    response = client.post("/v1/deployments", json=body, headers=keys.header("trader"))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def fills(client: TestClient, keys: Keys) -> list[dict[str, Any]]:
    response = client.get("/v1/fills?account_id=live&limit=1000", headers=keys.header("viewer"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["fills"]
    return sorted(found, key=lambda f: (f["market_time"], f["fill_id"]))


def as_bars(rows: list[dict[str, Any]]) -> Bars:
    ts = np.array(
        [int(datetime.fromisoformat(r["ts"]).replace(tzinfo=UTC).timestamp() * 1e9) for r in rows],
        dtype=np.int64,
    )
    return Bars(
        *(
            np.array([r[k] for r in rows], dtype=float) if k != "ts" else ts
            for k in ("ts", "open", "high", "low", "close", "volume")
        )
    )


class FromBar(RsiReversion):
    """rsi_reversion deciding from the first bar that arrives after the deployment starts, with
    the same cash."""

    def next(self, ctx: Context) -> None:
        if ctx.i >= HISTORY:
            super().next(ctx)


def test_a_deployment_trades_bar_by_bar_as_the_backtest_does(
    client: TestClient, keys: Keys, clock: MovableClock, market: None, container: Container
) -> None:
    deployment = deploy(client, keys)
    assert deployment["status"] == "running" and deployment["params"]["period"] == 14
    for i in range(HISTORY, TOTAL):
        ingest(client, keys, clock, [BARS[i]])
    live = fills(client, keys)
    # The backtest of the same strategy over the same bars with the paper broker's fill profile
    # (a market order fills at once at the last price), trading from the first bar that arrived
    # after the deployment started.
    profile = PROFILES["last_close"]
    outcome = backtest(FromBar(RsiReversion.Params()), as_bars(BARS), 100_000, profile, finalize=False)
    closed, still_open = outcome.run.trades, outcome.run.open_trades
    assert len(closed) >= 2
    expected = []
    for t in closed:
        expected += [("buy", t.size, t.entry_price, t.entry_bar), ("sell", t.size, t.exit_price, t.exit_bar)]
    expected += [("buy", t.size, t.entry_price, t.entry_bar) for t in still_open]
    expected.sort(key=lambda e: (e[3], e[0] == "buy"))
    got = [(f["side"], float(f["qty"]), float(f["price"])) for f in live]
    assert got == [(side, size, price) for side, size, price, _ in expected]
    shown = client.get(f"/v1/deployments/{deployment['deployment_id']}", headers=keys.header("viewer")).json()
    assert shown["orders_placed"] == len(live) and shown["last_bar"]["WAVE"].startswith(BARS[-1]["ts"])


class BuyOne(Strategy):
    """Buys one unit on every bar, whatever it holds: a repeat decision is a repeat order."""

    name = "buy_one"

    class Params(StrategyParams):
        pass

    def next(self, ctx: Context) -> None:
        ctx.buy(1)


@pytest.fixture
def extra_strategies(monkeypatch: pytest.MonkeyPatch) -> None:
    known: Mapping[str, type[Strategy]] = {**registry.available(), "boom": Boom, "buy_one": BuyOne}
    monkeypatch.setattr(registry, "available", lambda folder=None: known)


def test_a_redelivered_bar_never_doubles_an_order(
    client: TestClient,
    keys: Keys,
    clock: MovableClock,
    market: None,
    container: Container,
    extra_strategies: None,
) -> None:
    deployment = deploy(client, keys, strategy="buy_one")
    ingest(client, keys, clock, [BARS[HISTORY]])
    orders = client.get("/v1/orders?account_id=live&status=all", headers=keys.header("viewer")).json()[
        "orders"
    ]
    assert len(orders) == 1  # a deployment decides on the bars that arrive after it starts
    # The same settled bar again, as if the deployment's save had been lost: once as a new
    # envelope (a retried subscriber), once as the same envelope (a redelivery).
    bar = datetime.fromisoformat(BARS[HISTORY]["ts"]).replace(tzinfo=UTC)
    settled = BarsSettled(ingest_id="again", timeframe="1d", symbols=["WAVE"], last={"WAVE": bar}, fills=0)
    envelope = Envelope.wrap(settled, producer="test", correlation_id="redelivery")
    for again in (Envelope.wrap(settled, producer="test", correlation_id="retry"), envelope, envelope):
        forgotten = container.deployments.get(deployment["deployment_id"])
        assert forgotten is not None
        container.deployments.save(
            forgotten.model_copy(update={"last_bar": {"WAVE": bar - timedelta(days=1)}})
        )
        container.bus.deliver("run_deployments", again)
    after = client.get("/v1/orders?account_id=live&status=all", headers=keys.header("viewer")).json()[
        "orders"
    ]
    assert sorted(o["id"] for o in after) == sorted(o["id"] for o in orders)
    assert sum(float(f["qty"]) for f in fills(client, keys)) == 1


def test_a_deployment_trades_as_its_owner(
    client: TestClient,
    keys: Keys,
    clock: MovableClock,
    market: None,
    container: Container,
    extra_strategies: None,
) -> None:
    """Alice's deployment places its orders for Alice, on her account; bob's view of it is none."""
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role

    def key(user: str) -> dict[str, str]:
        return {"x-api-key": container.bus.execute(CreateApiKey(role=Role.TRADER, owner=user)).api_key}

    alice, bob = key("alice"), key("bob")
    account = {"account_id": "alices", "starting_cash": "100000", "owner": "alice"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    body = {"strategy": "buy_one", "symbols": ["WAVE"], "timeframe": "1d", "account_id": "alices"}
    created = client.post("/v1/deployments", json=body, headers=alice)
    assert created.status_code == 201 and created.json()["owner"] == "alice", created.text
    # An admin sees Alice's account, but a deployment of the admin's would trade it as the admin.
    refused = client.post("/v1/deployments", json=body, headers=keys.header("admin"))
    assert refused.status_code == 422 and "account alices is alice's" in refused.text, refused.text
    ingest(client, keys, clock, [BARS[HISTORY]])
    shown = client.get(f"/v1/deployments/{created.json()['deployment_id']}", headers=alice).json()
    assert shown["status"] == "running" and shown["orders_placed"] == 1, shown
    orders = client.get("/v1/orders?account_id=alices&status=all", headers=alice).json()["orders"]
    assert len(orders) == 1 and orders[0]["client_order_id"].startswith(shown["deployment_id"])
    assert client.get("/v1/orders?account_id=alices&status=all", headers=bob).status_code == 404


class Boom(Strategy):
    name = "boom"

    class Params(StrategyParams):
        pass

    def next(self, ctx: Context) -> None:
        raise ZeroDivisionError("division by zero")


def test_a_strategy_that_raises_pauses_its_deployment_until_started_again(
    client: TestClient,
    keys: Keys,
    clock: MovableClock,
    market: None,
    container: Container,
    extra_strategies: None,
) -> None:
    seen: list[str] = []
    container.bus.observers.append(lambda envelope: seen.append(envelope.event_type))
    failing = deploy(client, keys, strategy="boom")
    steady = deploy(client, keys)
    ingest(client, keys, clock, [BARS[HISTORY]])
    paused = client.get(f"/v1/deployments/{failing['deployment_id']}", headers=keys.header("viewer")).json()
    assert paused["status"] == "paused" and "ZeroDivisionError: division by zero" in paused["reason"]
    assert "DeploymentPaused" in seen
    running = client.get(f"/v1/deployments/{steady['deployment_id']}", headers=keys.header("viewer")).json()
    assert running["status"] == "running"  # one deployment's failure is not another's
    ingest(client, keys, clock, [BARS[HISTORY + 1]])
    assert seen.count("DeploymentPaused") == 1  # paused: it does not run, so it cannot crash-loop
    started = client.post(f"/v1/deployments/{failing['deployment_id']}/start", headers=keys.header("trader"))
    assert (
        started.status_code == 200
        and started.json()["status"] == "running"
        and started.json()["reason"] is None
    )
    stopped = client.post(f"/v1/deployments/{failing['deployment_id']}/stop", headers=keys.header("trader"))
    assert stopped.json()["status"] == "stopped"
    again = client.post(f"/v1/deployments/{failing['deployment_id']}/start", headers=keys.header("trader"))
    assert again.status_code == 409 and "stopped" in again.text


def test_a_stale_bar_raises_an_alert_and_no_order(
    client: TestClient, keys: Keys, clock: MovableClock, market: None, container: Container
) -> None:
    seen: list[Envelope] = []
    container.bus.observers.append(seen.append)
    deploy(client, keys, max_bar_age_s=3600)
    ingest(client, keys, clock, [BARS[HISTORY]])
    clock.at += timedelta(days=5)  # the next bar arrives days late
    client.post(
        "/v1/bars",
        json={"timeframe": "1d", "symbol": "WAVE", "bars": [BARS[HISTORY + 1]]},
        headers=keys.header("trader"),
    )
    stale = [e for e in seen if e.event_type == "StaleBars"]
    assert len(stale) == 1 and stale[0].payload["symbol"] == "WAVE" and stale[0].payload["max_age_s"] == 3600
    assert not [
        e for e in seen if e.event_type == "DeploymentOrdered" and e.occurred_at >= stale[0].occurred_at
    ]


def test_a_restart_loses_nothing(
    client: TestClient, keys: Keys, clock: MovableClock, market: None, settings: Settings
) -> None:
    deployment = deploy(client, keys)
    ingest(client, keys, clock, [BARS[HISTORY]])
    restarted = bootstrap(settings, clock=clock)
    found = restarted.deployments.get(deployment["deployment_id"])
    assert found is not None and found.status.value == "running" and "WAVE" in found.last_bar


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"account_id": "nope"}, "account_id", "no paper account nope"),
        ({"symbols": ["NOPE"]}, "symbols", "symbol NOPE is not registered"),
        ({"strategy": "sma_crosss"}, "strategy", "did you mean 'sma_cross'"),
        ({"params": {"period": 1}}, "params.period", "greater than or equal to 2"),
        ({"symbols": ["WAVE", "WAVE"]}, "symbols", "named twice"),
    ],
)
def test_bad_deployments_are_refused_naming_the_problem(
    client: TestClient, keys: Keys, market: None, changes: dict[str, Any], field: str, message: str
) -> None:
    response = client.post(
        "/v1/deployments",
        json={"strategy": "rsi_reversion", "symbols": ["WAVE"], "account_id": "live", **changes},
        headers=keys.header("trader"),
    )
    assert response.status_code == 422 and message in response.text, response.text
    assert any(str(p.get("field", "")).startswith(field) for p in response.json()["errors"])
    assert client.get("/v1/deployments", headers=keys.header("viewer")).json() == []


def test_rules_with_brackets_trade_live_as_the_engine_does(
    client: TestClient, keys: Keys, clock: MovableClock, market: None
) -> None:
    """A stop-loss and a take-profit placed once the entry fills, in one-cancels-other with the
    strategy's own exit: the fills equal the engine's, bracket exits included."""
    draft = {
        "name": "bracketed",
        "rules": {
            "entry": ["rsi(14) < 35"],
            "exit": ["rsi(14) > 70"],
            "stop_loss_pct": 3,
            "take_profit_pct": 4,
            "fraction": 0.5,
        },
    }
    assert client.post("/v1/strategies", json=draft, headers=keys.header("trader")).status_code == 201
    deployment = deploy(client, keys, strategy="bracketed")
    for i in range(HISTORY, TOTAL):
        ingest(client, keys, clock, [BARS[i]])
    path = f"/v1/deployments/{deployment['deployment_id']}"
    shown = client.get(path, headers=keys.header("viewer")).json()
    assert shown["status"] == "running", shown["reason"]
    orders = client.get("/v1/orders?account_id=live&status=all&limit=500", headers=keys.header("viewer"))
    placed = orders.json()["orders"]
    legs = [o for o in placed if o["type"] in ("stop", "limit")]
    assert any(o["status"] == "filled" for o in legs), "a stop-loss or take-profit should have filled"
    assert any("one-cancels-other" in (o["cancel_reason"] or "") for o in legs)
    body = client.get(f"{path}/parity", headers=keys.header("viewer")).json()
    assert body["differences"] == [], body
    wave = body["symbols"]["WAVE"]
    assert wave["live_orders"] == wave["backtest_orders"] >= 4
    positions = client.get("/v1/positions?account_id=live", headers=keys.header("viewer")).json()
    assert all(float(p["qty"]) >= 0 for p in positions)  # never short: one exit at a time


def test_the_parity_report_finds_no_difference_when_live_did_what_the_engine_does(
    client: TestClient, keys: Keys, clock: MovableClock, market: None
) -> None:
    deployment = deploy(client, keys)
    for i in range(HISTORY, TOTAL):
        ingest(client, keys, clock, [BARS[i]])
    report = client.get(
        f"/v1/deployments/{deployment['deployment_id']}/parity", headers=keys.header("viewer")
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["differences"] == []
    assert body["profile"]["name"] == "last_close" and body["cash"] == 100_000
    wave = body["symbols"]["WAVE"]
    assert wave["live_orders"] == wave["backtest_orders"] >= 4
    assert wave["first_bar"].startswith(BARS[HISTORY]["ts"]) and wave["last_bar"].startswith(BARS[-1]["ts"])


def test_the_parity_report_lists_what_live_missed_while_paused(
    client: TestClient, keys: Keys, clock: MovableClock, market: None
) -> None:
    deployment = deploy(client, keys)
    path = f"/v1/deployments/{deployment['deployment_id']}"
    for i in range(HISTORY, TOTAL):
        if i == 150:
            assert client.post(f"{path}/pause", headers=keys.header("trader")).json()["status"] == "paused"
        if i == 200:
            assert client.post(f"{path}/start", headers=keys.header("trader")).json()["status"] == "running"
        ingest(client, keys, clock, [BARS[i]])
    body = client.get(f"{path}/parity", headers=keys.header("viewer")).json()
    differences = body["differences"]
    assert differences, "pausing for 50 bars made live miss what the engine did"
    missed = [d for d in differences if d["kind"] == "only_backtest"]
    assert missed and all(d["live_qty"] is None and d["backtest_qty"] > 0 for d in missed)
    paused_span = (BARS[150]["ts"], BARS[199]["ts"])
    assert any(paused_span[0] <= d["bar"][:10] <= paused_span[1] for d in missed)
    assert {d["kind"] for d in differences} <= {"only_backtest", "only_live", "qty", "price"}


def test_a_loss_limit_halts_the_account_and_pauses_its_deployments(
    client: TestClient, keys: Keys, clock: MovableClock, container: Container, extra_strategies: None
) -> None:
    assert (
        client.post("/v1/symbols", json={"symbol": "WAVE"}, headers=keys.header("trader")).status_code == 201
    )
    account = {"account_id": "tight", "starting_cash": "100000", "settings": {"max_drawdown_pct": 1}}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    ingest(client, keys, clock, BARS[:HISTORY])
    # buy_one buys a unit a bar; a large position first, so a fall crosses the 1% drawdown
    order = {"symbol": "WAVE", "side": "buy", "qty": "1000", "account_id": "tight"}
    assert client.post("/v1/orders", json=order, headers=keys.header("trader")).status_code == 201
    deployment = deploy(client, keys, strategy="buy_one", account_id="tight")
    seen: list[str] = []
    container.bus.observers.append(lambda envelope: seen.append(envelope.event_type))
    for i in range(HISTORY, TOTAL):
        ingest(client, keys, clock, [BARS[i]])
        if "AccountHalted" in seen:
            break
    assert "AccountHalted" in seen and "DeploymentPaused" in seen
    paused = client.get(
        f"/v1/deployments/{deployment['deployment_id']}", headers=keys.header("viewer")
    ).json()
    assert (
        paused["status"] == "paused" and "account tight halted: max_drawdown_pct crossed" in paused["reason"]
    )
    placed = paused["orders_placed"]
    ingest(client, keys, clock, [BARS[i + 1]])  # paused: no more orders
    again = client.get(f"/v1/deployments/{deployment['deployment_id']}", headers=keys.header("viewer")).json()
    assert again["orders_placed"] == placed
