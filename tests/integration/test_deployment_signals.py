"""A deployment whose universe is a scanner's signals: it enters a symbol only on the bar a
SignalDetected names, manages what it holds to the exit, and decides each bar once whichever of
BarsSettled and SignalDetected arrives first. Fed a day at a time with the scanner run on each
day's data, it places exactly the orders of the engine gated by the scanner's rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_analytics_scanning_api import daily
from tests.integration.test_deployments import MovableClock, as_bars, clock, container
from trading_system.bootstrap import Container
from trading_system.kernel.messages import Envelope
from trading_system.scanning.events import SignalDetected
from trading_system.strategies import registry
from trading_system.strategies.backtest import backtest
from trading_system.strategies.domain import Context, Strategy, StrategyParams, decide_only_when
from trading_system.strategies.fills import PROFILES
from trading_system.strategies.universe import membership
from trading_system.trading.events import BarsSettled

__all__ = ["clock", "container"]

DAYS, HISTORY = 90, 30
UNIVERSE = {"RISER": daily(DAYS, 1, 0.012), "FALLER": daily(DAYS, 2, -0.01), "DRIFTER": daily(DAYS, 3, 0.002)}
RULE = "close > 1.05 * sma(10)"


class BuyOnSignal(Strategy):
    """Ten units when flat (the universe decides when that may happen); out on a lower close."""

    name = "buy_on_signal"

    class Params(StrategyParams):
        pass

    def next(self, ctx: Context) -> None:
        if not ctx.position:
            ctx.buy(10)
        elif ctx.price < ctx.value("close", 1):
            ctx.close()


@pytest.fixture
def strategies(monkeypatch: pytest.MonkeyPatch) -> None:
    known: Mapping[str, type[Strategy]] = {**registry.available(), "buy_on_signal": BuyOnSignal}
    monkeypatch.setattr(registry, "available", lambda folder=None: known)


def ingest_day(client: TestClient, keys: Keys, clock: MovableClock, day: int) -> None:
    for symbol, bars in UNIVERSE.items():
        clock.at = datetime.fromisoformat(bars[day]["ts"]).replace(tzinfo=UTC) + timedelta(days=1, minutes=1)
        body = {"timeframe": "1d", "symbol": symbol, "bars": [bars[day]]}
        response = client.post("/v1/bars", json=body, headers=keys.header("trader"))
        assert response.status_code == 201, response.text


@pytest.fixture
def scanner(client: TestClient, keys: Keys, clock: MovableClock, strategies: None) -> str:
    for symbol in UNIVERSE:
        body = {"symbol": symbol, "tags": ["uni"]}
        assert client.post("/v1/symbols", json=body, headers=keys.header("trader")).status_code == 201
    account = {"account_id": "live", "starting_cash": "1000000"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    last = datetime.fromisoformat(UNIVERSE["RISER"][HISTORY - 1]["ts"]).replace(tzinfo=UTC)
    clock.at = last + timedelta(days=1, minutes=1)  # the history is in the past
    for symbol, bars in UNIVERSE.items():
        body = {"timeframe": "1d", "symbol": symbol, "bars": bars[:HISTORY]}
        assert client.post("/v1/bars", json=body, headers=keys.header("trader")).status_code == 201
    definition = {
        "name": "strong",
        "universe": {"type": "tag", "tag": "uni"},
        "timeframe": "1d",
        "rules": [RULE],
        "run_on_refresh": False,
    }
    response = client.post("/v1/scanners", json=definition, headers=keys.header("trader"))
    assert response.status_code == 201, response.text
    scanner_id: str = response.json()["scanner_id"]
    return scanner_id


def deploy(client: TestClient, keys: Keys, status: int = 201, **changes: Any) -> dict[str, Any]:
    body = {"strategy": "buy_on_signal", "symbols": [], "timeframe": "1d", "account_id": "live", **changes}
    response = client.post("/v1/deployments", json=body, headers=keys.header("trader"))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def orders_of(client: TestClient, keys: Keys) -> list[dict[str, Any]]:
    response = client.get("/v1/orders?account_id=live&status=all&limit=500", headers=keys.header("viewer"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["orders"]
    return found


def test_entries_only_on_signalled_bars_exactly_as_the_gated_engine_trades(
    client: TestClient, keys: Keys, clock: MovableClock, scanner: str
) -> None:
    deployment_id = deploy(client, keys, universe_scanner=scanner)["deployment_id"]
    signalled: dict[str, set[str]] = {symbol: set() for symbol in UNIVERSE}
    for day in range(HISTORY, DAYS):
        ingest_day(client, keys, clock, day)  # BarsSettled first: only what it holds is decided
        run = client.post(f"/v1/scanners/{scanner}/runs", headers=keys.header("trader")).json()
        for match in run["matches"]:
            signalled[match["symbol"]].add(UNIVERSE["RISER"][day]["ts"])  # then the signals act
    assert sum(len(days) for days in signalled.values()) >= 5, "the rule should match now and then"

    fills = client.get("/v1/fills?account_id=live&limit=1000", headers=keys.header("viewer")).json()["fills"]
    assert fills
    for symbol, bars in UNIVERSE.items():
        # the oracle: the engine on the same bars, deciding from the deployment's first bar, and
        # entering only on bars where the scanner's rules held (evaluated from the bars up to them)
        series = as_bars(bars)
        member = membership([RULE], series).tolist()
        strategy = BuyOnSignal(BuyOnSignal.Params())
        decide_only_when(strategy, lambda ctx, m=member: ctx.i >= HISTORY and bool(ctx.position or m[ctx.i]))
        outcome = backtest(strategy, series, 1_000_000, PROFILES["last_close"], finalize=False)
        expected = []
        for trade in outcome.run.trades:
            expected += [
                ("buy", trade.entry_price, trade.entry_bar),
                ("sell", trade.exit_price, trade.exit_bar),
            ]
        expected += [("buy", t.entry_price, t.entry_bar) for t in outcome.run.open_trades]
        expected.sort(key=lambda e: (e[2], e[0] == "buy"))
        mine = sorted(
            (f for f in fills if f["symbol"] == symbol), key=lambda f: (f["market_time"], f["fill_id"])
        )
        assert [(f["side"], float(f["price"])) for f in mine] == [
            (side, price) for side, price, _ in expected
        ]
        entries = {bars[bar]["ts"] for side, _, bar in expected if side == "buy"}
        assert entries <= signalled[symbol], symbol  # every entry on a bar its signal named
    # The parity report re-runs it with the scanner's rules as its universe: no difference.
    parity = client.get(f"/v1/deployments/{deployment_id}/parity", headers=keys.header("viewer")).json()
    assert parity["differences"] == [] and set(parity["symbols"]) <= set(UNIVERSE), parity
    assert sum(s["live_orders"] for s in parity["symbols"].values()) == len(fills)


def test_a_signal_before_its_bar_settles_waits_for_it_and_a_late_one_is_not_acted_on(
    client: TestClient, keys: Keys, clock: MovableClock, scanner: str, container: Container
) -> None:
    deployment = deploy(client, keys, universe_scanner=scanner)
    day = HISTORY
    ingest_day(client, keys, clock, day)
    bar = datetime.fromisoformat(UNIVERSE["RISER"][day]["ts"]).replace(tzinfo=UTC)

    def deliver(event: SignalDetected | BarsSettled) -> None:
        container.bus.deliver("run_deployments", Envelope.wrap(event, producer="test", correlation_id="t"))

    def signal(ts: datetime) -> SignalDetected:
        return SignalDetected(
            scanner_id=scanner,
            scanner_name="strong",
            run_id=f"run-{ts.isoformat()}",
            symbol="RISER",
            timeframe="1d",
            ts=ts,
            values={},
        )

    # As if the bar's BarsSettled had not arrived yet: the signal is kept, nothing is placed.
    saved = container.deployments.get(deployment["deployment_id"])
    assert saved is not None and saved.settled["RISER"] == bar
    container.deployments.save(saved.model_copy(update={"settled": {"RISER": bar - timedelta(days=1)}}))
    deliver(signal(bar))
    assert orders_of(client, keys) == []
    kept = container.deployments.get(deployment["deployment_id"])
    assert kept is not None and kept.signalled["RISER"] == bar
    # The bar settles: the deployment decides on it, once, with the signal it kept.
    settled = BarsSettled(ingest_id="late", timeframe="1d", symbols=["RISER"], last={"RISER": bar}, fills=0)
    deliver(settled)
    deliver(settled)
    deliver(signal(bar))
    (order,) = orders_of(client, keys)
    assert order["symbol"] == "RISER" and order["side"] == "buy"
    # A signal for an older bar than the newest settled one is kept, never acted on.
    ingest_day(client, keys, clock, day + 1)
    ingest_day(client, keys, clock, day + 2)
    before = len(orders_of(client, keys))
    deliver(signal(bar + timedelta(days=1)))
    assert len(orders_of(client, keys)) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"universe_scanner": "nope"}, "no scanner nope"),
        ({"universe_scanner": None}, "name at least one symbol, or a universe_scanner"),
        ({"universe_scanner": "<scanner>", "timeframe": "1h"}, "scans 1d bars, the deployment trades 1h"),
        ({"strategy": "sma_cross", "symbols": ["NOPE"], "universe_scanner": "<scanner>"}, "symbol NOPE"),
        (
            {"strategy": "scanner_signals", "universe_scanner": "<scanner>"},
            "scanner_signals counts the bars since its entry",
        ),
    ],
)
def test_bad_universes_are_refused_naming_the_problem(
    client: TestClient, keys: Keys, scanner: str, changes: dict[str, Any], message: str
) -> None:
    if changes.get("universe_scanner") == "<scanner>":
        changes = {**changes, "universe_scanner": scanner}
    refused = deploy(client, keys, status=422, **changes)
    assert message in str(refused), refused
    assert client.get("/v1/deployments", headers=keys.header("viewer")).json() == []


def test_the_universe_needs_no_registered_symbol_list(client: TestClient, keys: Keys, scanner: str) -> None:
    shown = deploy(client, keys, universe_scanner=scanner)
    assert shown["draft"]["symbols"] == [] and shown["draft"]["universe_scanner"] == scanner
    assert shown["status"] == "running"
