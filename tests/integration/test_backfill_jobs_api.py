"""Backfills as jobs over HTTP (POST /v1/backfills), on the local app against the fake provider
server: a job runs to completion and its bars are readable; a bad request is a 422 storing no
job; a job whose time budget runs out continues in fresh runs to the same bars; a provider
failing past its retries fails the job with the error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.fakes.fixtures import server
from tests.fakes.provider_server import ALPACA_SECRET, CASES, ProviderServer, provider_settings, small_pages
from trading_system.adapters.providers import ProviderRegistry
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import load_settings
from trading_system.kernel.messages import Envelope
from trading_system.market_data.events import BackfillRequested

__all__ = ["server"]  # the fixture these tests use

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PAGE = 100
ALPACA = CASES["alpaca"]


def container_on(server: ProviderServer, data_dir: Path, **overrides: Any) -> Container:
    settings = load_settings(data_dir=data_dir, **provider_settings(server, provider_attempts=3, **overrides))
    container = bootstrap(settings)
    providers = ProviderRegistry(settings, sleep=lambda seconds: None)  # no real backoff waits
    small_pages(providers.get("alpaca"), PAGE)
    providers.ingest_batch_rows = PAGE  # a page a batch: a 250-bar symbol is three batches
    container.__dict__["providers"] = providers
    return container


@pytest.fixture
def container(server: ProviderServer, tmp_path: Path) -> Container:
    return container_on(server, tmp_path / "data")


def request(*symbols: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider": "alpaca",
        "symbols": list(symbols) or [ALPACA.symbol],
        "timeframe": "1m",
        "start": START.isoformat(),
        "end": (START + 249 * MINUTE).isoformat(),
    }
    return {**body, **fields}


def submit(client: TestClient, keys: Keys, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/backfills", json=body, headers=keys.header("admin"))
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/backfills/{job['backfill_id']}"
    return job


def job_of(client: TestClient, keys: Keys, backfill_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/backfills/{backfill_id}", headers=keys.header("admin"))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def bars_of(client: TestClient, keys: Keys, symbol: str) -> list[dict[str, Any]]:
    params = {"timeframe": "1m", "start": START.isoformat(), "limit": 50_000}
    response = client.get(f"/v1/bars/{symbol}", params=params, headers=keys.header("viewer"))
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["bars"]
    return rows


def held(server: ProviderServer, symbol: str, count: int = 250) -> list[tuple[Any, ...]]:
    rows = server.state.rows(symbol, 60, START, START + (count - 1) * MINUTE)
    return [(ts, o, h, low, c, v) for ts, o, h, low, c, v in rows]


def as_rows(bars: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("open", "high", "low", "close", "volume")
    return [(datetime.fromisoformat(b["ts"].replace("Z", "+00:00")), *(b[k] for k in keys)) for b in bars]


def test_a_submitted_backfill_runs_to_completion_and_its_bars_are_readable(
    server: ProviderServer, container: Container, client: TestClient, keys: Keys
) -> None:
    server.state.add(ALPACA.market, START, 250, price=ALPACA.price)
    queued = submit(client, keys, request())
    assert queued["status"] == "queued" and queued["bars"] == 0
    assert queued["request"]["provider"] == "alpaca" and queued["submitted_by"]

    job = job_of(client, keys, queued["backfill_id"])  # the local bus ran it as it was published
    assert job["status"] == "completed", job
    assert (job["bars"], job["runs"], job["error"]) == (250, 1, None)
    [done] = job["report"]["symbols"]
    assert (done["symbol"], done["bars"], done["pages"]) == (ALPACA.symbol, 250, 3)
    assert as_rows(bars_of(client, keys, ALPACA.symbol)) == held(server, ALPACA.market)

    listed = client.get("/v1/backfills", headers=keys.header("admin")).json()
    assert [j["backfill_id"] for j in listed] == [queued["backfill_id"]]
    # the event again (a redelivery, or a continuation racing one) does nothing to a finished job
    server.state.requests.clear()
    again = BackfillRequested(backfill_id=queued["backfill_id"], provider="alpaca", symbols=1)
    envelope = Envelope.wrap(again, producer="test", correlation_id="test")
    assert container.bus.deliver("run_backfills", envelope) is True
    assert server.state.bar_requests("alpaca") == []
    assert job_of(client, keys, queued["backfill_id"]) == job


def test_backfills_are_for_admins_only(client: TestClient, keys: Keys) -> None:
    response = client.post("/v1/backfills", json=request(), headers=keys.header("trader"))
    assert response.status_code == 403
    assert client.get("/v1/backfills", headers=keys.header("trader")).status_code == 403


def no_jobs(client: TestClient, keys: Keys) -> bool:
    return client.get("/v1/backfills", headers=keys.header("admin")).json() == []


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"provider": "bloomberg"}, "provider", "unknown provider 'bloomberg'"),
        ({"start": "2999-01-01", "end": None}, "start", "in the future"),
        ({"end": (START - timedelta(days=1)).isoformat()}, "start", "after end"),
        ({"symbols": ["not a symbol!"]}, "symbols", "symbols"),
    ],
)
def test_a_bad_request_is_a_422_naming_the_field_and_stores_no_job(
    server: ProviderServer, client: TestClient, keys: Keys, fields: dict[str, Any], field: str, says: str
) -> None:
    response = client.post("/v1/backfills", json=request(**fields), headers=keys.header("admin"))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert field in [e.get("field") for e in problem["errors"]], problem
    assert says in problem["detail"]
    assert no_jobs(client, keys)
    assert server.state.bar_requests("alpaca") == []


def test_missing_credentials_are_a_422_naming_the_setting_not_the_key(
    server: ProviderServer, tmp_path: Path
) -> None:
    from trading_system.entrypoints.local.runner import build_local_app
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role

    container = container_on(server, tmp_path / "data", alpaca_key_id=None)
    admin = {"x-api-key": container.bus.execute(CreateApiKey(role=Role.ADMIN, label="admin")).api_key}
    with TestClient(build_local_app(container, background=False)) as client:
        response = client.post("/v1/backfills", json=request(), headers=admin)
        assert response.status_code == 422, response.text
        assert "TRADING_ALPACA_KEY_ID" in response.text and ALPACA_SECRET not in response.text
        assert response.json()["errors"][0]["field"] == "provider"
        assert client.get("/v1/backfills", headers=admin).json() == []


def test_a_job_out_of_time_continues_to_the_same_bars_as_one_go(
    server: ProviderServer, tmp_path: Path
) -> None:
    from trading_system.entrypoints.local.runner import build_local_app
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role

    # A budget of 0 s: every run stops after its first batch, saves it, and queues the job again.
    container = container_on(server, tmp_path / "data", backfill_job_budget_s=0)
    admin = {"x-api-key": container.bus.execute(CreateApiKey(role=Role.ADMIN, label="admin")).api_key}
    for market in ("AAPL", "MSFT"):
        server.state.add(market, START, 250, price=ALPACA.price)
    with TestClient(build_local_app(container, background=False)) as client:
        response = client.post("/v1/backfills", json=request("AAPL", "MSFT"), headers=admin)
        assert response.status_code == 202, response.text
        job = client.get(response.headers["location"], headers=admin).json()
        assert job["status"] == "completed", job
        assert job["runs"] > 3  # three batches a symbol, one batch a run
        assert job["bars"] == 500 and job["bars_by_symbol"] == {"AAPL": 250, "MSFT": 250}
        assert {s["symbol"]: s["bars"] for s in job["report"]["symbols"]} == {"AAPL": 250, "MSFT": 250}
        for market in ("AAPL", "MSFT"):
            params = {"timeframe": "1m", "start": START.isoformat(), "limit": 50_000}
            rows = client.get(f"/v1/bars/{market}", params=params, headers=admin).json()["bars"]
            assert as_rows(rows) == held(server, market)  # each bar once, none missing


def test_a_provider_failing_past_its_retries_fails_the_job_with_the_error(
    server: ProviderServer, client: TestClient, keys: Keys
) -> None:
    server.state.add(ALPACA.market, START, 250, price=ALPACA.price)
    server.state.fail("alpaca", 500, skip=1, times=100)  # page 2 onwards: 500s past the 3 attempts
    queued = submit(client, keys, request())
    job = job_of(client, keys, queued["backfill_id"])
    assert job["status"] == "failed", job
    assert "gave up after 3 attempt(s)" in job["error"] and job["report"] is None
    assert job["finished_at"] is not None
    requests = len(server.state.bar_requests("alpaca"))
    assert requests == 1 + 3  # one good page, then three tries: no retry loop beyond them
    assert len(bars_of(client, keys, ALPACA.symbol)) == 100  # the first batch stays, checkpointed
