"""Market Data through the HTTP API of the local app, as a client sees it."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def minute_bars(n: int, seed: int = 1, start: datetime = T0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    price = 100.0
    bars = []
    for i in range(n):
        open_ = round(price, 4)
        close = round(price * (1 + rng.gauss(0, 0.002)), 4)
        high = round(max(open_, close) * (1 + abs(rng.gauss(0, 0.001))), 4)
        low = round(min(open_, close) * (1 - abs(rng.gauss(0, 0.001))), 4)
        ts = start + timedelta(minutes=i)
        bars.append(
            {
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": float(rng.randint(100, 10_000)),
            }
        )
        price = close
    return bars


def resample(bars: list[dict[str, Any]], seconds: int) -> list[dict[str, Any]]:
    """An independent reference: plain Python grouping by UTC bucket start."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for bar in bars:
        epoch = int(datetime.fromisoformat(bar["ts"].replace("Z", "+00:00")).timestamp())
        groups[epoch - epoch % seconds].append(bar)
    out = []
    for bucket in sorted(groups):
        members = groups[bucket]
        out.append(
            {
                "ts": datetime.fromtimestamp(bucket, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "open": members[0]["open"],
                "high": max(b["high"] for b in members),
                "low": min(b["low"] for b in members),
                "close": members[-1]["close"],
                "volume": sum(b["volume"] for b in members),
            }
        )
    return out


def to_csv(bars: list[dict[str, Any]], header: str = "ts,open,high,low,close,volume") -> bytes:
    lines = [header] + [
        f"{b['ts']},{b['open']},{b['high']},{b['low']},{b['close']},{b['volume']}" for b in bars
    ]
    return ("\n".join(lines) + "\n").encode()


def register(client: TestClient, keys: Keys, symbol: str = "AAPL") -> None:
    response = client.post(
        "/v1/symbols", json={"symbol": symbol, "name": f"{symbol} Inc."}, headers=keys.header("trader")
    )
    assert response.status_code in (200, 201), response.text


def get_bars(client: TestClient, keys: Keys, symbol: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/bars/{symbol}", params=params, headers=keys.header("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_same_bars(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [b["ts"] for b in actual] == [b["ts"] for b in expected]
    for a, e in zip(actual, expected, strict=True):
        for field in ("open", "high", "low", "close", "volume"):
            assert a[field] == pytest.approx(e[field], rel=1e-12), (a["ts"], field)


# -- symbols -----------------------------------------------------------------------------


def test_register_symbol_is_created_once_and_idempotent(client: TestClient, keys: Keys) -> None:
    first = client.post(
        "/v1/symbols", json={"symbol": "msft", "tags": ["tech"]}, headers=keys.header("trader")
    )
    assert first.status_code == 201
    assert first.headers["location"] == "/v1/symbols/MSFT"
    assert first.json()["symbol"] == "MSFT"
    again = client.post(
        "/v1/symbols", json={"symbol": "MSFT", "tags": ["tech"]}, headers=keys.header("trader")
    )
    assert again.status_code == 200
    changed = client.post(
        "/v1/symbols", json={"symbol": "MSFT", "tags": ["other"]}, headers=keys.header("trader")
    )
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"


def test_symbols_are_listed_with_a_cursor(client: TestClient, keys: Keys) -> None:
    for symbol in ["C", "A", "E", "B", "D"]:
        register(client, keys, symbol)
    first = client.get("/v1/symbols", params={"limit": 2}, headers=keys.header("viewer")).json()
    assert [s["symbol"] for s in first["items"]] == ["A", "B"]
    second = client.get(
        "/v1/symbols", params={"limit": 2, "after": first["next_cursor"]}, headers=keys.header("viewer")
    ).json()
    assert [s["symbol"] for s in second["items"]] == ["C", "D"]
    last = client.get("/v1/symbols", params={"limit": 2, "after": "D"}, headers=keys.header("viewer")).json()
    assert [s["symbol"] for s in last["items"]] == ["E"]
    assert last["next_cursor"] is None


def test_an_invalid_symbol_is_a_422_naming_the_field(client: TestClient, keys: Keys) -> None:
    response = client.post("/v1/symbols", json={"symbol": "../../etc"}, headers=keys.header("trader"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "symbol"
    assert "not a valid symbol" in problem["errors"][0]["reason"]


def test_an_unknown_symbol_is_a_404(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/symbols/NOPE", headers=keys.header("viewer"))
    assert response.status_code == 404
    assert response.json()["detail"] == "symbol NOPE is not registered"


# -- ingest and read back ------------------------------------------------------------------


def test_json_batch_round_trip_and_resampling_match_an_independent_computation(
    client: TestClient, keys: Keys
) -> None:
    register(client, keys)
    bars = minute_bars(3 * 390, seed=3) + minute_bars(390, seed=4, start=T0 + timedelta(days=1))
    response = client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": "AAPL", "bars": bars}, headers=keys.header("trader")
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["rows"] == len(bars)
    last = max(bars, key=lambda bar: bar["ts"])  # the latest bar's close is the symbol's last price
    assert report["symbols"] == [
        {
            "symbol": "AAPL",
            "first": bars[0]["ts"],
            "last": bars[-1]["ts"],
            "rows": len(bars),
            "last_close": last["close"],
            "last_volume": last["volume"],
        }
    ]
    assert response.headers["location"].startswith("/v1/bars/AAPL?timeframe=1m")

    minute = get_bars(client, keys, "AAPL", timeframe="1m", limit=50_000)
    assert minute["source_timeframe"] == "1m"
    assert_same_bars(minute["bars"], sorted({b["ts"]: b for b in bars}.values(), key=lambda b: b["ts"]))
    for timeframe, seconds in (("5m", 300), ("15m", 900), ("1h", 3600), ("1d", 86400)):
        body = get_bars(client, keys, "AAPL", timeframe=timeframe)
        assert body["source_timeframe"] == "1m"
        expected = resample(sorted({b["ts"]: b for b in bars}.values(), key=lambda b: b["ts"]), seconds)
        assert_same_bars(body["bars"], expected)


def test_ranges_are_inclusive_and_pages_link_to_the_next(client: TestClient, keys: Keys) -> None:
    register(client, keys)
    bars = minute_bars(600)
    client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": "AAPL", "bars": bars}, headers=keys.header("trader")
    )
    hourly = resample(bars, 3600)
    body = get_bars(client, keys, "AAPL", timeframe="1h", start=hourly[1]["ts"], end=hourly[3]["ts"])
    assert [b["ts"] for b in body["bars"]] == [h["ts"] for h in hourly[1:4]]

    collected: list[dict[str, Any]] = []
    params: dict[str, Any] = {"timeframe": "1m", "limit": 250}
    for _ in range(10):
        response = client.get("/v1/bars/AAPL", params=params, headers=keys.header("viewer"))
        page = response.json()
        collected += page["bars"]
        if page["next_start"] is None:
            assert "link" not in response.headers
            break
        assert 'rel="next"' in response.headers["link"]
        params["start"] = page["next_start"]
    assert [b["ts"] for b in collected] == [b["ts"] for b in bars]


def test_reingesting_corrects_bars_newest_wins(client: TestClient, keys: Keys) -> None:
    register(client, keys)
    bars = minute_bars(120)
    client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": "AAPL", "bars": bars}, headers=keys.header("trader")
    )
    fixed = [
        dict(b, close=b["open"], high=max(b["high"], b["open"]), low=min(b["low"], b["open"]))
        for b in bars[10:20]
    ]
    response = client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": "AAPL", "bars": fixed}, headers=keys.header("trader")
    )
    assert response.status_code == 201
    expected = bars[:10] + fixed + bars[20:]
    assert_same_bars(get_bars(client, keys, "AAPL", timeframe="1m")["bars"], expected)
    assert_same_bars(get_bars(client, keys, "AAPL", timeframe="1h")["bars"], resample(expected, 3600))


def test_compaction_merges_files_without_changing_any_result(
    client: TestClient, keys: Keys, settings: Any
) -> None:
    register(client, keys)
    bars = minute_bars(300)
    for chunk in range(0, 300, 50):  # six files in one partition
        client.post(
            "/v1/bars",
            json={"timeframe": "1m", "symbol": "AAPL", "bars": bars[chunk : chunk + 60]},
            headers=keys.header("trader"),
        )
    before = {tf: get_bars(client, keys, "AAPL", timeframe=tf)["bars"] for tf in ("1m", "1h", "1d")}
    assert len(bar_files(settings)) == 6
    for bad in (-1, 601, False, "60"):  # a number of seconds for rollups, from none to ten minutes
        refused = client.post(
            "/v1/lake/compactions", json={"rollup_budget_s": bad}, headers=keys.header("admin")
        )
        assert refused.status_code == 422 and "rollup_budget_s" in refused.text, refused.text
    assert len(bar_files(settings)) == 6  # nothing compacted
    report = client.post("/v1/lake/compactions", json={}, headers=keys.header("admin"))
    assert report.status_code == 200, report.text
    assert report.json() == {
        "ingest_files_moved": 6,
        "partition_files_written": 1,
        "partitions_merged": 0,
        "orphan_files_removed": 0,
        "files_before": 6,
        "files_after": 1,
        "rows_moved": 300,
        "rows_merged": 0,
        "rollups_written": 3,  # the partition's file rolled up to 15m, 1h and 1d
        "rollups_left": 0,
    }
    assert len(bar_files(settings)) == 1
    for tf, expected in before.items():
        assert get_bars(client, keys, "AAPL", timeframe=tf)["bars"] == expected


def test_daily_csv_with_vendor_columns_and_local_midnight_dates(client: TestClient, keys: Keys) -> None:
    register(client, keys, "SPY")
    csv = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02 00:00:00-05:00,472.16,473.67,470.49,472.65,465.10,123623700\n"
        "2024-01-03,470.43,471.19,468.17,468.79,461.30,103585900\n"
        "2024-01-04T00:00:00Z,468.30,470.96,467.05,467.28,459.81,84232200\n"
    )
    response = client.post(
        "/v1/bars/files",
        files={"file": ("spy.csv", csv.encode())},
        data={"timeframe": "1d", "symbol": "SPY"},
        headers=keys.header("trader"),
    )
    assert response.status_code == 201, response.text
    body = get_bars(client, keys, "SPY", timeframe="1d")
    assert [b["ts"] for b in body["bars"]] == [
        "2024-01-02T00:00:00Z",
        "2024-01-03T00:00:00Z",
        "2024-01-04T00:00:00Z",
    ]
    assert body["bars"][0]["close"] == 472.65
    assert body["bars"][0]["volume"] == 123623700


def test_parquet_upload_with_a_symbol_column(client: TestClient, keys: Keys, tmp_path: Path) -> None:
    register(client, keys, "AAA")
    register(client, keys, "BBB")
    path = tmp_path / "bars.parquet"
    duckdb.sql(
        """
        SELECT CASE WHEN i % 2 = 0 THEN 'AAA' ELSE 'BBB' END AS symbol,
               TIMESTAMP '2024-01-01' + INTERVAL (i // 2) HOUR AS ts,
               10.0 + i AS open, 12.0 + i AS high, 9.0 + i AS low, 11.0 + i AS close, 100 * i AS volume
        FROM range(48) t(i)
        """
    ).write_parquet(str(path))
    response = client.post(
        "/v1/bars/files",
        files={"file": ("bars.parquet", path.read_bytes())},
        data={"timeframe": "1h"},
        headers=keys.header("trader"),
    )
    assert response.status_code == 201, response.text
    assert {s["symbol"]: s["rows"] for s in response.json()["symbols"]} == {"AAA": 24, "BBB": 24}
    daily = get_bars(client, keys, "BBB", timeframe="1d")["bars"]
    odd = [i for i in range(48) if i % 2]
    assert daily == [
        {
            "ts": "2024-01-01T00:00:00Z",
            "open": 11.0,
            "high": 12.0 + 47,
            "low": 10.0,
            "close": 11.0 + 47,
            "volume": float(sum(100 * i for i in odd)),
        }
    ]


# -- rejected input writes nothing ----------------------------------------------------------


def lake_files(settings: Any) -> list[Path]:
    return sorted(Path(settings.lake_root).rglob("*.parquet"))


def bar_files(settings: Any) -> list[Path]:
    """Bar files only (snapshots and signals live in the lake too)."""
    return [
        p for p in lake_files(settings) if p.relative_to(settings.lake_root).parts[0] in ("ingests", "bars")
    ]


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("ts,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n", [(None, "volume", "missing column")]),
        (
            "ts,open,high,low,close,volume\n2024-01-02,1,abc,0.5,1.5,10\n",
            [(1, "high", "high is not a number")],
        ),
        (
            "ts,open,high,low,close,volume\n2024-01-02,1,2,3,1.5,10\n",
            [(1, "low", "low is above min(open, close)")],
        ),
        (
            "ts,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,-5\n",
            [(1, "volume", "volume must not be negative")],
        ),
        (
            "ts,open,high,low,close,volume\n2024-01-02T13:00:00Z,1,2,0.5,1.5,5\n",
            [(1, "ts", "not aligned to the 1d")],
        ),
        (
            "ts,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,5\n2024-01-02,1,2,0.5,1.5,5\n",
            [(2, "ts", "duplicate bar")],
        ),
        ("ts,open,high,low,close,volume\nyesterday,1,2,0.5,1.5,5\n", [(1, "ts", "is not a timestamp")]),
        ("ts,open,high,low,close,volume\n2024-01-02,,2,0.5,1.5,5\n", [(1, "open", "open is missing")]),
        (
            "symbol,ts,open,high,low,close,volume\nNOPE,2024-01-02,1,2,0.5,1.5,5\n",
            [(1, "symbol", "unknown symbol 'NOPE'")],
        ),
    ],
)
def test_a_bad_file_is_a_422_naming_rows_and_reasons_and_writes_nothing(
    client: TestClient, keys: Keys, settings: Any, csv: str, expected: list[tuple[int | None, str, str]]
) -> None:
    register(client, keys)
    good = "ts,open,high,low,close,volume\n2024-01-05,1,2,0.5,1.5,10\n"
    response = client.post(
        "/v1/bars/files",
        files={
            "file": (
                "bars.csv",
                (good + csv.split("\n", 1)[1]).encode()
                if csv.startswith("ts,open,high,low,close,volume\n")
                else csv.encode(),
            )
        },
        data={"timeframe": "1d", "symbol": "AAPL"},
        headers=keys.header("trader"),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert "nothing was written" in problem["detail"] or "column" in problem["detail"]
    shift = 1 if csv.startswith("ts,open,high,low,close,volume\n") else 0
    for row, field, reason in expected:
        assert any(
            e.get("field") == field
            and reason in e["reason"]
            and e.get("row") == (row + shift if row else None)
            for e in problem["errors"]
        ), problem["errors"]
    assert lake_files(settings) == []
    assert get_bars(client, keys, "AAPL")["bars"] == []


def test_an_empty_file_and_an_unreadable_file_are_rejected(
    client: TestClient, keys: Keys, settings: Any
) -> None:
    register(client, keys)
    empty = client.post(
        "/v1/bars/files",
        files={"file": ("a.csv", b"")},
        data={"timeframe": "1d", "symbol": "AAPL"},
        headers=keys.header("trader"),
    )
    assert empty.status_code == 422
    assert empty.json()["detail"] == "the file is empty"
    header_only = client.post(
        "/v1/bars/files",
        files={"file": ("a.csv", b"ts,open,high,low,close,volume\n")},
        data={"timeframe": "1d", "symbol": "AAPL"},
        headers=keys.header("trader"),
    )
    assert header_only.status_code == 422
    assert "no bars" in header_only.text
    garbage = client.post(
        "/v1/bars/files",
        files={"file": ("a.parquet", b"not parquet at all")},
        data={"timeframe": "1d", "symbol": "AAPL"},
        headers=keys.header("trader"),
    )
    assert garbage.status_code == 422
    assert "could not read the file as parquet" in garbage.json()["detail"]
    unknown_format = client.post(
        "/v1/bars/files",
        files={"file": ("a.xlsx", b"x")},
        data={"timeframe": "1d", "symbol": "AAPL"},
        headers=keys.header("trader"),
    )
    assert unknown_format.status_code == 422
    assert unknown_format.json()["errors"][0]["field"] == "format"
    assert lake_files(settings) == []


def test_a_json_batch_with_bad_rows_names_them(client: TestClient, keys: Keys, settings: Any) -> None:
    register(client, keys)
    bars = minute_bars(5)
    bars[1]["high"] = bars[1]["low"] - 1
    bars[3]["ts"] = "2024-03-04T14:33:30Z"
    response = client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": "AAPL", "bars": bars}, headers=keys.header("trader")
    )
    assert response.status_code == 422
    rows = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert {(2, "high"), (4, "ts")} <= rows
    not_a_number = client.post(
        "/v1/bars",
        json={"timeframe": "1m", "symbol": "AAPL", "bars": [dict(bars[0], open="abc")]},
        headers=keys.header("trader"),
    )
    assert not_a_number.status_code == 422
    assert not_a_number.json()["errors"][0] == {
        "reason": "Input should be a valid number, unable to parse string as a number",
        "field": "bars.open",
        "row": 1,
        "value": "abc",
    }
    assert lake_files(settings) == []


def test_oversized_requests_are_rejected(
    client: TestClient, keys: Keys, container: Any, settings: Any
) -> None:
    register(client, keys)
    container.settings = settings.model_copy(update={"max_batch_rows": 10, "max_upload_bytes": 100})
    response = client.post(
        "/v1/bars",
        json={"timeframe": "1m", "symbol": "AAPL", "bars": minute_bars(11)},
        headers=keys.header("trader"),
    )
    assert response.status_code == 422
    assert "at most 10" in response.json()["detail"]
    upload = client.post(
        "/v1/bars/files",
        files={"file": ("a.csv", to_csv(minute_bars(20)))},
        data={"timeframe": "1m", "symbol": "AAPL"},
        headers=keys.header("trader"),
    )
    assert upload.status_code == 422
    assert upload.json()["errors"][0]["field"] == "file"
    assert lake_files(settings) == []


def test_bad_query_parameters_are_422s(client: TestClient, keys: Keys) -> None:
    register(client, keys)
    wrong_tf = client.get("/v1/bars/AAPL", params={"timeframe": "2h"}, headers=keys.header("viewer"))
    assert wrong_tf.status_code == 422
    assert wrong_tf.json()["errors"][0]["field"] == "timeframe"
    backwards = client.get(
        "/v1/bars/AAPL", params={"start": "2024-02-01", "end": "2024-01-01"}, headers=keys.header("viewer")
    )
    assert backwards.status_code == 422
    assert backwards.json()["detail"] == "start is after end"


# -- auth and the API surface ---------------------------------------------------------------


def test_keys_and_roles_are_enforced(client: TestClient, keys: Keys) -> None:
    assert client.get("/v1/symbols").status_code == 401
    assert client.get("/v1/symbols", headers={"x-api-key": "tsk_nope_nope"}).status_code == 401
    assert client.get("/v1/symbols", headers={"authorization": f"Bearer {keys.viewer}"}).status_code == 200
    forbidden = client.post("/v1/symbols", json={"symbol": "X"}, headers=keys.header("viewer"))
    assert forbidden.status_code == 403
    assert "needs the trader role" in forbidden.json()["detail"]
    assert client.post("/v1/keys", json={"role": "viewer"}, headers=keys.header("trader")).status_code == 403
    assert client.get("/v1/health").status_code == 200


def test_revoked_keys_stop_working(client: TestClient, keys: Keys) -> None:
    created = client.post("/v1/keys", json={"role": "viewer", "label": "temp"}, headers=keys.header("admin"))
    assert created.status_code == 201
    token, key_id = created.json()["api_key"], created.json()["key_id"]
    assert client.get("/v1/symbols", headers={"x-api-key": token}).status_code == 200
    listed = client.get("/v1/keys", headers=keys.header("admin")).json()
    assert key_id in {k["key_id"] for k in listed}
    assert all("secret" not in str(k) and token not in str(k) for k in listed)
    assert client.delete(f"/v1/keys/{key_id}", headers=keys.header("admin")).status_code == 200
    revoked = client.get("/v1/symbols", headers={"x-api-key": token})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/symbols", "/v1/bars", "/v1/bars/files", "/v1/bars/{symbol}"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_unknown_routes_are_problem_documents(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_correlation_ids_are_echoed(client: TestClient) -> None:
    response = client.get("/v1/health", headers={"x-correlation-id": "abc-123"})
    assert response.headers["x-correlation-id"] == "abc-123"


def test_ingest_publishes_bars_ingested_and_updates_coverage(
    client: TestClient, keys: Keys, container: Any
) -> None:
    seen: list[Any] = []
    container.bus.observers.append(seen.append)
    register(client, keys)
    client.post(
        "/v1/bars",
        json={"timeframe": "1m", "symbol": "AAPL", "bars": minute_bars(3)},
        headers=keys.header("trader"),
    )
    # refresh_snapshots and fill_orders react to the bars, in the catalog's order
    assert [e.event_type for e in seen] == [
        "SymbolRegistered",
        "BarsIngested",
        "IndicatorsCalculated",
        "BarsSettled",
    ]
    payload = seen[1].payload
    assert payload["rows"] == 3 and payload["timeframe"] == "1m" and payload["source"] == "api"
    coverage = client.get("/v1/symbols/AAPL", headers=keys.header("viewer")).json()["coverage"]
    assert coverage == {
        "1m": {"first": "2024-03-04T14:30:00Z", "last": "2024-03-04T14:32:00Z", "bars_ingested": 3}
    }
