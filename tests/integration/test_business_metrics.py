"""Business metrics (issue 12, part 3): the same list of metrics in both runtimes, from the events
the platform publishes. Locally at /metrics in Prometheus' format; in Lambda as CloudWatch EMF;
the Grafana dashboard charts only names the platform exposes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Keys
from trading_system.bootstrap import Container
from trading_system.entrypoints import lambda_runtime
from trading_system.entrypoints.business_metrics import DEFINITIONS, samples
from trading_system.entrypoints.local.runner import build_local_app
from trading_system.kernel.messages import Envelope
from trading_system.scanning.events import ScanCompleted
from trading_system.trading.events import OrderRejected

GRAFANA = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "trading.json"


@pytest.fixture
def local(container: Container) -> Iterator[TestClient]:
    with TestClient(build_local_app(container, background=False)) as client:
        yield client


def scraped(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_a_day_of_trading_shows_in_the_local_metrics(local: TestClient, keys: Keys) -> None:
    trader, admin = keys.header("trader"), keys.header("admin")
    assert local.post("/v1/symbols", json={"symbol": "FLAT"}, headers=trader).status_code == 201
    start = datetime(2024, 1, 1, tzinfo=UTC)
    bars = [
        {
            "ts": (start + timedelta(days=d)).date().isoformat(),
            "open": 10,
            "high": 11,
            "low": 9,
            "close": 10,
            "volume": 1e5,
        }
        for d in range(30)
    ]
    response = local.post(
        "/v1/bars", json={"timeframe": "1d", "symbol": "FLAT", "bars": bars}, headers=trader
    )
    assert response.status_code == 201, response.text
    scanner = {
        "name": "any close",
        "rules": ["close > 1"],
        "universe": {"type": "symbols", "symbols": ["FLAT"]},
    }
    scanner_id = local.post("/v1/scanners", json=scanner, headers=trader).json()["scanner_id"]
    assert local.post(f"/v1/scanners/{scanner_id}/runs", headers=trader).status_code in (200, 201)
    account = {"account_id": "desk", "starting_cash": "1000"}
    assert local.post("/v1/accounts", json=account, headers=admin).status_code == 201
    for qty, status in (("5", 201), ("500", 422)):  # $50 fits in $1,000; $5,000 is rejected
        order = {"account_id": "desk", "symbol": "FLAT", "side": "buy", "type": "market", "qty": qty}
        placed = local.post("/v1/orders", json=order, headers=trader)
        assert placed.status_code == status, placed.text

    metrics = scraped(local)
    assert metrics[("trading_bars_ingested_total", ())] == 30
    assert metrics[("trading_orders_placed_total", (("type", "market"),))] == 2
    assert metrics[("trading_orders_rejected_total", (("reason", "insufficient_buying_power"),))] == 1
    assert metrics[("trading_orders_filled_total", ())] == 1
    assert metrics[("trading_fill_delay_seconds_count", ())] == 1
    assert metrics[("trading_signals_total", (("scanner", scanner_id),))] >= 1
    assert metrics[("trading_scans_total", (("trigger", "manual"),))] == 1
    assert metrics[("trading_scan_duration_seconds_count", ())] >= 1


def test_a_dead_letter_is_counted_by_subscriber(local: TestClient, container: Container) -> None:
    publisher: Any = container.publisher
    envelope = Envelope.wrap(
        OrderRejected(order_id="o", account_id="a", symbol="S", at=datetime.now(UTC), reason="no"),
        producer="test",
        correlation_id="c",
    )
    for listener in publisher.dead_letter_listeners:
        listener("fill_orders", envelope)
    assert scraped(local)[("trading_dead_letters_total", (("subscriber", "fill_orders"),))] == 1


def test_lambda_writes_the_same_metrics_as_emf(capsys: pytest.CaptureFixture[str]) -> None:
    scan = ScanCompleted(
        scanner_id="scn_1",
        run_id="r",
        timeframe="1d",
        trigger="schedule",
        matches=3,
        new_signals=1,
        duration_ms=250,
    )
    envelope = Envelope.wrap(scan, producer="run_scanner", correlation_id="c")
    lambda_runtime._count_event(envelope)
    lambda_runtime.metrics.flush_metrics()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emitted = {
        m["Name"]: (
            doc[m["Name"]],
            {d for group in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for d in group},
        )
        for doc in documents
        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert emitted["Scans"][0] in (1, [1]) and "trigger" in emitted["Scans"][1]
    assert emitted["ScanDurationSeconds"][0] in (0.25, [0.25])
    assert emitted["ScanCompleted"][0] in (1, [1])  # and every event by its type, as before


def test_every_event_field_a_metric_reads_exists() -> None:
    """`samples` reads payload fields by name: a renamed field must fail here, not in production."""
    scan = ScanCompleted(
        scanner_id="s", run_id="r", timeframe="1d", trigger="manual", matches=0, new_signals=0, duration_ms=5
    )
    assert {s.name for s in samples(Envelope.wrap(scan, producer="p", correlation_id="c"))} == {
        "scans",
        "scan_duration_seconds",
    }


def test_the_grafana_dashboard_charts_only_exposed_metrics_and_all_of_them() -> None:
    dashboard = json.loads(GRAFANA.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in expressions for name in re.findall(r"\btrading_[a-z_]+", expr)}
    exposed: set[str] = set()
    for definition in DEFINITIONS:
        base = f"trading_{definition.name}"
        exposed |= (
            {f"{base}_total"}
            if definition.kind == "counter"
            else {f"{base}_{s}" for s in ("bucket", "sum", "count")}
        )
    assert used <= exposed, used - exposed
    charted = {
        name.removesuffix("_total").rsplit("_bucket", 1)[0].removesuffix("_sum").removesuffix("_count")
        for name in used
    }
    assert charted == {f"trading_{d.name}" for d in DEFINITIONS}
