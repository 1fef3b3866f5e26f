"""A pair (BTC/USD) end to end through the real local runner (uvicorn, which hands the app the
decoded path and the raw one): read at `/v1/bars/BTC%2FUSD`, streamed on `bars:BTC/USD:1d`, and
dropped in the raw folder under `1d/BTC%2FUSD/`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e.conftest import LocalRunner
from tests.e2e.test_local_runner import (
    WATCH_TIMEOUT_S,
    assert_same_bars,
    csv_text,
    minute_bars,
    receive_json,
    register,
    wait_for,
    ws_connect,
)

pytestmark = pytest.mark.xdist_group("e2e")


def test_a_pair_is_read_at_its_encoded_path_and_streamed_on_its_channel(
    local_runner: LocalRunner, admin: httpx.Client
) -> None:
    register(admin, "E2E/USD")
    channel = "bars:E2E/USD:1m"
    with ws_connect(local_runner, local_runner.admin_key) as ws:
        ws.send(json.dumps({"action": "subscribe", "channels": [channel]}))
        assert receive_json(ws) == {"type": "subscribed", "channels": [channel]}
        bars = minute_bars(datetime(2026, 3, 2, 15, tzinfo=UTC), 20, seed=11)
        ingested = admin.post("/v1/bars", json={"timeframe": "1m", "symbol": "e2e/usd", "bars": bars})
        assert ingested.status_code == 201, ingested.text
        message = receive_json(ws)
        assert message["channel"] == channel
        assert [s["symbol"] for s in message["event"]["payload"]["symbols"]] == ["E2E/USD"]

    location = ingested.headers["location"]
    assert location.startswith("/v1/bars/E2E%2FUSD?")
    read = admin.get(location)
    assert read.status_code == 200, read.text
    assert_same_bars(read.json()["bars"], bars)
    assert admin.get("/v1/bars/E2E/USD").status_code == 404  # unencoded, it is two segments


def test_a_pairs_file_dropped_under_its_encoded_name_is_ingested(
    local_runner: LocalRunner, admin: httpx.Client
) -> None:
    register(admin, "DROP/USD")
    raw = local_runner.data_dir / "raw"
    daily = [{"ts": "2026-03-02", "open": 20, "high": 21, "low": 19, "close": 20.5, "volume": 100}]
    target = raw / "1d" / "DROP%2FUSD" / "good.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text(csv_text(daily))
    partial.rename(target)

    report = raw / "_reports" / "1d" / "DROP%2FUSD" / "good.csv.json"
    wait_for(report, WATCH_TIMEOUT_S)
    assert json.loads(report.read_text())["status"] == "ingested", report.read_text()
    read = admin.get("/v1/bars/DROP%2FUSD", params={"timeframe": "1d"})
    assert read.status_code == 200, read.text
    assert_same_bars(read.json()["bars"], [{**b, "ts": f"{b['ts']}T00:00:00Z"} for b in daily])
