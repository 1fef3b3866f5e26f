"""End to end through the real local runner: HTTP with httpx, the stream with websockets,
the raw-folder watcher, and a restart on the same data. Expected values are computed here,
independently of the platform's resampling."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import LocalRunner

pytestmark = pytest.mark.xdist_group("e2e")

WS_TIMEOUT_S = 5.0
WATCH_TIMEOUT_S = 20.0  # the watcher polls every 2 s


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def minute_bars(start: datetime, count: int, seed: int, price: float = 100.0) -> list[dict[str, Any]]:
    """`count` valid 1-minute bars from `start`, prices on a cent grid."""
    rng = random.Random(seed)
    bars = []
    for i in range(count):
        open_ = round(price, 2)
        close = round(max(1.0, open_ + rng.uniform(-0.5, 0.5)), 2)
        high = round(max(open_, close) + rng.uniform(0, 0.3), 2)
        low = round(min(open_, close) - rng.uniform(0, 0.3), 2)
        bars.append(
            {
                "ts": iso(start + timedelta(minutes=i)),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": float(rng.randint(100, 5000)),
            }
        )
        price = close
    return bars


def resample(bars: list[dict[str, Any]], bucket: Callable[[datetime], datetime]) -> list[dict[str, Any]]:
    """OHLCV aggregation by bucket start: first open, max high, min low, last close, summed volume."""

    def start_of(bar: dict[str, Any]) -> datetime:
        return bucket(datetime.fromisoformat(bar["ts"].replace("Z", "+00:00")))

    ordered = sorted(bars, key=lambda b: b["ts"])
    out = []
    for start, group in groupby(ordered, key=start_of):
        rows = list(group)
        out.append(
            {
                "ts": iso(start),
                "open": rows[0]["open"],
                "high": max(r["high"] for r in rows),
                "low": min(r["low"] for r in rows),
                "close": rows[-1]["close"],
                "volume": sum(r["volume"] for r in rows),
            }
        )
    return out


def to_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def to_day(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def assert_same_bars(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [b["ts"] for b in got] == [b["ts"] for b in expected]
    for g, e in zip(got, expected, strict=True):
        for field in ("open", "high", "low", "close", "volume"):
            assert g[field] == pytest.approx(e[field], abs=1e-6), (g["ts"], field)


def register(client: httpx.Client, symbol: str) -> None:
    response = client.post("/v1/symbols", json={"symbol": symbol, "tags": ["e2e"]})
    assert response.status_code in (200, 201), response.text


def get_bars(client: httpx.Client, symbol: str, timeframe: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/bars/{symbol}", params={"timeframe": timeframe, "limit": 50_000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_start"] is None
    bars: list[dict[str, Any]] = body["bars"]
    return bars


def csv_text(bars: list[dict[str, Any]]) -> str:
    lines = ["ts,open,high,low,close,volume"]
    lines += [f"{b['ts']},{b['open']},{b['high']},{b['low']},{b['close']},{b['volume']}" for b in bars]
    return "\n".join(lines) + "\n"


def new_key(admin: httpx.Client, role: str) -> str:
    response = admin.post("/v1/keys", json={"role": role, "label": f"e2e {role}"})
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


def ws_connect(runner: LocalRunner, key: str) -> ClientConnection:
    # proxy=None: straight to 127.0.0.1 whatever the environment says.
    return connect(f"{runner.ws_url}?api_key={key}", open_timeout=WS_TIMEOUT_S, proxy=None)


def receive_json(ws: ClientConnection, timeout: float = WS_TIMEOUT_S) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return message


def wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.1)


# ---- HTTP ----------------------------------------------------------------------------------


def test_health_needs_no_key(local_runner: LocalRunner) -> None:
    with local_runner.client() as client:
        response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_keys_and_roles_are_enforced(local_runner: LocalRunner, admin: httpx.Client) -> None:
    with local_runner.client() as anonymous:
        response = anonymous.get("/v1/symbols")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]

    with local_runner.client("tsk_not_a_real_key") as stranger:
        assert stranger.get("/v1/symbols").status_code == 401

    with local_runner.client(new_key(admin, "viewer")) as viewer:
        assert viewer.get("/v1/symbols").status_code == 200  # viewers read
        refused = viewer.post("/v1/symbols", json={"symbol": "E2EVIEW"})  # but may not register
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["detail"]
        assert viewer.post("/v1/keys", json={"role": "admin"}).status_code == 403

    with local_runner.client(new_key(admin, "trader")) as trader:
        assert trader.post("/v1/symbols", json={"symbol": "E2ETRADE"}).status_code == 201
    assert admin.get("/v1/symbols/E2EVIEW").status_code == 404  # the refused one was not registered


def test_ingest_json_and_csv_then_read_resampled(admin: httpx.Client) -> None:
    symbol = "E2ERES"
    register(admin, symbol)
    # Day one over JSON, crossing hour boundaries; day two as a CSV upload.
    day_one = minute_bars(datetime(2026, 3, 2, 14, 30, tzinfo=UTC), 150, seed=1)
    day_two = minute_bars(datetime(2026, 3, 3, 14, 45, tzinfo=UTC), 100, seed=2, price=90.0)

    response = admin.post("/v1/bars", json={"timeframe": "1m", "symbol": symbol, "bars": day_one})
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["rows"] == 150
    assert report["symbols"][0]["first"] == day_one[0]["ts"]
    assert report["symbols"][0]["last"] == day_one[-1]["ts"]
    assert response.headers["location"].startswith(f"/v1/bars/{symbol}?")

    files = {"file": ("day2.csv", csv_text(day_two), "text/csv")}
    response = admin.post("/v1/bars/files", data={"timeframe": "1m", "symbol": symbol}, files=files)
    assert response.status_code == 201, response.text
    assert response.json()["rows"] == 100

    everything = day_one + day_two
    assert_same_bars(get_bars(admin, symbol, "1m"), everything)
    hourly = get_bars(admin, symbol, "1h")
    assert len(hourly) == 3 + 3  # 14:00 15:00 16:00 on each day (day one ends 16:59, day two 16:24)
    assert_same_bars(hourly, resample(everything, to_hour))
    assert_same_bars(get_bars(admin, symbol, "1d"), resample(everything, to_day))

    listing = admin.get(f"/v1/symbols/{symbol}").json()
    assert listing["coverage"]["1m"]["first"] == day_one[0]["ts"]
    assert listing["coverage"]["1m"]["last"] == day_two[-1]["ts"]


def test_a_bad_batch_is_rejected_whole_and_names_its_rows(admin: httpx.Client) -> None:
    symbol = "E2EBAD"
    register(admin, symbol)
    good = minute_bars(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 10, seed=3)
    assert admin.post("/v1/bars", json={"timeframe": "1m", "symbol": symbol, "bars": good}).status_code == 201
    before = get_bars(admin, symbol, "1m")

    fresh = minute_bars(datetime(2026, 3, 4, 15, 0, tzinfo=UTC), 4, seed=4)
    fresh[1]["high"] = fresh[1]["low"] - 1  # row 2: high below low (and below open/close)
    fresh[2]["ts"] = "2026-03-04T15:02:30Z"  # row 3: not on a minute
    fresh[3]["ts"] = fresh[0]["ts"]  # row 4: duplicate of row 1
    response = admin.post("/v1/bars", json={"timeframe": "1m", "symbol": symbol, "bars": fresh})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert "nothing was written" in problem["detail"]
    named_rows = {error["row"] for error in problem["errors"]}
    assert {2, 3} <= named_rows
    assert 4 in named_rows, "the duplicate timestamp should be reported"
    assert all(error["reason"] for error in problem["errors"])
    # Nothing of the batch was written, not even its good first row.
    assert get_bars(admin, symbol, "1m") == before


# ---- WebSocket -------------------------------------------------------------------------------


def test_stream_pushes_bars_ingested(local_runner: LocalRunner, admin: httpx.Client) -> None:
    symbol = "E2EWS"
    register(admin, symbol)
    with ws_connect(local_runner, local_runner.admin_key) as ws:
        ws.send(json.dumps({"action": "subscribe", "channels": [f"bars:{symbol}:1d"]}))
        assert receive_json(ws) == {"type": "subscribed", "channels": [f"bars:{symbol}:1d"]}

        bars = [{"ts": "2026-03-02", "open": 10, "high": 11, "low": 9.5, "close": 10.5, "volume": 1000}]
        sent = time.monotonic()
        response = admin.post("/v1/bars", json={"timeframe": "1d", "symbol": symbol, "bars": bars})
        assert response.status_code == 201, response.text

        message = receive_json(ws)
        assert time.monotonic() - sent < WS_TIMEOUT_S
        assert message["channel"] == f"bars:{symbol}:1d"
        event = message["event"]
        assert event["event_type"] == "BarsIngested"
        assert event["payload"]["timeframe"] == "1d"
        assert event["payload"]["ingest_id"] == response.json()["ingest_id"]
        assert [s["symbol"] for s in event["payload"]["symbols"]] == [symbol]
        for field in ("event_id", "version", "occurred_at", "correlation_id", "producer"):
            assert event[field], field


def test_stream_pushes_a_backtest_from_queued_to_completed(
    local_runner: LocalRunner, admin: httpx.Client
) -> None:
    symbol = "E2EBT"
    register(admin, symbol)
    bars = [
        {
            "ts": f"2026-01-{d:02d}",
            "open": 10 + d % 3,
            "high": 12 + d % 3,
            "low": 9,
            "close": 11 - d % 2,
            "volume": 1000,
        }
        for d in range(1, 29)
    ]
    assert admin.post("/v1/bars", json={"timeframe": "1d", "symbol": symbol, "bars": bars}).status_code == 201
    with ws_connect(local_runner, local_runner.admin_key) as ws:
        ws.send(json.dumps({"action": "subscribe", "channels": ["backtests"]}))
        assert receive_json(ws) == {"type": "subscribed", "channels": ["backtests"]}
        request = {"strategy": "sma_cross", "params": {"n1": 2, "n2": 5}, "symbols": [symbol]}
        response = admin.post("/v1/backtests", json=request)
        assert response.status_code == 202, response.text
        backtest_id = response.json()["backtest_id"]
        received = [receive_json(ws)["event"] for _ in range(2)]
        assert [e["event_type"] for e in received] == ["BacktestRequested", "BacktestCompleted"]
        assert {e["payload"]["backtest_id"] for e in received} == {backtest_id}
        assert received[1]["payload"]["bars"] == len(bars)


def test_stream_answers_ping_and_reports_bad_messages(local_runner: LocalRunner) -> None:
    with ws_connect(local_runner, local_runner.admin_key) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert receive_json(ws) == {"type": "pong"}

        ws.send("this is not json")
        assert receive_json(ws)["type"] == "error"
        ws.send(json.dumps({"action": "subscribe", "channels": ["no such channel"]}))
        error = receive_json(ws)
        assert error["type"] == "error"
        assert "no such channel" in error["detail"]

        ws.send(json.dumps({"action": "ping"}))  # still usable after errors
        assert receive_json(ws) == {"type": "pong"}


def test_stream_closes_with_4401_on_a_bad_key(local_runner: LocalRunner) -> None:
    try:
        with ws_connect(local_runner, "tsk_bad_key") as ws:
            ws.recv(timeout=WS_TIMEOUT_S)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4401
    except InvalidStatus as rejected:
        pytest.fail(
            f"the handshake was rejected with HTTP {rejected.response.status_code}, not closed with 4401"
        )
    else:
        pytest.fail("the stream accepted a bad key")


# ---- raw-folder watcher ----------------------------------------------------------------------


def test_files_dropped_in_the_raw_folder_are_ingested(local_runner: LocalRunner, admin: httpx.Client) -> None:
    symbol = "E2EDROP"
    register(admin, symbol)
    raw = local_runner.data_dir / "raw"
    daily = [
        {"ts": "2026-03-02", "open": 20, "high": 21, "low": 19, "close": 20.5, "volume": 100},
        {"ts": "2026-03-03", "open": 20.5, "high": 22, "low": 20, "close": 21.5, "volume": 200},
    ]
    bad = [{"ts": "2026-03-04", "open": 20, "high": 19, "low": 18, "close": 20, "volume": 100}]
    for name, rows in (("good.csv", daily), ("bad.csv", bad)):
        target = raw / "1d" / symbol / name
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then renamed: the watcher must never read half a file.
        partial = target.with_suffix(".partial")
        partial.write_text(csv_text(rows))
        partial.rename(target)

    reports = raw / "_reports" / "1d" / symbol
    wait_for(reports / "good.csv.json", WATCH_TIMEOUT_S)
    wait_for(reports / "bad.csv.json", WATCH_TIMEOUT_S)
    good_report = json.loads((reports / "good.csv.json").read_text())
    assert good_report["status"] == "ingested"
    assert good_report["rows"] == 2
    bad_report = json.loads((reports / "bad.csv.json").read_text())
    assert bad_report["status"] == "rejected"
    assert bad_report["errors"][0]["row"] == 1

    assert not (raw / "1d" / symbol / "good.csv").exists()  # archived, so never ingested twice
    assert (raw / "_done" / "1d" / symbol / "good.csv").exists()
    assert_same_bars(get_bars(admin, symbol, "1d"), [{**b, "ts": f"{b['ts']}T00:00:00Z"} for b in daily])


# ---- restart ---------------------------------------------------------------------------------


def test_data_survives_a_restart(local_runner: LocalRunner, admin: httpx.Client) -> None:
    symbol = "E2EKEEP"
    register(admin, symbol)
    bars = minute_bars(datetime(2026, 3, 5, 14, 30, tzinfo=UTC), 30, seed=5)
    assert admin.post("/v1/bars", json={"timeframe": "1m", "symbol": symbol, "bars": bars}).status_code == 201
    viewer_key = new_key(admin, "viewer")
    first_pid = local_runner.process.pid if local_runner.process else None

    local_runner.restart()

    assert local_runner.process is not None and local_runner.process.pid != first_pid
    with local_runner.client(viewer_key) as viewer:  # keys live in the write store too
        assert viewer.get(f"/v1/symbols/{symbol}").status_code == 200
        assert_same_bars(get_bars(viewer, symbol, "1m"), bars)
    with ws_connect(local_runner, local_runner.admin_key) as ws:  # the stream is back as well
        ws.send(json.dumps({"action": "ping"}))
        assert receive_json(ws) == {"type": "pong"}
