"""Backtests as jobs over the HTTP API of the local app: submitted (202), run on the bus, kept
with their results in the lake, listed, compared and deleted; checked against backtesting.py."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from backtesting import Backtest
from backtesting.test import GOOG
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.unit.test_backtest_oracle import BtSmaCross
from trading_system.bootstrap import Container
from trading_system.strategies import registry
from trading_system.strategies.domain import Context, Strategy, StrategyParams

SMA_CROSS = {
    "strategy": "sma_cross",
    "params": {"n1": 10, "n2": 20},
    "symbols": ["GOOG"],
    "commission": 0.002,
}


@pytest.fixture
def goog(client: TestClient, keys: Keys) -> None:
    bars = [
        {"ts": ts.strftime("%Y-%m-%d"), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for ts, o, h, lo, c, v in zip(
            GOOG.index, GOOG.Open, GOOG.High, GOOG.Low, GOOG.Close, GOOG.Volume, strict=True
        )
    ]
    for symbol in ("GOOG", "TWIN"):
        assert (
            client.post("/v1/symbols", json={"symbol": symbol}, headers=keys.header("trader")).status_code
            == 201
        )
        response = client.post(
            "/v1/bars",
            json={"timeframe": "1d", "symbol": symbol, "bars": bars},
            headers=keys.header("trader"),
        )
        assert response.status_code == 201, response.text


def submit(client: TestClient, keys: Keys, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/backtests", json={**SMA_CROSS, **changes}, headers=keys.header("trader"))
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/v1/backtests/{job['backtest_id']}"
    return job


def get(client: TestClient, keys: Keys, path: str, status: int = 200) -> Any:
    response = client.get(path, headers=keys.header("viewer"))
    assert response.status_code == status, response.text
    return response.json()


def test_a_submitted_backtest_runs_and_keeps_what_backtesting_py_finds(
    client: TestClient, keys: Keys, goog: None
) -> None:
    queued = submit(client, keys)
    assert queued["status"] == "queued" and queued["outcome"] is None
    job = get(client, keys, f"/v1/backtests/{queued['backtest_id']}")
    assert job["status"] == "completed" and job["started_at"] and job["finished_at"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = Backtest(GOOG, BtSmaCross, cash=10_000, commission=0.002, finalize_trades=True).run()
    stats = job["outcome"]["stats"]
    assert stats["trades"] == expected["# Trades"]
    assert stats["equity_final"] == pytest.approx(expected["Equity Final [$]"], rel=1e-9)
    assert stats["sharpe_ratio"] == pytest.approx(expected["Sharpe Ratio"], rel=1e-6)
    assert job["params"] == {"n1": 10, "n2": 20} and job["strategy_name"] == "sma_cross"
    assert len(job["outcome"]["data_fingerprint"]) == 64 and job["outcome"]["code_version"]

    # Trades, a page at a time, in exit order, equal to backtesting.py's.
    path = f"/v1/backtests/{job['backtest_id']}/trades"
    first = get(client, keys, f"{path}?limit=50")
    rest = get(client, keys, f"{path}?offset=50&limit=10000")
    trades = first + rest
    assert len(first) == 50 and len(trades) == expected["# Trades"]
    for got, want in zip(trades, expected["_trades"].itertuples(), strict=True):
        assert (got["size"], got["entry_price"], got["exit_price"]) == (
            want.Size,
            want.EntryPrice,
            want.ExitPrice,
        )
        assert got["entry_time"] == want.EntryTime.strftime("%Y-%m-%dT00:00:00Z")
        assert got["pnl"] == pytest.approx(want.PnL, rel=1e-9)

    # The equity curve: every bar, or thinned with the last bar kept; drawdowns as backtesting.py's.
    curve = get(client, keys, f"/v1/backtests/{job['backtest_id']}/equity?points=100000")
    assert len(curve) == len(GOOG)
    assert [p["equity"] for p in curve] == pytest.approx(
        expected["_equity_curve"]["Equity"].tolist(), rel=1e-9
    )
    drawdown = -expected["_equity_curve"]["DrawdownPct"].to_numpy() * 100
    assert np.allclose([p["drawdown_pct"] for p in curve], drawdown, rtol=1e-9, atol=1e-9)
    assert min(p["drawdown_pct"] for p in curve) == pytest.approx(stats["max_drawdown_pct"], rel=1e-9)
    thin = get(client, keys, f"/v1/backtests/{job['backtest_id']}/equity?points=100")
    assert 50 <= len(thin) <= 100 and thin[-1] == curve[-1]


def test_backtests_are_listed_newest_first_compared_and_deleted(
    client: TestClient, keys: Keys, goog: None, container: Container
) -> None:
    a = submit(client, keys)
    b = submit(client, keys, params={"n1": 5, "n2": 30})
    c = submit(client, keys, strategy="rsi_reversion", params={})
    listed = get(client, keys, "/v1/backtests")
    assert [j["backtest_id"] for j in listed] == [c["backtest_id"], b["backtest_id"], a["backtest_id"]]
    page = get(client, keys, f"/v1/backtests?limit=1&after={c['backtest_id']}")
    assert [j["backtest_id"] for j in page] == [b["backtest_id"]]
    only_sma = get(client, keys, "/v1/backtests?strategy=sma_cross")
    assert [j["backtest_id"] for j in only_sma] == [b["backtest_id"], a["backtest_id"]]
    compared = get(client, keys, f"/v1/backtests?ids={a['backtest_id']},{c['backtest_id']}")
    assert [j["strategy_name"] for j in compared] == ["sma_cross", "rsi_reversion"]
    assert all(j["outcome"]["stats"]["return_pct"] is not None for j in compared)
    missing = get(client, keys, f"/v1/backtests?ids={a['backtest_id']},bt_nope", status=404)
    assert "bt_nope" in missing["detail"]

    lake = Path(container.settings.lake_root) / "backtests" / f"backtest_id={a['backtest_id']}"
    assert sorted(p.name for p in lake.iterdir()) == ["equity.parquet", "trades.parquet"]
    assert (
        client.delete(f"/v1/backtests/{a['backtest_id']}", headers=keys.header("trader")).status_code == 204
    )
    get(client, keys, f"/v1/backtests/{a['backtest_id']}", status=404)
    get(client, keys, f"/v1/backtests/{a['backtest_id']}/trades", status=404)
    assert not list(lake.glob("*.parquet"))
    assert (
        client.delete(f"/v1/backtests/{a['backtest_id']}", headers=keys.header("trader")).status_code == 404
    )
    assert len(get(client, keys, "/v1/backtests")) == 2


def test_a_portfolio_backtest_shares_the_cash(client: TestClient, keys: Keys, goog: None) -> None:
    job = get(client, keys, f"/v1/backtests/{submit(client, keys, symbols=['GOOG', 'TWIN'])['backtest_id']}")
    assert job["outcome"]["symbols"] == ["GOOG", "TWIN"]
    trades = get(client, keys, f"/v1/backtests/{job['backtest_id']}/trades?limit=10000")
    assert {t["symbol"] for t in trades} == {"GOOG", "TWIN"}
    assert job["outcome"]["stats"]["trades"] == len(trades)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"strategy": "sma_crosss"}, "strategy", "did you mean 'sma_cross'"),
        ({"params": {"n3": 4}}, "params.n3", "Extra inputs are not permitted"),
        ({"params": {"n1": 30}}, "params", "n1 (30) must be less than n2 (20)"),
        ({"symbols": ["MSFT"]}, "symbols", "symbol MSFT is not registered"),
        ({"start": "2020-01-01"}, "symbols", "no 1d bars of GOOG between 2020-01-01"),
        ({"timeframe": "1h"}, "symbols", "no 1h bars of GOOG"),
        ({"profile": "nope"}, "profile", "unknown fill profile 'nope'"),
        ({"start": "2010-01-01", "end": "2009-01-01"}, "start", "start"),
        ({"symbols": []}, "universe_scanner", "name at least one symbol, or a universe_scanner"),
        ({"symbols": [f"S{i}" for i in range(501)]}, "symbols", "at most 500"),
        ({"cash": -5}, "cash", "greater than 0"),
        ({"commission": "NaN"}, "commission", ""),
    ],
)
def test_bad_input_is_a_422_naming_the_problem_and_nothing_is_queued(
    client: TestClient, keys: Keys, goog: None, changes: dict[str, Any], field: str, message: str
) -> None:
    response = client.post("/v1/backtests", json={**SMA_CROSS, **changes}, headers=keys.header("trader"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert message in response.text
    assert any(str(p.get("field", "")).startswith(field) for p in body["errors"]), body
    assert get(client, keys, "/v1/backtests") == []


def test_viewers_read_backtests_but_cannot_run_or_delete_them(
    client: TestClient, keys: Keys, goog: None
) -> None:
    assert client.post("/v1/backtests", json=SMA_CROSS, headers=keys.header("viewer")).status_code == 403
    job = submit(client, keys)
    assert (
        client.delete(f"/v1/backtests/{job['backtest_id']}", headers=keys.header("viewer")).status_code == 403
    )


class Boom(Strategy):
    name = "boom"

    class Params(StrategyParams):
        after: int = 100

    def next(self, ctx: Context) -> None:
        if ctx.i == self.params.after:
            raise ZeroDivisionError("the strategy divided by zero")


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    known: Mapping[str, type[Strategy]] = {**registry.available(), "boom": Boom}
    monkeypatch.setattr(registry, "available", lambda folder=None: known)


def test_a_strategy_that_raises_fails_its_job_with_the_error_and_no_results(
    client: TestClient, keys: Keys, goog: None, boom: None, container: Container
) -> None:
    seen: list[str] = []
    container.bus.observers.append(lambda envelope: seen.append(envelope.event_type))
    job = get(
        client, keys, f"/v1/backtests/{submit(client, keys, strategy='boom', params={})['backtest_id']}"
    )
    assert job["status"] == "failed" and job["outcome"] is None
    assert job["error"] == "ZeroDivisionError: the strategy divided by zero"
    assert "BacktestFailed" in seen and "BacktestCompleted" not in seen
    conflict = get(client, keys, f"/v1/backtests/{job['backtest_id']}/trades", status=409)
    assert "failed" in conflict["detail"] and "divided by zero" in conflict["detail"]
    assert not (Path(container.settings.lake_root) / "backtests").exists() or not list(
        (Path(container.settings.lake_root) / "backtests").rglob("*.parquet")
    )
