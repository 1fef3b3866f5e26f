"""What a newcomer meets first (issue 9, "First contact"): a pandas export uploaded as is, a
dropped file that is refused, and the size of a scanner's universe `all`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_analytics_scanning_api import daily
from tests.integration.test_market_data_api import get_bars, lake_files, register
from trading_system.bootstrap import Container
from trading_system.config import Settings
from trading_system.entrypoints.local.workers import RawFolderWatcher

BARS = {
    "open": [16.60, 16.74],
    "high": [16.93, 17.10],
    "low": [16.31, 16.52],
    "close": [16.74, 16.95],
    "volume": [41256000, 38920000],
}


def upload(client: TestClient, keys: Keys, name: str, content: bytes) -> Any:
    return client.post(
        "/v1/bars/files",
        files={"file": (name, content)},
        data={"timeframe": "1d", "symbol": "PLTR"},
        headers=keys.header("trader"),
    )


# -- a pandas export: the index is the first column, its header cell empty --------------------


def test_a_csv_exported_by_pandas_reads_its_index_as_the_timestamps(client: TestClient, keys: Keys) -> None:
    register(client, keys, "PLTR")
    frame = pd.DataFrame(BARS, index=pd.to_datetime(["2024-01-03", "2024-01-04"], utc=True))
    exported = frame.to_csv().encode()
    assert exported.startswith(b",open,high,low,close,volume\n")  # what pandas writes

    response = upload(client, keys, "pltr.csv", exported)

    assert response.status_code == 201, response.text
    bars = get_bars(client, keys, "PLTR", timeframe="1d")["bars"]
    assert [b["ts"] for b in bars] == ["2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"]
    assert [b["close"] for b in bars] == BARS["close"]


def test_a_parquet_with_an_unnamed_index_reads_it_as_the_timestamps(
    client: TestClient, keys: Keys, tmp_path: Path
) -> None:
    register(client, keys, "PLTR")
    path = tmp_path / "pltr.parquet"
    duckdb.sql(
        "SELECT TIMESTAMP '2024-01-03' AS __index_level_0__, 16.60 AS open, 16.93 AS high, "
        "16.31 AS low, 16.74 AS close, 41256000 AS volume"
    ).write_parquet(str(path))

    response = upload(client, keys, "pltr.parquet", path.read_bytes())

    assert response.status_code == 201, response.text
    assert [b["ts"] for b in get_bars(client, keys, "PLTR", timeframe="1d")["bars"]] == [
        "2024-01-03T00:00:00Z"
    ]


def test_an_unnamed_first_column_that_is_not_timestamps_is_suggested_in_the_error(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    register(client, keys, "PLTR")
    exported = pd.DataFrame(BARS).to_csv().encode()  # a plain 0, 1, ... index and no dates

    response = upload(client, keys, "pltr.csv", exported)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert "column0" not in response.text
    assert problem["detail"] == (
        "the file lacks the column(s) ts; found: (unnamed first column), open, high, low, close, "
        "volume; the unnamed first column holds '0', not a timestamp: if it is meant to be the "
        "timestamps, fix it and name it ts"
    )
    assert [e["field"] for e in problem["errors"]] == ["ts"]
    assert "name it ts" in problem["errors"][0]["reason"]
    assert lake_files(settings) == []


# -- the drop folder keeps refused files apart, with their problems ---------------------------


def drop(settings: Settings, key: str, text: str) -> Path:
    path = Path(settings.raw_root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_refused_dropped_file_is_set_apart_with_every_problem_beside_it(
    client: TestClient, keys: Keys, settings: Settings, container: Container
) -> None:
    register(client, keys, "PLTR")
    raw = Path(settings.raw_root)
    drop(
        settings, "1d/PLTR/good.csv", "ts,open,high,low,close,volume\n2024-01-03,16.6,16.93,16.31,16.74,100\n"
    )
    bad = drop(
        settings,
        "1d/PLTR/bad.csv",
        "ts,open,high,low,close,volume\n2024-01-04,16.6,abc,16.31,16.74,100\n2024-01-05,16.6,17,16.31,16.74,-5\n",
    )

    reports = {r["key"]: r for r in RawFolderWatcher(container).scan_once()}

    assert reports["1d/PLTR/good.csv"]["status"] == "ingested"
    assert (raw / "_done" / "1d" / "PLTR" / "good.csv").exists()
    assert not bad.exists()
    assert not (raw / "_done" / "1d" / "PLTR" / "bad.csv").exists()
    assert (raw / "_rejected" / "1d" / "PLTR" / "bad.csv").read_text().startswith("ts,open")
    beside = json.loads((raw / "_rejected" / "1d" / "PLTR" / "bad.csv.problems.json").read_text())
    assert beside == reports["1d/PLTR/bad.csv"]
    assert beside["status"] == "rejected"
    assert beside["error_count"] == 2
    assert [(e["row"], e["field"], e["reason"]) for e in beside["errors"]] == [
        (1, "high", "high is not a number"),
        (2, "volume", "volume must not be negative"),
    ]
    assert RawFolderWatcher(container).scan_once() == []  # neither is read again


def test_a_dropped_file_under_a_bad_key_is_set_apart_with_the_reason(
    settings: Settings, container: Container
) -> None:
    drop(settings, "1week/PLTR/bars.csv", "ts,open,high,low,close,volume\n")

    RawFolderWatcher(container).scan_once()

    beside = json.loads(
        (Path(settings.raw_root) / "_rejected" / "1week" / "PLTR" / "bars.csv.problems.json").read_text()
    )
    assert "'1week' is not a timeframe" in beside["detail"]


# -- a scanner of the universe `all` says how many symbols it scanned ---------------------------


def test_a_scan_of_every_symbol_counts_the_symbols_it_scanned(client: TestClient, keys: Keys) -> None:
    for seed, symbol in enumerate(("AAA", "BBB", "CCC"), start=1):
        register(client, keys, symbol)
        response = client.post(
            "/v1/bars",
            json={"timeframe": "1d", "symbol": symbol, "bars": daily(30, seed)},
            headers=keys.header("trader"),
        )
        assert response.status_code == 201, response.text
    register(client, keys, "NOBARS")  # registered, but nothing to scan
    created = client.post(
        "/v1/scanners",
        json={"name": "everything", "rules": ["close > 0"], "universe": {"type": "all"}},
        headers=keys.header("trader"),
    )
    assert created.status_code == 201, created.text
    scanner_id = created.json()["scanner_id"]

    run = client.post(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("trader")).json()

    assert run["universe_size"] == 3
    assert len(run["matches"]) == 3
    runs = client.get(f"/v1/scanners/{scanner_id}/runs", headers=keys.header("viewer")).json()
    assert [r["universe_size"] for r in runs] == [3]
