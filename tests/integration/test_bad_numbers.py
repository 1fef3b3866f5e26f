"""No bad number gets in (issue 9, part 2): NaN, Infinity and -Infinity are not JSON numbers and
are refused wherever they appear in a body, with a 422 naming the field, and nothing written;
timestamps no calendar can hold are refused the same way; an end date far in the future reads
what there is instead of failing; a version past the store's integer range is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys

BAR = '{"ts": "2024-01-02", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10}'


@pytest.fixture
def market(client: TestClient, keys: Keys) -> None:
    assert (
        client.post("/v1/symbols", json={"symbol": "AAA"}, headers=keys.header("trader")).status_code == 201
    )
    account = {"account_id": "paper1", "starting_cash": "10000"}
    assert client.post("/v1/accounts", json=account, headers=keys.header("admin")).status_code == 201


def post(client: TestClient, keys: Keys, path: str, body: str) -> Any:
    headers = {**keys.header("admin"), "content-type": "application/json"}
    return client.post(path, content=body, headers=headers)


def refused(response: Any, field: str, row: int | None = None) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation-failed"
    assert any(e.get("field") == field and e.get("row") == row for e in problem["errors"]), problem


@pytest.mark.parametrize(
    ("literal", "field"),
    [("NaN", "close"), ("Infinity", "high"), ("-Infinity", "open"), ("NaN", "volume")],
)
def test_a_non_finite_bar_value_is_refused_and_nothing_is_written(
    client: TestClient, keys: Keys, market: None, literal: str, field: str
) -> None:
    bad = BAR.replace(f'"{field}": ', f'"{field}": {literal}, "_was": ')
    body = f'{{"timeframe": "1d", "symbol": "AAA", "bars": [{BAR}, {bad}]}}'
    response = post(client, keys, "/v1/bars", body)
    refused(response, f"bars.{field}", row=2)
    assert literal in response.text
    bars = client.get("/v1/bars/AAA?timeframe=1d", headers=keys.header("viewer")).json()["bars"]
    assert bars == []


@pytest.mark.parametrize("ts", ["-1e18", "1e20", "1e400"])
def test_a_timestamp_no_calendar_holds_is_refused(
    client: TestClient, keys: Keys, market: None, ts: str
) -> None:
    bad = BAR.replace('"ts": "2024-01-02"', f'"ts": {ts}')
    response = post(client, keys, "/v1/bars", f'{{"timeframe": "1d", "symbol": "AAA", "bars": [{bad}]}}')
    refused(response, "bars.ts", row=1)
    reason = "not a finite number" if ts == "1e400" else "not a time a calendar can hold"
    assert reason in response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/orders",
            '{"symbol": "AAA", "side": "buy", "type": "limit", "qty": 1, "limit_price": NaN, '
            '"account_id": "paper1", "time_in_force": "gtc"}',
            "limit_price",
        ),
        (
            "/v1/orders",
            '{"symbol": "AAA", "side": "buy", "type": "market", "qty": Infinity, "account_id": "paper1"}',
            "qty",
        ),
        ("/v1/backtests", '{"strategy": "sma_cross", "symbols": ["AAA"], "cash": NaN}', "cash"),
        (
            "/v1/backtests",
            '{"strategy": "sma_cross", "symbols": ["AAA"], "params": {"n1": -Infinity}}',
            "params.n1",
        ),
    ],
)
def test_non_finite_numbers_are_refused_in_every_body(
    client: TestClient, keys: Keys, market: None, path: str, body: str, field: str
) -> None:
    refused(post(client, keys, path, body), field)
    orders = client.get("/v1/orders?account_id=paper1&status=all", headers=keys.header("viewer")).json()
    assert orders["orders"] == []
    assert client.get("/v1/backtests", headers=keys.header("viewer")).json() == []


def test_a_body_that_is_not_json_is_still_a_clear_422(client: TestClient, keys: Keys, market: None) -> None:
    response = post(client, keys, "/v1/bars", '{"timeframe": "1d", "symbol": "AAA", "bars": [')
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation-failed"


@pytest.mark.parametrize("path", ["/v1/bars/AAA?timeframe=1d", "/v1/indicators/AAA?timeframe=1d&specs=sma:2"])
def test_an_end_far_in_the_future_reads_what_there_is(
    client: TestClient, keys: Keys, market: None, path: str
) -> None:
    body = f'{{"timeframe": "1d", "symbol": "AAA", "bars": [{BAR}]}}'
    assert post(client, keys, "/v1/bars", body).status_code == 201
    response = client.get(f"{path}&end=9999-12-31", headers=keys.header("viewer"))
    assert response.status_code == 200, response.text
    assert response.json() == client.get(path, headers=keys.header("viewer")).json()


def test_a_version_past_the_stores_integers_is_refused(client: TestClient, keys: Keys, market: None) -> None:
    response = client.get(f"/v1/accounts/paper1/events?after_version={2**63}", headers=keys.header("admin"))
    refused(response, "after_version")
    fine = client.get(f"/v1/accounts/paper1/events?after_version={2**63 - 1}", headers=keys.header("admin"))
    assert fine.status_code == 200 and fine.json() == []


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("2024-01-03,1,2,0.5,NaN,1", "close"),
        ("2024-01-03,1,2,0.5,1,nan", "volume"),
        ("2024-01-03,1,inf,0.5,1,1", "high"),
    ],
)
def test_a_file_with_a_non_finite_value_is_refused_and_nothing_is_written(
    client: TestClient, keys: Keys, market: None, row: str, field: str
) -> None:
    csv = f"ts,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n{row}\n"
    response = client.post(
        "/v1/bars/files",
        data={"symbol": "AAA", "timeframe": "1d"},
        files={"file": ("bars.csv", csv.encode(), "text/csv")},
        headers=keys.header("trader"),
    )
    refused(response, field, row=2)
    assert client.get("/v1/bars/AAA?timeframe=1d", headers=keys.header("viewer")).json()["bars"] == []


# -- bounded requests, read only once the key is checked (issue 9, part 3) --------------------------


def test_a_body_is_not_read_before_the_key_is_checked(client: TestClient, keys: Keys, market: None) -> None:
    broken = '{"timeframe": "1d", "bars": ['  # parsing it would be a 422
    anonymous = client.post("/v1/bars", content=broken, headers={"content-type": "application/json"})
    assert anonymous.status_code == 401, anonymous.text
    viewer = client.post(
        "/v1/bars", content=broken, headers={**keys.header("viewer"), "content-type": "application/json"}
    )
    assert viewer.status_code == 403, viewer.text


@pytest.fixture
def small_bodies(container: Any, settings: Any) -> None:
    container.settings = settings.model_copy(update={"max_json_bytes": 2_000, "max_upload_bytes": 1_000})


def test_a_body_over_the_limit_is_a_413_declared_or_streamed(
    client: TestClient, keys: Keys, market: None, small_bodies: None
) -> None:
    rows = ", ".join([BAR.replace("2024-01-02", f"2024-01-{day:02d}") for day in range(2, 30)])
    body = f'{{"timeframe": "1d", "symbol": "AAA", "bars": [{rows}]}}'
    assert len(body) > 2_000
    headers = {**keys.header("trader"), "content-type": "application/json"}
    declared = client.post("/v1/bars", content=body, headers=headers)
    assert declared.status_code == 413, declared.text
    assert declared.json()["type"] == "/problems/payload-too-large" and "2,000 bytes" in declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is met while reading
        for start in range(0, len(body), 500):
            yield body[start : start + 500].encode()

    streamed = client.post("/v1/bars", content=chunks(), headers=headers)
    assert streamed.status_code == 413, streamed.text
    upload = client.post(
        "/v1/bars/files",
        data={"symbol": "AAA", "timeframe": "1d"},
        files={
            "file": ("bars.csv", b"ts,open,high,low,close,volume\n" + b"2024-01-02,1,2,0.5,1.5,10\n" * 5000)
        },
        headers=keys.header("trader"),
    )
    assert upload.status_code == 413, upload.text
    assert client.get("/v1/bars/AAA?timeframe=1d", headers=keys.header("viewer")).json()["bars"] == []
    fine = client.post(
        "/v1/bars", content=f'{{"timeframe": "1d", "symbol": "AAA", "bars": [{BAR}]}}', headers=headers
    )
    assert fine.status_code == 201, fine.text
