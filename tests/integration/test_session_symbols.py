"""Symbols know their exchange and so their calendar (issue 11, part 2): over HTTP and the CLI,
the exchange is checked, the listing names its calendar, and bars align to its sessions."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import Keys
from tests.integration.test_market_data_api import assert_same_bars, get_bars, minute_bars
from trading_system.entrypoints.cli import app


def bar(ts: str) -> dict[str, Any]:
    return {"ts": ts, "open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 100}


def test_a_nasdaq_symbol_takes_hourly_bars_from_the_new_york_open(client: TestClient, keys: Keys) -> None:
    trader = keys.header("trader")
    registered = client.post("/v1/symbols", json={"symbol": "NVDA", "exchange": "nasdaq"}, headers=trader)
    assert registered.status_code == 201, registered.text
    assert (registered.json()["exchange"], registered.json()["calendar"]) == ("NASDAQ", "XNYS")
    assert client.get("/v1/symbols/NVDA", headers=trader).json()["calendar"] == "XNYS"

    # Across the spring DST change: 09:30 New York is 14:30 UTC on Friday, 13:30 UTC on Monday.
    session_bars = [bar("2024-03-08T14:30:00Z"), bar("2024-03-08T15:30:00Z"), bar("2024-03-11T13:30:00Z")]
    ingested = client.post(
        "/v1/bars", json={"timeframe": "1h", "symbol": "NVDA", "bars": session_bars}, headers=trader
    )
    assert ingested.status_code == 201, ingested.text

    on_utc_grid = [bar("2024-03-11T14:00:00Z"), bar("2024-07-04T15:30:00Z")]
    refused = client.post(
        "/v1/bars", json={"timeframe": "1h", "symbol": "NVDA", "bars": on_utc_grid}, headers=trader
    )
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(1, "ts"), (2, "ts")]
    assert "session's open (2024-03-11T13:30:00Z)" in errors[0]["reason"]
    assert "outside the XNYS sessions" in errors[1]["reason"]


def test_a_symbol_without_an_exchange_keeps_the_utc_grid(client: TestClient, keys: Keys) -> None:
    trader = keys.header("trader")
    registered = client.post("/v1/symbols", json={"symbol": "PLAIN"}, headers=trader)
    assert registered.json()["calendar"] is None
    ingested = client.post(
        "/v1/bars",
        json={"timeframe": "1h", "symbol": "PLAIN", "bars": [bar("2024-07-04T14:00:00Z")]},
        headers=trader,
    )
    assert ingested.status_code == 201, ingested.text


def test_an_unknown_exchange_is_a_422_naming_the_field_and_the_known_ones(
    client: TestClient, keys: Keys
) -> None:
    response = client.post(
        "/v1/symbols", json={"symbol": "VOD", "exchange": "LSE"}, headers=keys.header("trader")
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "exchange"
    assert "unknown exchange 'LSE'" in error["reason"]
    assert "XNYS" in error["reason"] and "CRYPTO" in error["reason"]


def test_the_cli_registers_a_symbol_with_its_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    added = CliRunner().invoke(app, ["symbols", "add", "AAPL", "--exchange", "NYSE"])
    assert added.exit_code == 0, added.output
    listing = json.loads(added.output)
    assert (listing["exchange"], listing["calendar"]) == ("NYSE", "XNYS")
    refused = CliRunner().invoke(app, ["symbols", "add", "VOD", "--exchange", "LSE"])
    assert refused.exit_code != 0
    assert "unknown exchange 'LSE'" in refused.output


# -- resampling follows the sessions ---------------------------------------------------------

# Full sessions of 1m bars: before and after the spring DST change, and an early close.
SESSIONS = [
    ("2024-03-08", datetime(2024, 3, 8, 14, 30, tzinfo=UTC), 390),
    ("2024-03-11", datetime(2024, 3, 11, 13, 30, tzinfo=UTC), 390),
    ("2024-11-29", datetime(2024, 11, 29, 14, 30, tzinfo=UTC), 210),  # closes 13:00 New York
]


def session_minutes() -> list[dict[str, Any]]:
    out = []
    for _, start, n in SESSIONS:
        for i, b in enumerate(minute_bars(n, seed=n + start.day, start=start)):
            out.append({**b, "volume": float(i + 1)})
    return out


def by_session(bars: list[dict[str, Any]], seconds: int | None) -> list[dict[str, Any]]:
    """An independent reference: group minutes by session, then by `seconds` from its open (None:
    the whole session, stamped with its date)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for day, start, _ in SESSIONS:
        for bar in bars:
            ts = datetime.fromisoformat(bar["ts"].replace("Z", "+00:00"))
            if ts.date().isoformat() != day:
                continue
            if seconds is None:
                key = f"{day}T00:00:00Z"
            else:
                bucket = start + timedelta(seconds=(ts - start).total_seconds() // seconds * seconds)
                key = bucket.strftime("%Y-%m-%dT%H:%M:%SZ")
            groups[key].append(bar)
    return [
        {
            "ts": key,
            "open": members[0]["open"],
            "high": max(b["high"] for b in members),
            "low": min(b["low"] for b in members),
            "close": members[-1]["close"],
            "volume": sum(b["volume"] for b in members),
        }
        for key, members in sorted(groups.items())
    ]


def test_minutes_resample_to_session_hours_and_days(client: TestClient, keys: Keys) -> None:
    trader = keys.header("trader")
    assert (
        client.post("/v1/symbols", json={"symbol": "SPY", "exchange": "NYSE"}, headers=trader).status_code
        == 201
    )
    minutes = session_minutes()
    ingested = client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": "SPY", "bars": minutes}, headers=trader
    )
    assert ingested.status_code == 201, ingested.text

    hourly = get_bars(client, keys, "SPY", timeframe="1h")
    assert hourly["source_timeframe"] == "1m"
    assert [b["ts"] for b in hourly["bars"]][:8] == [
        "2024-03-08T14:30:00Z",
        "2024-03-08T15:30:00Z",
        "2024-03-08T16:30:00Z",
        "2024-03-08T17:30:00Z",
        "2024-03-08T18:30:00Z",
        "2024-03-08T19:30:00Z",
        "2024-03-08T20:30:00Z",  # 15:30-16:00 New York: the short last hour
        "2024-03-11T13:30:00Z",  # an hour earlier in UTC after the change
    ]
    assert [b["ts"] for b in hourly["bars"]][-4:] == [
        "2024-11-29T14:30:00Z",
        "2024-11-29T15:30:00Z",
        "2024-11-29T16:30:00Z",
        "2024-11-29T17:30:00Z",  # 12:30-13:00: the early close
    ]
    assert_same_bars(hourly["bars"], by_session(minutes, 3600))

    daily = get_bars(client, keys, "SPY", timeframe="1d")
    assert [b["ts"] for b in daily["bars"]] == [
        "2024-03-08T00:00:00Z",
        "2024-03-11T00:00:00Z",
        "2024-11-29T00:00:00Z",
    ]
    assert_same_bars(daily["bars"], by_session(minutes, None))
    assert daily["bars"][2]["volume"] == sum(range(1, 211))

    # A range starting inside an hour starts at the next session hour; its end is inclusive.
    window = get_bars(
        client, keys, "SPY", timeframe="1h", start="2024-03-11T13:31:00Z", end="2024-03-11T15:30:00Z"
    )
    assert [b["ts"] for b in window["bars"]] == ["2024-03-11T14:30:00Z", "2024-03-11T15:30:00Z"]
    assert window["bars"][-1]["volume"] == sum(range(121, 181))  # the whole hour, not its first minute
    after_close = get_bars(client, keys, "SPY", timeframe="1h", start="2024-03-08T21:00:00Z", limit=1)
    assert [b["ts"] for b in after_close["bars"]] == ["2024-03-11T13:30:00Z"]
    fifteen = get_bars(client, keys, "SPY", timeframe="15m", start="2024-03-11", end="2024-03-11T13:59:00Z")
    assert [b["ts"] for b in fifteen["bars"]] == ["2024-03-11T13:30:00Z", "2024-03-11T13:45:00Z"]


def test_indicators_are_computed_over_session_hours(client: TestClient, keys: Keys) -> None:
    """Analytics reads the same session bars as GET /v1/bars: an SMA of 1h closes of an NYSE
    symbol averages the 09:30-10:30 ... hours, not UTC hours cut across them."""
    trader = keys.header("trader")
    client.post("/v1/symbols", json={"symbol": "DIA", "exchange": "NYSE"}, headers=trader)
    minutes = session_minutes()
    assert (
        client.post("/v1/bars", json={"timeframe": "1m", "symbol": "DIA", "bars": minutes}, headers=trader)
    ).status_code == 201
    hours = by_session(minutes, 3600)
    response = client.get("/v1/indicators/DIA", params={"specs": "sma:3", "timeframe": "1h"}, headers=trader)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [r["ts"] for r in rows] == [h["ts"] for h in hours]
    closes = [h["close"] for h in hours]
    for i, row in enumerate(rows):
        if i < 2:
            assert row["sma_3"] is None
        else:
            assert row["sma_3"] == pytest.approx(sum(closes[i - 2 : i + 1]) / 3, rel=1e-9)
