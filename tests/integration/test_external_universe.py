"""An external scanner as a universe: its recorded signals gate a backtest exactly as the same
matches of a rules scanner do, and a live deployment following it enters only on bars a webhook's
alert signalled, with a parity report that finds no difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration import test_deployment_signals as live
from tests.integration.test_backtests_api import get, submit
from tests.integration.test_deployments import MovableClock, as_bars, clock, container
from tests.integration.test_scanner_universe import RULE, UNIVERSE, ingest, scanner
from trading_system.strategies.universe import membership, recorded_signal_bars

__all__ = ["clock", "container", "scanner"]  # fixtures these tests use


def external_scanner(client: TestClient, keys: Keys) -> str:
    body = {"name": "tv", "kind": "external", "timeframe": "1d", "universe": {"type": "tag", "tag": "uni"}}
    response = client.post("/v1/scanners", json=body, headers=keys.header("trader"))
    assert response.status_code == 201, response.text
    scanner_id: str = response.json()["scanner_id"]
    return scanner_id


def midnight(day: str) -> str:
    return f"{day}T00:00:00Z"


def test_recorded_signals_gate_a_backtest_as_the_same_matches_of_rules_do(
    client: TestClient, keys: Keys, scanner: str, clock: MovableClock
) -> None:
    clock.at = datetime.now(UTC)  # the history is in the past
    for symbol, bars in UNIVERSE.items():
        ingest(client, keys, symbol, bars)
    external = external_scanner(client, keys)
    # The rules scanner's matches, bar by bar, sent in as the external scanner's signals.
    raised = 0
    for symbol, bars in UNIVERSE.items():
        for bar, matched in zip(bars, membership([RULE], as_bars(bars)).tolist(), strict=True):
            if matched:
                body = {"symbol": symbol, "ts": midnight(bar["ts"])}
                response = client.post(
                    f"/v1/scanners/{external}/signals", json=body, headers=keys.header("trader")
                )
                assert response.status_code == 201, response.text
                raised += 1
    assert raised >= 5, "the rule should match now and then"

    request: dict[str, Any] = {"strategy": "scanner_signals", "symbols": [], "params": {"hold_bars": 2}}
    by_rules = get(
        client,
        keys,
        f"/v1/backtests/{submit(client, keys, **request, universe_scanner=scanner)['backtest_id']}",
    )
    by_signals = get(
        client,
        keys,
        f"/v1/backtests/{submit(client, keys, **request, universe_scanner=external)['backtest_id']}",
    )
    assert by_signals["status"] == "completed", by_signals
    assert (by_signals["universe_signals_of"], by_signals["universe_rules"]) == (external, None)
    assert by_rules["universe_rules"] == [RULE] and by_rules["universe_signals_of"] is None
    trades = [
        get(client, keys, f"/v1/backtests/{job['backtest_id']}/trades?limit=10000")
        for job in (by_rules, by_signals)
    ]
    assert trades[0] and trades[1] == trades[0]
    assert by_signals["outcome"]["stats"] == by_rules["outcome"]["stats"]


class FakeSignalLog:
    """What a backtest reads of the lake's signal log: the scanner's signals, newest first."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def signals(
        self, scanner_ids: Any, symbol: Any, since: Any, limit: int, analytics: bool = True
    ) -> list[dict[str, Any]]:
        assert scanner_ids == ["scn_x"] and analytics is False
        return self.rows[:limit]


def test_a_backtest_reads_only_the_signals_raised_before_it_was_submitted() -> None:
    submitted = datetime(2026, 12, 6, 12, tzinfo=UTC)

    def row(symbol: str, day: int, detected: datetime) -> dict[str, Any]:
        ts = datetime(2026, 12, day, tzinfo=UTC)
        return {"symbol": symbol, "ts": ts.isoformat(), "detected_at": detected.isoformat()}

    log = FakeSignalLog(
        [
            row("AAA", 6, submitted + timedelta(seconds=1)),  # after: not what it was asked about
            row("AAA", 5, submitted),
            row("BBB", 4, submitted - timedelta(days=1)),
            row("AAA", 3, submitted - timedelta(days=2)),
        ]
    )
    assert recorded_signal_bars(log, "scn_x", until=submitted) == {  # type: ignore[arg-type]
        "AAA": {datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)},
        "BBB": {datetime(2026, 12, 4, tzinfo=UTC)},
    }
    assert len(recorded_signal_bars(log, "scn_x")["AAA"]) == 3  # type: ignore[arg-type]


@pytest.fixture
def following(client: TestClient, keys: Keys, clock: MovableClock, strategies: None) -> str:
    """The live test's symbols, account and history, and an external scanner over them."""
    for symbol in live.UNIVERSE:
        body = {"symbol": symbol, "tags": ["uni"]}
        assert client.post("/v1/symbols", json=body, headers=keys.header("trader")).status_code == 201
    account = {"account_id": "live", "starting_cash": "1000000"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201
    last = datetime.fromisoformat(live.UNIVERSE["RISER"][live.HISTORY - 1]["ts"]).replace(tzinfo=UTC)
    clock.at = last + timedelta(days=1, minutes=1)
    for symbol, bars in live.UNIVERSE.items():
        body = {"timeframe": "1d", "symbol": symbol, "bars": bars[: live.HISTORY]}
        assert client.post("/v1/bars", json=body, headers=keys.header("trader")).status_code == 201
    return external_scanner(client, keys)


strategies = live.strategies


def test_a_deployment_enters_on_the_bars_a_webhooks_alerts_signal_and_parity_agrees(
    client: TestClient, keys: Keys, clock: MovableClock, following: str
) -> None:
    deployment = live.deploy(client, keys, universe_scanner=following)
    hook = client.post(
        "/v1/webhooks",
        json={"name": "tv", "scanner_id": following, "signal": {"ts": "{{time}}"}},
        headers=keys.header("trader"),
    ).json()
    url = f"{hook['url']}?secret={hook['secret']}"
    signalled = []
    for day in range(live.HISTORY, live.HISTORY + 20):
        live.ingest_day(client, keys, clock, day)  # the bar settles: no signal yet, nothing to enter
        if day % 4 == 0:
            bar = live.UNIVERSE["RISER"][day]["ts"]
            response = client.post(url, json={"ticker": "RISER", "time": midnight(bar)})
            assert response.status_code == 201 and response.json()["replayed"] is False, response.text
            signalled.append(bar)
    orders = live.orders_of(client, keys)
    buys = [o for o in orders if o["side"] == "buy"]
    assert buys and {o["symbol"] for o in orders} == {"RISER"}
    # Each entry decided on a bar an alert signalled (its as_of is the end of that bar).
    for order in buys:
        decided_on = (datetime.fromisoformat(order["as_of"]) - timedelta(days=1)).strftime("%Y-%m-%d")
        assert decided_on in signalled, (order, signalled)
    parity = get(client, keys, f"/v1/deployments/{deployment['deployment_id']}/parity")
    assert parity["differences"] == [], parity
    assert parity["symbols"]["RISER"]["live_orders"] == len(orders) > 0
