"""Pairs (BTC/USD, EUR/USD) through the HTTP API, as a client sees it: registered, ingested and
read back at `/v1/bars/BTC%2FUSD`, kept in the lake as `symbol=BTC%2FUSD`, and read the same way
behind API Gateway (Mangum), whose path arrives decoded."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from tests.conftest import Keys
from tests.integration.test_market_data_api import T0, assert_same_bars, minute_bars, resample, to_csv
from trading_system.bootstrap import Container
from trading_system.catalog import by_name
from trading_system.entrypoints.http.app import create_app
from trading_system.market_data.commands import CompactLake, IngestBars, RegisterSymbol

PAIR, ENCODED = "BTC/USD", "BTC%2FUSD"


def register(client: TestClient, keys: Keys, symbol: str) -> None:
    response = client.post("/v1/symbols", json={"symbol": symbol}, headers=keys.header("trader"))
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/symbols/{quote(symbol.upper(), safe='')}"


def test_a_pair_is_ingested_and_read_back_at_its_encoded_path(
    client: TestClient, keys: Keys, container: Container
) -> None:
    register(client, keys, "btc/usd")
    bars = minute_bars(300, seed=7)
    ingested = client.post(
        "/v1/bars", json={"timeframe": "1m", "symbol": PAIR, "bars": bars}, headers=keys.header("trader")
    )
    assert ingested.status_code == 201, ingested.text
    assert ingested.json()["symbols"][0]["symbol"] == PAIR
    location = ingested.headers["location"]
    assert location.startswith(f"/v1/bars/{ENCODED}?timeframe=1m")

    listing = client.get(f"/v1/symbols/{ENCODED}", headers=keys.header("viewer"))
    assert listing.status_code == 200, listing.text
    assert listing.json()["symbol"] == PAIR
    read = client.get(location, headers=keys.header("viewer"))
    assert read.status_code == 200, read.text
    assert_same_bars(read.json()["bars"], bars)

    container.bus.execute(CompactLake())  # from the ingest file into the pair's own partition
    hourly = client.get(f"/v1/bars/{ENCODED}", params={"timeframe": "1h"}, headers=keys.header("viewer"))
    assert hourly.status_code == 200, hourly.text
    assert_same_bars(hourly.json()["bars"], resample(bars, 3600))

    lake = Path(container.settings.lake_root)
    partitions = sorted(p.name for p in lake.rglob("symbol=*") if p.is_dir())
    assert partitions == [f"symbol={ENCODED}"]  # one folder, the slash encoded in its name
    assert not (lake / "bars" / "timeframe=1m" / "symbol=BTC").exists()


def test_pages_of_a_pair_link_to_the_next_at_the_encoded_path(client: TestClient, keys: Keys) -> None:
    register(client, keys, PAIR)
    client.post(
        "/v1/bars",
        json={"timeframe": "1m", "symbol": PAIR, "bars": minute_bars(30)},
        headers=keys.header("trader"),
    )
    first = client.get(
        f"/v1/bars/{ENCODED}", params={"timeframe": "1m", "limit": 10}, headers=keys.header("viewer")
    )
    assert first.status_code == 200, first.text
    link = first.headers["link"]
    assert link.startswith(f"</v1/bars/{ENCODED}?") and 'rel="next"' in link
    second = client.get(link[1 : link.index(">")], headers=keys.header("viewer"))
    assert second.status_code == 200
    assert second.json()["bars"][0]["ts"] == first.json()["next_start"]


def test_a_pairs_bar_file_names_the_pair_in_a_column_or_in_the_form(client: TestClient, keys: Keys) -> None:
    register(client, keys, PAIR)
    register(client, keys, "EUR/USD")
    bars = minute_bars(5)
    named = client.post(
        "/v1/bars/files",
        files={"file": ("bars.csv", to_csv(bars), "text/csv")},
        data={"timeframe": "1m", "symbol": "btc/usd"},
        headers=keys.header("trader"),
    )
    assert named.status_code == 201, named.text
    assert named.headers["location"].startswith(f"/v1/bars/{ENCODED}?")
    rows = "\n".join(
        f"eur/usd,{b['ts']},{b['open']},{b['high']},{b['low']},{b['close']},{b['volume']}" for b in bars
    )
    column = client.post(
        "/v1/bars/files",
        files={"file": ("fx.csv", f"symbol,ts,open,high,low,close,volume\n{rows}\n".encode(), "text/csv")},
        data={"timeframe": "1m"},
        headers=keys.header("trader"),
    )
    assert column.status_code == 201, column.text
    assert [s["symbol"] for s in column.json()["symbols"]] == ["EUR/USD"]
    read = client.get("/v1/bars/EUR%2FUSD", params={"timeframe": "1m"}, headers=keys.header("viewer"))
    assert_same_bars(read.json()["bars"], bars)


def test_a_pairs_corporate_actions_route(client: TestClient, keys: Keys) -> None:
    register(client, keys, PAIR)
    path = f"/v1/symbols/{ENCODED}/corporate-actions"
    body = {"actions": [{"kind": "split", "ex_date": "2024-03-01", "new_rate": 2, "old_rate": 1}]}
    created = client.post(path, json=body, headers=keys.header("trader"))
    assert created.status_code == 201, created.text
    assert created.headers["location"] == path and created.json()["symbol"] == PAIR
    listed = client.get(path, headers=keys.header("viewer"))
    assert [(a["symbol"], a["ex_date"]) for a in listed.json()] == [(PAIR, "2024-03-01")]


def test_a_slash_encoded_twice_is_the_pair_too(client: TestClient, keys: Keys) -> None:
    """For clients behind a gateway that decodes the path before routing it."""
    register(client, keys, PAIR)
    twice = client.get("/v1/symbols/BTC%252FUSD", headers=keys.header("viewer"))
    assert twice.status_code == 200, twice.text
    assert twice.json()["symbol"] == PAIR


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/symbols/BTC/USD", 404),  # an unencoded slash separates segments: no such route
        ("/v1/symbols/BTC%2F..", 422),
        ("/v1/symbols/%2FUSD", 422),
        ("/v1/symbols/BTC%2FUSD%2FEUR", 422),
        ("/v1/symbols/BTC%25252FUSD", 422),  # encoded three times: a % is left, never a symbol
        ("/v1/symbols/ETH%2FUSD", 404),  # well formed, not registered
    ],
)
def test_a_path_that_is_not_a_registered_pair_is_refused(
    client: TestClient, keys: Keys, path: str, status: int
) -> None:
    register(client, keys, PAIR)
    response = client.get(path, headers=keys.header("viewer"))
    assert response.status_code == status, response.text
    if status == 422:
        assert "not a valid symbol" in response.text


def test_an_encoded_slash_in_another_path_leaves_its_route_alone(client: TestClient, keys: Keys) -> None:
    """An id with an encoded slash reaches its own route, whole (and is no id of anything), not
    the longer route its decoded slash would match (`/v1/orders/{order_id}/events`)."""
    response = client.get("/v1/orders/abc%2Fevents", headers=keys.header("viewer"))
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "order abc/events does not exist"


# -- behind API Gateway: Mangum hands over a decoded path and the route API Gateway matched ------


def gateway_event(path: str, path_symbol: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(Path("events/http/get_bars.json").read_text())
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = "timeframe=1d"
    event["queryStringParameters"] = {"timeframe": "1d"}
    event["pathParameters"] = {"symbol": path_symbol}
    return event


@pytest.mark.parametrize(
    ("path", "path_symbol"),
    [
        ("/v1/bars/BTC/USD", "BTC/USD"),  # the gateway decoded the path, and the parameter
        ("/v1/bars/BTC%2FUSD", "BTC%2FUSD"),  # a client encoded twice, the gateway decoded once
    ],
)
def test_the_aws_runtime_reads_a_pair_from_the_route_api_gateway_matched(
    container: Container, path: str, path_symbol: str
) -> None:
    container.bus.execute(RegisterSymbol(symbol=PAIR))
    bars = [
        {
            "ts": (T0 + timedelta(days=d)).strftime("%Y-%m-%d"),
            "open": 1,
            "high": 2,
            "low": 0.5,
            "close": 1.5,
            "volume": 9,
        }
        for d in range(3)
    ]
    container.bus.execute(IngestBars(timeframe="1d", symbol=PAIR, bars=bars))
    app = create_app(container, [by_name()["get_bars"]], "trust_authorizer")
    context: Any = SimpleNamespace(function_name="get_bars", aws_request_id="test")  # what Mangum reads
    response = Mangum(app, lifespan="off")(gateway_event(path, path_symbol), context)
    assert response["statusCode"] == 200, response["body"]
    assert [b["ts"][:10] for b in json.loads(response["body"])["bars"]] == [b["ts"] for b in bars]
