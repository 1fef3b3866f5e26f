"""Indicators, snapshots, scanners and signals through the HTTP API of the local app,
checked against independent plain-Python computations."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.bootstrap import Container
from trading_system.entrypoints.local.workers import Scheduler
from trading_system.scanning.commands import SyncScannerSchedules

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def daily(n: int, seed: int, drift: float = 0.0, start: datetime = DAY0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    price = 50.0 + seed
    bars = []
    for i in range(n):
        open_ = price
        close = max(1.0, price * (1 + drift + rng.gauss(0, 0.02)))
        bars.append(
            {
                "ts": (start + timedelta(days=i)).strftime("%Y-%m-%d"),
                "open": round(open_, 4),
                "high": round(max(open_, close) * 1.01, 4),
                "low": round(min(open_, close) * 0.99, 4),
                "close": round(close, 4),
                "volume": float(rng.randint(1_000, 100_000)),
            }
        )
        price = close
    return bars


def sma(values: list[float], period: int) -> list[float | None]:
    return [
        None if i + 1 < period else sum(values[i + 1 - period : i + 1]) / period for i in range(len(values))
    ]


def wilder_rsi(closes: list[float], period: int) -> list[float | None]:
    """TA-Lib's RSI, written out the slow way: Wilder averages seeded by simple means."""
    out: list[float | None] = [None] * len(closes)
    gains = [max(closes[i] - closes[i - 1], 0.0) for i in range(1, len(closes))]
    losses = [max(closes[i - 1] - closes[i], 0.0) for i in range(1, len(closes))]
    avg_gain, avg_loss = sum(gains[:period]) / period, sum(losses[:period]) / period
    for i in range(period, len(closes)):
        if i > period:
            avg_gain = (avg_gain * (period - 1) + gains[i - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i - 1]) / period
        out[i] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)
    return out


@pytest.fixture
def universe(client: TestClient, keys: Keys) -> dict[str, list[dict[str, Any]]]:
    data = {"UPPY": daily(120, 1, 0.01), "DOWNY": daily(120, 2, -0.01), "FLATY": daily(120, 3)}
    for symbol, bars in data.items():
        client.post("/v1/symbols", json={"symbol": symbol, "tags": ["test"]}, headers=keys.header("trader"))
        response = client.post(
            "/v1/bars",
            json={"timeframe": "1d", "symbol": symbol, "bars": bars},
            headers=keys.header("trader"),
        )
        assert response.status_code == 201, response.text
    return data


def test_indicators_match_an_independent_computation(
    client: TestClient, keys: Keys, universe: dict[str, Any]
) -> None:
    closes = [b["close"] for b in universe["UPPY"]]
    response = client.get(
        "/v1/indicators/UPPY",
        params={"specs": "sma:10,rsi:14", "timeframe": "1d"},
        headers=keys.header("viewer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["sma_10", "rsi_14"]
    rows = body["rows"]
    assert len(rows) == 120
    for row, expected_sma, expected_rsi in zip(rows, sma(closes, 10), wilder_rsi(closes, 14), strict=True):
        if expected_sma is None:
            assert row["sma_10"] is None
        else:
            assert row["sma_10"] == pytest.approx(expected_sma, rel=1e-9)
        if expected_rsi is None:
            assert row["rsi_14"] is None
        else:
            assert row["rsi_14"] == pytest.approx(expected_rsi, rel=1e-9)


def test_a_range_keeps_values_computed_over_the_whole_history(
    client: TestClient, keys: Keys, universe: dict[str, Any]
) -> None:
    full = client.get(
        "/v1/indicators/UPPY", params={"specs": "ema:20"}, headers=keys.header("viewer")
    ).json()["rows"]
    part = client.get(
        "/v1/indicators/UPPY",
        params={"specs": "ema:20", "start": "2024-03-01", "end": "2024-03-10"},
        headers=keys.header("viewer"),
    ).json()["rows"]
    by_ts = {r["ts"]: r["ema_20"] for r in full}
    assert [r["ts"][:10] for r in part] == [f"2024-03-{d:02d}" for d in range(1, 11)]
    assert all(r["ema_20"] == by_ts[r["ts"]] for r in part)


@pytest.mark.parametrize(
    ("specs", "reason"),
    [
        ("smaa:10", "did you mean 'sma'"),
        ("rsi:0", "rsi period"),
        ("macd:26:12", "fast period"),
        ("", "no indicator"),
    ],
)
def test_bad_indicator_requests_are_422s_naming_them(
    client: TestClient, keys: Keys, universe: dict[str, Any], specs: str, reason: str
) -> None:
    response = client.get("/v1/indicators/UPPY", params={"specs": specs}, headers=keys.header("viewer"))
    assert response.status_code == 422
    assert reason in response.text


def test_scanner_matches_equal_an_independent_evaluation(
    client: TestClient, keys: Keys, universe: dict[str, Any]
) -> None:
    definition = {
        "name": "above sma10",
        "rules": ["close > sma(10)", "rsi(14) > 0"],
        "universe": {"type": "tag", "tag": "test"},
    }
    created = client.post("/v1/scanners", json=definition, headers=keys.header("trader"))
    assert created.status_code == 201, created.text
    scanner_id = created.json()["scanner_id"]
    run = client.post(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("trader"))
    assert run.status_code == 201, run.text
    expected = set()
    for symbol, bars in universe.items():
        closes = [b["close"] for b in bars]
        if closes[-1] > sma(closes, 10)[-1]:  # type: ignore[operator]
            expected.add(symbol)
    matches = run.json()["matches"]
    assert {m["symbol"] for m in matches} == expected
    assert all(m["new"] for m in matches)
    for match in matches:
        closes = [b["close"] for b in universe[match["symbol"]]]
        assert match["values"]["close"] == pytest.approx(closes[-1])
        assert match["values"]["sma_10"] == pytest.approx(sma(closes, 10)[-1])

    again = client.post(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("trader")).json()
    assert {m["symbol"] for m in again["matches"]} == expected
    assert again["new_signals"] == 0
    signals = client.get(
        "/v1/signals", params={"scanner_id": scanner_id}, headers=keys.header("viewer")
    ).json()
    assert sorted(s["symbol"] for s in signals) == sorted(expected)
    runs = client.get(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("viewer")).json()
    assert len(runs) == 2


def test_bad_rules_say_where_and_what(client: TestClient, keys: Keys) -> None:
    syntax = client.post(
        "/v1/scanners", json={"name": "x", "rules": ["rsi(14) < "]}, headers=keys.header("trader")
    )
    assert syntax.status_code == 422
    error = syntax.json()["errors"][0]
    assert error["field"] == "rules[0]"
    assert "line 1, column" in error["reason"]
    unknown = client.post(
        "/v1/scanners", json={"name": "x", "rules": ["rsii(14) < 30"]}, headers=keys.header("trader")
    )
    assert unknown.status_code == 422
    assert "did you mean 'rsi'" in unknown.text
    schedule = client.post(
        "/v1/scanners",
        json={"name": "x", "rules": ["close > 1"], "schedule": "every day"},
        headers=keys.header("trader"),
    )
    assert schedule.status_code == 422
    assert schedule.json()["errors"][0]["field"] == "schedule"


def test_new_bars_refresh_the_snapshot_and_run_scanners(
    client: TestClient, keys: Keys, universe: dict[str, Any]
) -> None:
    definition = {
        "name": "big close",
        "rules": ["close > 1000"],
        "universe": {"type": "symbols", "symbols": ["FLATY"]},
    }
    scanner_id = client.post("/v1/scanners", json=definition, headers=keys.header("trader")).json()[
        "scanner_id"
    ]
    assert (
        client.post(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("trader")).json()["matches"] == []
    )
    last = universe["FLATY"][-1]
    spike = {
        "ts": (DAY0 + timedelta(days=120)).strftime("%Y-%m-%d"),
        "open": last["close"],
        "high": 2000.0,
        "low": last["close"],
        "close": 1999.0,
        "volume": 1e6,
    }
    response = client.post(
        "/v1/bars",
        json={"timeframe": "1d", "symbol": "FLATY", "bars": [spike]},
        headers=keys.header("trader"),
    )
    assert response.status_code == 201
    signals = client.get(
        "/v1/signals", params={"scanner_id": scanner_id}, headers=keys.header("viewer")
    ).json()
    assert [(s["symbol"], s["ts"][:10]) for s in signals] == [("FLATY", spike["ts"])]
    runs = client.get(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("viewer")).json()
    assert runs[0]["trigger"] == "refresh"


def scanners_run(scheduler: Scheduler, at: datetime) -> list[str]:
    """What the scanners' timetable fired at `at`: the catalog's own schedules (the nightly
    compaction, the Alpaca pulls) fire too when the test runs near their times."""
    return [name for name in scheduler.run_due(at) if name.startswith("run_scheduled_scanner:")]


def test_a_scanner_runs_on_its_own_schedule_until_it_is_unscheduled(
    client: TestClient, keys: Keys, universe: dict[str, Any], container: Container
) -> None:
    definition = {
        "name": "every minute",
        "rules": ["close > 0"],
        "schedule": "rate(1 minute)",
        "run_on_refresh": False,
    }
    scanner = client.post("/v1/scanners", json=definition, headers=keys.header("trader")).json()
    scanner_id = scanner["scanner_id"]
    assert scanner["next_run_at"] is not None
    timetable = container.scanner_timetable
    assert timetable.expression(scanner_id) == "rate(1 minute)"
    scheduler = Scheduler(container)
    now = datetime.now(UTC)
    assert scanners_run(scheduler, now) == []  # not due yet
    assert scanners_run(scheduler, now + timedelta(seconds=61)) == [f"run_scheduled_scanner:{scanner_id}"]
    assert scanners_run(scheduler, now + timedelta(seconds=62)) == []  # next due a minute after firing
    runs = client.get(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("viewer")).json()
    assert [r["trigger"] for r in runs] == ["schedule"]
    assert container.scanners.get(scanner_id).next_run_at > now  # type: ignore[union-attr]

    hourly = {**definition, "schedule": "rate(1 hour)"}
    assert (
        client.put(f"/v1/scanners/{scanner_id}", json=hourly, headers=keys.header("trader")).status_code
        == 200
    )
    assert timetable.expression(scanner_id) == "rate(1 hour)"
    disabled = {**hourly, "enabled": False}
    assert (
        client.put(f"/v1/scanners/{scanner_id}", json=disabled, headers=keys.header("trader")).status_code
        == 200
    )
    assert timetable.expression(scanner_id) is None
    assert scanners_run(scheduler, now + timedelta(hours=3)) == []
    assert (
        client.put(f"/v1/scanners/{scanner_id}", json=hourly, headers=keys.header("trader")).status_code
        == 200
    )
    assert client.delete(f"/v1/scanners/{scanner_id}", headers=keys.header("trader")).status_code == 204
    assert timetable.scheduled_keys() == []


def test_a_refused_scanner_leaves_no_schedule_behind(
    client: TestClient, keys: Keys, container: Container
) -> None:
    bad = {"name": "bad", "rules": ["close >"], "schedule": "rate(1 minute)"}
    assert client.post("/v1/scanners", json=bad, headers=keys.header("trader")).status_code == 422
    unknown = {"name": "x", "rules": ["close > 1"], "schedule": "rate(1 minute)"}
    assert (
        client.put("/v1/scanners/scn_missing", json=unknown, headers=keys.header("trader")).status_code == 404
    )
    assert container.scanner_timetable.scheduled_keys() == []


def test_syncing_schedules_sets_the_missing_and_removes_the_stale(
    client: TestClient, keys: Keys, container: Container
) -> None:
    body = {"name": "hourly", "rules": ["close > 1"], "schedule": "rate(1 hour)"}
    scanner_id = client.post("/v1/scanners", json=body, headers=keys.header("trader")).json()["scanner_id"]
    timetable = container.scanner_timetable
    timetable.remove(scanner_id)  # as after a restore of the table, or a scanner from before timetables
    timetable.set("scn_gone", "rate(5 minutes)")
    assert container.bus.execute(SyncScannerSchedules()) == {"scheduled": 1, "set": 1, "removed": 1}
    assert timetable.scheduled_keys() == [scanner_id]
    assert container.bus.execute(SyncScannerSchedules()) == {"scheduled": 1, "set": 0, "removed": 0}


def test_scanner_crud_and_roles(client: TestClient, keys: Keys) -> None:
    body = {"name": "crud", "rules": ["close > 1"]}
    assert client.post("/v1/scanners", json=body, headers=keys.header("viewer")).status_code == 403
    created = client.post("/v1/scanners", json=body, headers=keys.header("trader")).json()
    scanner_id = created["scanner_id"]
    listed = client.get("/v1/scanners", headers=keys.header("viewer")).json()
    assert [s["scanner_id"] for s in listed] == [scanner_id]
    updated = client.put(
        f"/v1/scanners/{scanner_id}", json={**body, "name": "renamed"}, headers=keys.header("trader")
    )
    assert updated.json()["name"] == "renamed"
    assert client.delete(f"/v1/scanners/{scanner_id}", headers=keys.header("trader")).status_code == 204
    assert client.get(f"/v1/scanners/{scanner_id}", headers=keys.header("viewer")).status_code == 404


def test_crossovers_raise_signal_generated(client: TestClient, keys: Keys, container: Container) -> None:
    seen: list[Any] = []
    container.bus.observers.append(seen.append)
    client.post("/v1/symbols", json={"symbol": "CROSS"}, headers=keys.header("trader"))
    # 250 falling days then a sharp rally: the 50-day average crosses above the 200-day one.
    bars = daily(250, 5, -0.004)
    response = client.post(
        "/v1/bars", json={"timeframe": "1d", "symbol": "CROSS", "bars": bars}, headers=keys.header("trader")
    )
    assert response.status_code == 201
    price = bars[-1]["close"]
    crossed = False
    for i in range(1, 120):
        price *= 1.03
        bar = {
            "ts": (DAY0 + timedelta(days=249 + i)).strftime("%Y-%m-%d"),
            "open": price / 1.03,
            "high": price * 1.001,
            "low": price / 1.031,
            "close": price,
            "volume": 1e5,
        }
        client.post(
            "/v1/bars",
            json={"timeframe": "1d", "symbol": "CROSS", "bars": [bar]},
            headers=keys.header("trader"),
        )
        if any(
            e.event_type == "SignalGenerated" and e.payload["signal"] == "sma_50_200:cross_above"
            for e in seen
        ):
            crossed = True
            break
    assert crossed
