"""Live input is guarded (issue 9, part 2): a bar that starts later than now plus the clock-skew
allowance, or a price outside the configured positive range, is refused with a 422 naming the
field and row, and nothing is written; bars inside the limits, and history, go in as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_deployments import MovableClock, clock, container

__all__ = ["clock", "container"]

NOW = datetime(2024, 1, 1, tzinfo=UTC)  # MovableClock's start


def row(ts: str, price: float = 10.0) -> dict[str, Any]:
    return {"ts": ts, "open": price, "high": price, "low": price, "close": price, "volume": 5}


@pytest.fixture
def symbol(client: TestClient, keys: Keys) -> None:
    response = client.post("/v1/symbols", json={"symbol": "LIVE"}, headers=keys.header("trader"))
    assert response.status_code == 201


def ingest(client: TestClient, keys: Keys, timeframe: str, *rows: dict[str, Any]) -> Any:
    body = {"timeframe": timeframe, "symbol": "LIVE", "bars": list(rows)}
    return client.post("/v1/bars", json=body, headers=keys.header("trader"))


def stored(client: TestClient, keys: Keys, timeframe: str) -> list[Any]:
    response = client.get(f"/v1/bars/LIVE?timeframe={timeframe}", headers=keys.header("viewer"))
    bars: list[Any] = response.json()["bars"]
    return bars


def test_a_bar_from_the_future_is_refused(
    client: TestClient, keys: Keys, clock: MovableClock, symbol: None
) -> None:
    clock.at = NOW + timedelta(minutes=30)
    # the minute bar starting at 00:34 is within the 5 minutes' allowance, 00:36 is not
    response = ingest(client, keys, "1m", row("2024-01-01T00:29:00Z"), row("2024-01-01T00:36:00Z"))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["errors"]
    assert problem["field"] == "ts" and problem["row"] == 2 and "in the future" in problem["reason"]
    assert stored(client, keys, "1m") == []
    fine = ingest(client, keys, "1m", row("2024-01-01T00:29:00Z"), row("2024-01-01T00:34:00Z"))
    assert fine.status_code == 201, fine.text
    for far in ("2031-01-01", "2099-06-01"):  # the dates the issue saw accepted
        assert ingest(client, keys, "1d", row(far)).status_code == 422


@pytest.mark.parametrize(("price", "shown"), [(5e-324, "5e-324"), (1e300, "1e+300"), (1e10, "1e+10")])
def test_a_price_outside_the_range_is_refused(
    client: TestClient, keys: Keys, clock: MovableClock, symbol: None, price: float, shown: str
) -> None:
    clock.at = NOW + timedelta(days=10)
    response = ingest(client, keys, "1d", row("2024-01-02"), row("2024-01-03", price))
    assert response.status_code == 422, response.text
    fields = {(p["field"], p["row"]) for p in response.json()["errors"]}
    assert ("close", 2) in fields and ("open", 2) in fields
    assert "between" in response.text
    assert stored(client, keys, "1d") == []


def test_the_limits_are_settings(
    client: TestClient, keys: Keys, clock: MovableClock, symbol: None, container: Any, settings: Any
) -> None:
    clock.at = NOW + timedelta(days=10)
    container.settings = settings.model_copy(update={"max_bar_price": 1e12, "max_clock_skew_s": 86_400 * 30})
    assert ingest(client, keys, "1d", row("2024-01-03", 1e10)).status_code == 201
    assert ingest(client, keys, "1d", row("2024-02-01")).status_code == 201  # 3 weeks ahead
