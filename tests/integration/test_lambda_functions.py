"""Every catalog function's Lambda handler, invoked with the sample events in events/.

The functions run on the local adapters here (the AWS adapters have their own contract suites
against moto), so this checks the Lambda wiring: Mangum, the authorizer context, EventBridge
envelopes, S3 records and schedules reaching the same application code.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from hashlib import sha256 as digest
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from tests.fakes.receiver import Receiver
from tests.fakes.signal_log import signal_row
from trading_system.alerts import domain as alerts_domain
from trading_system.alerts.domain import (
    DELIVERY_HEADER,
    MAX_ATTEMPTS,
    RETRY_QUEUE,
    RETRY_SCHEDULE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alert,
    AlertDraft,
    Topic,
    UrlTarget,
)
from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import (
    CATALOG,
    Authorizer,
    Every,
    FanOut,
    FileDropped,
    Function,
    Http,
    On,
    Streamed,
    Timetabled,
    WebSocket,
    by_name,
)
from trading_system.config import load_settings
from trading_system.entrypoints.schemas import domain_events
from trading_system.identity.commands import CreateApiKey
from trading_system.identity.domain import ApiKey
from trading_system.kernel.jobs import JobStatus
from trading_system.kernel.messages import Envelope
from trading_system.kernel.principal import FIRST_ADMIN, Role
from trading_system.kernel.signing import signature_holds
from trading_system.market_data.commands import BackfillBars, BarRow, IngestBars, RegisterSymbol
from trading_system.market_data.jobs import BackfillJob
from trading_system.scanning.domain import Scanner
from trading_system.strategies.commands import BacktestRequest, CreateStrategy, SweepRequest
from trading_system.strategies.definitions import StrategyDraft
from trading_system.strategies.deployments import Deployment, DeploymentDraft, DeploymentStatus
from trading_system.strategies.jobs import BacktestJob, SweepJob
from trading_system.strategies.webhooks import WebhookDraft
from trading_system.strategies.webhooks import issue as issue_webhook
from trading_system.trading.commands import CreateAccount, PlaceOrder, ResumeTrading
from trading_system.trading.handlers import order_id_for
from trading_system.trading.orders import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from trading_system.trading.queries import GetTradingStatus

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_ORDER_CLIENT_ID = "sample-resting-buy"
SAMPLE_ORDER = order_id_for("paper", SAMPLE_ORDER_CLIENT_ID)


@dataclass
class LambdaContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "req-1"


def sample_for(function: Function) -> Path:
    trigger = function.trigger
    if isinstance(trigger, Http):
        return EVENTS / "http" / f"{function.name}.json"
    if isinstance(trigger, On):
        return EVENTS / "bus" / f"{trigger.events[0]}.json"
    if isinstance(trigger, Every):
        return EVENTS / "schedule" / f"{function.name}.json"
    if isinstance(trigger, FileDropped):
        return EVENTS / "s3" / f"{function.name}.json"
    if isinstance(trigger, FanOut):  # the plan step, as the state machine invokes it
        return EVENTS / "steps" / f"{function.name}.json"
    if isinstance(trigger, Timetabled):  # the input its schedules are made with
        return EVENTS / "timetable" / f"{function.name}.json"
    if isinstance(trigger, WebSocket):  # its first route's event, from API Gateway
        return EVENTS / "websocket" / f"{function.name}.json"
    if isinstance(trigger, Streamed):
        return EVENTS / "bus" / f"{trigger.events[0]}.json"
    assert isinstance(trigger, Authorizer)
    return EVENTS / "authorizer" / "authorizer.json"


def load(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text())
    return event


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("lambda-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADING_DATA_DIR", str(folder))
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TradingTest")
        yield folder


@pytest.fixture(scope="module")
def seeded(data_dir: Path) -> Container:
    container = bootstrap(load_settings())
    container.bus.execute(RegisterSymbol(symbol="AAPL"))
    container.bus.execute(
        IngestBars(
            timeframe="1d",
            symbol="AAPL",
            bars=[
                BarRow(ts="2024-01-02", open=187.15, high=188.44, low=183.89, close=185.64, volume=82488700),
                BarRow(ts="2024-01-03", open=184.22, high=185.88, low=183.43, close=184.25, volume=58414500),
            ],
        )
    )
    container.api_keys.add(
        ApiKey(
            key_id="0a1b2c3d4e5f",
            role=Role.VIEWER,
            secret_sha256="0" * 64,
            created_at=datetime.now(UTC),
            created_by="test",
        )
    )
    # "paper" is the default account; the reset_account sample resets "practice" instead, since
    # a reset cancels open orders and the sample order below must stay open for cancel_order
    container.bus.execute(CreateAccount(account_id="paper", starting_cash=Decimal(100_000)))
    container.bus.execute(CreateAccount(account_id="practice", starting_cash=Decimal(10_000)))
    # get_order, cancel_order and list_order_events: a buy far below the market rests (gtc, so
    # the close_session sample does not expire it)
    resting = OrderRequest(
        symbol="AAPL",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        qty=Decimal(1),
        limit_price=Decimal(100),
        client_order_id=SAMPLE_ORDER_CLIENT_ID,
        account_id="paper",
    )
    placed = container.bus.execute(PlaceOrder(request=resting))
    assert placed.order.id == SAMPLE_ORDER and placed.order.status is OrderStatus.ACCEPTED, placed.order
    return container


def handler_of(function: Function) -> Any:
    for name in [m for m in sys.modules if m.startswith("functions.") and m != "trading_system.catalog"]:
        del sys.modules[name]
    return importlib.import_module(function.module).handler


def test_every_function_and_event_type_has_a_sample() -> None:
    for function in CATALOG:
        assert sample_for(function).exists(), function.name
    for event_type in domain_events():
        assert (EVENTS / "bus" / f"{event_type}.json").exists(), event_type


def test_bus_samples_hold_valid_envelopes() -> None:
    published = domain_events()  # imports every context, so this does not depend on test order
    for path in (EVENTS / "bus").glob("*.json"):
        event = load(path)
        assert event["detail-type"] == path.stem
        cls = published[path.stem]
        assert event["source"] == cls.bus_source()
        cls.model_validate(event["detail"]["payload"])


EXPECTED_STATUS = {
    "health": 200,
    "get_me": 200,
    "create_api_key": 201,
    "list_api_keys": 200,
    "list_schedules": 200,
    "revoke_api_key": 200,
    "register_symbol": 201,
    "list_symbols": 200,
    "get_symbol": 200,
    "ingest_bars": 201,
    "upload_bars": 201,
    "get_bars": 200,
    "list_corporate_actions": 200,
    "record_corporate_actions": 201,
    "compact_lake": 200,
    # No provider key in the tests: the submission is refused before anything is stored (a
    # deployment with the Alpaca key set answers 202 and runs it).
    "submit_backfill": 422,
    "list_backfills": 200,
    "get_backfill": 200,
    "get_indicators": 200,
    "refresh_snapshot": 200,
    "create_scanner": 201,
    "list_scanners": 200,
    "get_scanner": 200,
    "update_scanner": 200,
    "delete_scanner": 204,
    "run_scanner": 201,
    "raise_signal": 201,  # of the external sample scanner, new
    "list_scan_runs": 200,
    "list_signals": 200,
    "place_order": 201,
    "list_orders": 200,
    "get_order": 200,
    "cancel_order": 200,
    "list_order_events": 200,
    "list_positions": 200,
    "get_account": 200,
    "list_accounts": 200,
    "create_account": 201,
    "reset_account": 200,
    "resume_account": 200,
    "grant_account_reader": 200,
    "revoke_account_reader": 200,
    "list_account_events": 200,
    "list_fills": 200,
    "get_pnl": 200,
    "halt_trading": 200,
    "resume_trading": 200,
    "get_trading_status": 200,
    "list_strategies": 200,
    "create_strategy": 201,
    "get_strategy": 200,
    "update_strategy": 200,
    "delete_strategy": 204,
    "create_deployment": 201,
    "list_deployments": 200,
    "get_deployment": 200,
    "get_parity": 200,
    "start_deployment": 200,
    "pause_deployment": 200,
    "stop_deployment": 200,
    "submit_backtest": 202,
    "list_backtests": 200,
    "get_backtest": 200,
    "get_backtest_trades": 200,
    "get_backtest_equity": 200,
    "delete_backtest": 204,
    "submit_sweep": 202,
    "list_sweeps": 200,
    "get_sweep": 200,
    "get_sweep_ranking": 200,
    "get_sweep_heatmap": 200,
    "delete_sweep": 204,
    # Webhooks in: the alert sample is placed once, then answered with the same order (201 both).
    "create_webhook": 201,
    "list_webhooks": 200,
    "delete_webhook": 204,
    "receive_webhook": 201,
    # Alerts out: the sample alert sends to port 9 on loopback, which refuses connections, so the
    # retry sample's delivery is tried, fails for a reason that may pass, and answers 200 retrying.
    "create_alert": 201,
    "list_alerts": 200,
    "get_alert": 200,
    "delete_alert": 204,
    "list_alert_deliveries": 200,
    "retry_alert_delivery": 200,
}
SAMPLE_SCANNER = "scn_sample00001"
SAMPLE_EXTERNAL_SCANNER = "scn_sample00002"  # the raise_signal sample's
SAMPLE_SCANNERS: dict[str, dict[str, Any]] = {
    SAMPLE_SCANNER: {"name": "sample", "rules": ["close > 100"]},
    SAMPLE_EXTERNAL_SCANNER: {"name": "tradingview", "kind": "external"},
}


def ensure_sample_scanners(container: Container) -> None:
    """The scanners the samples name: a rules one and an external one (raise_signal's)."""
    now = datetime.now(UTC)
    for scanner_id, definition in SAMPLE_SCANNERS.items():
        if container.scanners.get(scanner_id) is None:
            container.scanners.add(
                Scanner(
                    scanner_id=scanner_id, created_at=now, created_by="test", updated_at=now, **definition
                )
            )


SAMPLE_BACKTEST = "bt_8204893027123456789abcdef0"


def ensure_sample_backtest(container: Container) -> None:
    """The backtest the samples name, completed (the delete_backtest sample deletes it)."""
    job = container.backtests.get(SAMPLE_BACKTEST)
    if job is not None and job.status is JobStatus.COMPLETED:
        return
    container.backtests.add(
        BacktestJob(
            backtest_id=SAMPLE_BACKTEST,
            request=BacktestRequest(strategy="sma_cross", symbols=["AAPL"], params={"n1": 1, "n2": 2}),
            strategy_name="sma_cross",
            params={"n1": 1, "n2": 2},
            submitted_at=datetime.now(UTC),
            submitted_by="test",
        )
    )
    event = load(EVENTS / "bus" / "BacktestRequested.json")
    event["detail"]["event_id"] = str(uuid4())  # a new request each time, not a redelivery
    assert handler_of(by_name()["run_backtests"])(event, LambdaContext())["processed"] is True
    ran = container.backtests.get(SAMPLE_BACKTEST)
    assert ran is not None and ran.status is JobStatus.COMPLETED, ran


def test_the_backtest_runner_keeps_results_a_redelivery_does_not_rerun(seeded: Container) -> None:
    seeded.backtests.delete(SAMPLE_BACKTEST)
    ensure_sample_backtest(seeded)
    done = seeded.backtests.get(SAMPLE_BACKTEST)
    assert done is not None and done.outcome is not None and done.outcome.bars == 2
    curve = seeded.backtest_results.equity(SAMPLE_BACKTEST, 100)
    assert [point["equity"] for point in curve] == [10_000, 10_000]
    again = load(EVENTS / "bus" / "BacktestRequested.json")
    handler_of(by_name()["run_backtests"])(again, LambdaContext())
    assert seeded.backtests.get(SAMPLE_BACKTEST) == done  # completed jobs never run twice


SAMPLE_BACKFILL = "bf_8204893027123456789abcdef0"


def ensure_sample_backfill(container: Container) -> None:
    """The backfill job the samples name, failed (it would need the provider's key to run)."""
    if container.backfill_jobs.get(SAMPLE_BACKFILL) is not None:
        return
    request = BackfillBars(provider="alpaca", symbols=["AAPL"], timeframe="1m", start="2024-01-02")
    now = datetime.now(UTC)
    job = BackfillJob(backfill_id=SAMPLE_BACKFILL, request=request, submitted_at=now, submitted_by="test")
    container.backfill_jobs.add(job.start(now).fail("alpaca needs an API key", now))


def test_the_backfill_runner_leaves_a_finished_job_alone(seeded: Container) -> None:
    ensure_sample_backfill(seeded)
    before = seeded.backfill_jobs.get(SAMPLE_BACKFILL)
    event = load(EVENTS / "bus" / "BackfillRequested.json")
    event["detail"]["event_id"] = str(uuid4())
    assert handler_of(by_name()["run_backfills"])(event, LambdaContext())["processed"] is True
    after = seeded.backfill_jobs.get(SAMPLE_BACKFILL)
    assert before is not None and before.status is JobStatus.FAILED and after == before


SAMPLE_STRATEGY = "oversold_bounce"


def ensure_sample_strategy(container: Container) -> None:
    """The saved strategy the samples name (the delete_strategy sample deletes it, and the
    create_strategy sample saves a second one, which may already exist)."""
    container.saved_strategies.delete("oversold_bounce_2")
    if container.saved_strategies.get(SAMPLE_STRATEGY) is None:
        draft = json.loads(load(EVENTS / "http" / "update_strategy.json")["body"])
        container.bus.execute(CreateStrategy(draft=StrategyDraft.model_validate(draft)))


SAMPLE_DEPLOYMENT = "dep_sample000001"


def ensure_sample_deployment(container: Container, fresh: bool = False) -> None:
    """The deployment the samples name, not stopped (the stop_deployment sample stops it);
    `fresh`: as created, having decided on no bar yet."""
    found = container.deployments.get(SAMPLE_DEPLOYMENT)
    if found is not None and found.status is not DeploymentStatus.STOPPED and not fresh:
        return
    now = datetime.now(UTC)
    container.deployments.save(
        Deployment(
            deployment_id=SAMPLE_DEPLOYMENT,
            draft=DeploymentDraft(strategy="rsi_reversion", symbols=["AAPL"], account_id="paper"),
            strategy_name="rsi_reversion",
            kind="python",
            params={"period": 14, "lower": 30, "upper": 70, "fraction": 1.0},
            status=DeploymentStatus.RUNNING,
            created_at=now,
            created_by="test",
            updated_at=now,
        )
    )


SAMPLE_SWEEP = "sw_8204893027123456789abcdef0"


def ensure_sample_sweep(container: Container) -> None:
    """The sweep the samples name, completed (the delete_sweep sample deletes it)."""
    job = container.sweeps.get(SAMPLE_SWEEP)
    if job is not None and job.status is JobStatus.COMPLETED:
        return
    request = SweepRequest.model_validate(json.loads(load(EVENTS / "http" / "submit_sweep.json")["body"]))
    container.sweeps.save(
        SweepJob(
            sweep_id=SAMPLE_SWEEP,
            request=request,
            strategy_name="sma_cross",
            base_params={},
            combinations=[{"n1": 1, "n2": 2}, {"n1": 1, "n2": 3}, {"n1": 2, "n2": 3}],
            skipped=[{"values": {"n1": 2, "n2": 2}, "reason": "n1 (2) must be less than n2 (2)"}],
            submitted_at=datetime.now(UTC),
            submitted_by="test",
        )
    )
    # the state machine's three steps, as it invokes them (tests/infra/test_fan_out.py runs the
    # definition itself): the plan, each item of it, the finish
    handler = handler_of(by_name()["run_sweeps"])
    step = load(sample_for(by_name()["run_sweeps"]))
    plan = handler(step, LambdaContext())
    assert plan["finish"] == {"sweep_id": SAMPLE_SWEEP, "blocks": len(plan["items"])}, plan
    for item in plan["items"]:
        assert handler({**step, "command": "RunSweepBlock", "input": item}, LambdaContext()) is None
    assert handler({**step, "command": "FinishSweep", "input": plan["finish"]}, LambdaContext()) is None
    assert handler(step, LambdaContext()) == {"items": [], "finish": None}  # started again: nothing
    unknown = {**step, "command": "DeleteSweep"}
    with pytest.raises(ValueError, match="run_sweeps runs PlanSweep, RunSweepBlock, FinishSweep"):
        handler(unknown, LambdaContext())


SAMPLE_WEBHOOK = "wh_sample00001"
SAMPLE_WEBHOOK_SECRET = "sample-webhook-secret-0123456789abcdef"  # the receive_webhook sample's


def ensure_sample_webhook(container: Container) -> None:
    """The webhook the samples name (the delete_webhook sample deletes it), with a known secret."""
    if container.webhooks.get(SAMPLE_WEBHOOK) is None:
        draft = WebhookDraft.model_validate(json.loads(load(EVENTS / "http" / "create_webhook.json")["body"]))
        issued, _ = issue_webhook(draft, FIRST_ADMIN, "sample0key01", datetime.now(UTC))  # as the account
        container.webhooks.add(
            issued.model_copy(
                update={
                    "webhook_id": SAMPLE_WEBHOOK,
                    "secret_sha256": digest(SAMPLE_WEBHOOK_SECRET.encode()).hexdigest(),
                }
            )
        )


SAMPLE_ALERT = "al_sample00001"
# The OrderFilled sample's delivery to the sample alert (alerts/domain.py: delivery_id).
SAMPLE_DELIVERY = "8204445700000-e5a70261d29e5304927f638d1541f6e0"


def sample_fill(event_id: str | None = None) -> Envelope:
    """The OrderFilled sample's envelope; with `event_id`, another fill like it."""
    detail = load(EVENTS / "bus" / "OrderFilled.json")["detail"]
    if event_id is not None:
        detail["event_id"] = event_id
    return Envelope.model_validate(detail)


def url_alert(container: Container, url: str, alert_id: str | None = None) -> Alert:
    """An alert of the account's fills on the "paper" account, sent to `url`, added."""
    draft = AlertDraft(name="paper fills", topic=Topic.FILLS, source_id="paper", target=UrlTarget(url=url))
    alert = alerts_domain.create(draft, FIRST_ADMIN, "sample0key01", datetime.now(UTC))
    if alert_id is not None:
        alert = alert.model_copy(update={"alert_id": alert_id})
    container.alerts.add(alert)
    return alert


def ensure_sample_alert(container: Container) -> None:
    """The alert the samples name (the delete_alert sample deletes it), as the create_alert
    sample makes it, with the OrderFilled sample's delivery (the retry sample retries it)."""
    alert = container.alerts.get(SAMPLE_ALERT)
    if alert is None:
        body = json.loads(load(EVENTS / "http" / "create_alert.json")["body"])
        alert = url_alert(container, body["target"]["url"], SAMPLE_ALERT)
        assert alert.draft == AlertDraft.model_validate(body)
    if container.deliveries.get(SAMPLE_ALERT, SAMPLE_DELIVERY) is None:
        container.deliveries.put(alerts_domain.new_delivery(alert, sample_fill()))


def drop_alert(container: Container, alert: Alert) -> None:
    container.alerts.delete(alert)
    container.deliveries.drop_all(alert.alert_id)


def ensure_trading_resumed(container: Container) -> None:
    """The halt_trading sample halts trading; the others expect it open, whatever the order."""
    if container.bus.ask(GetTradingStatus())["halted"]:
        container.bus.execute(ResumeTrading())


def test_every_http_function_has_an_expected_status() -> None:
    assert sorted(EXPECTED_STATUS) == sorted(f.name for f in CATALOG if isinstance(f.trigger, Http))


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_http_functions_answer_their_sample(name: str, seeded: Container) -> None:
    function = by_name()[name]
    ensure_sample_scanners(seeded)
    ensure_trading_resumed(seeded)
    ensure_sample_backtest(seeded)
    ensure_sample_backfill(seeded)
    ensure_sample_sweep(seeded)
    ensure_sample_strategy(seeded)
    ensure_sample_deployment(seeded)
    ensure_sample_webhook(seeded)
    ensure_sample_alert(seeded)
    response = handler_of(function)(load(sample_for(function)), LambdaContext(function_name=name))
    assert response["statusCode"] == EXPECTED_STATUS[name], response["body"]
    body = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"]
    if response["statusCode"] != 204:
        assert json.loads(body) is not None
    assert response["headers"]["x-correlation-id"] == f"sample-{name}"


def test_get_bars_returns_the_seeded_bars(seeded: Container) -> None:
    function = by_name()["get_bars"]
    response = handler_of(function)(load(sample_for(function)), LambdaContext())
    bars = json.loads(response["body"])["bars"]
    assert bars[0] == {
        "ts": "2024-01-02T00:00:00Z",
        "open": 187.15,
        "high": 188.44,
        "low": 183.89,
        "close": 185.64,
        "volume": 82488700.0,
    }


def test_a_route_without_the_authorizers_decision_is_refused(seeded: Container) -> None:
    function = by_name()["list_symbols"]
    event = load(sample_for(function))
    del event["requestContext"]["authorizer"]
    assert handler_of(function)(event, LambdaContext())["statusCode"] == 401
    event["requestContext"]["authorizer"] = {"lambda": {"key_id": "k", "role": "viewer", "user": "admin"}}
    ingest = by_name()["ingest_bars"]
    low_role = load(sample_for(ingest))
    low_role["requestContext"]["authorizer"] = {"lambda": {"key_id": "k", "role": "viewer", "user": "admin"}}
    assert handler_of(ingest)(low_role, LambdaContext())["statusCode"] == 403


def test_the_authorizer_applies_the_catalog_roles(seeded: Container) -> None:
    handler = handler_of(by_name()["authorizer"])
    viewer = seeded.bus.execute(CreateApiKey(role=Role.VIEWER)).api_key
    event = load(sample_for(by_name()["authorizer"]))
    event["headers"]["x-api-key"] = viewer
    allowed = handler(event, LambdaContext())
    assert allowed["isAuthorized"] is True
    assert allowed["context"]["role"] == "viewer"

    trader_route = copy.deepcopy(event)
    trader_route["routeKey"] = "POST /v1/bars"
    assert handler(trader_route, LambdaContext())["isAuthorized"] is False

    bearer = copy.deepcopy(event)
    bearer["headers"] = {"authorization": f"Bearer {viewer}"}
    assert handler(bearer, LambdaContext())["isAuthorized"] is True

    for bad in ({}, {"x-api-key": "tsk_sample0key01_wrong"}, {"x-api-key": "junk"}):
        denied = copy.deepcopy(event)
        denied["headers"] = bad
        assert handler(denied, LambdaContext())["isAuthorized"] is False
    unknown = copy.deepcopy(event)
    unknown["routeKey"] = "GET /v1/secret"
    assert handler(unknown, LambdaContext())["isAuthorized"] is False


def test_the_subscriber_processes_an_event_once(seeded: Container) -> None:
    handler = handler_of(by_name()["record_coverage"])
    event = load(EVENTS / "bus" / "BarsIngested.json")
    event["detail"]["payload"]["symbols"][0]["first"] = "2023-06-01T00:00:00Z"
    first = handler(event, LambdaContext())
    assert first["processed"] is True
    coverage = seeded.symbols.get("AAPL").coverage  # type: ignore[union-attr]
    assert coverage["1d"].first == datetime(2023, 6, 1, tzinfo=UTC)
    assert handler(event, LambdaContext())["processed"] is False


def test_a_scanners_schedule_runs_it_and_a_schedule_left_behind_is_removed(seeded: Container) -> None:
    function = by_name()["run_scheduled_scanner"]
    ensure_sample_scanners(seeded)
    scanner = seeded.scanners.get(SAMPLE_SCANNER)
    assert scanner is not None
    seeded.scanners.save(scanner.model_copy(update={"schedule": "rate(5 minutes)"}))
    seeded.scanner_timetable.set(SAMPLE_SCANNER, "rate(5 minutes)")
    run = handler_of(function)(load(sample_for(function)), LambdaContext())
    assert run["scanner_id"] == SAMPLE_SCANNER
    assert run["trigger"] == "schedule"
    assert seeded.scanner_timetable.expression(SAMPLE_SCANNER) == "rate(5 minutes)"

    seeded.scanners.delete(SAMPLE_SCANNER)  # deleted, but its schedule was left behind
    assert handler_of(function)(load(sample_for(function)), LambdaContext()) is None
    assert seeded.scanner_timetable.expression(SAMPLE_SCANNER) is None
    with pytest.raises(ValueError, match="scanner_id"):
        handler_of(function)({"id": SAMPLE_SCANNER}, LambdaContext())


def test_the_snapshot_subscribers_process_their_samples(seeded: Container) -> None:
    ensure_sample_scanners(seeded)
    refreshed = handler_of(by_name()["refresh_snapshots"])(
        load(EVENTS / "bus" / "BarsIngested.json"), LambdaContext()
    )
    assert refreshed["processed"] is True
    ran = handler_of(by_name()["run_scanners"])(
        load(EVENTS / "bus" / "IndicatorsCalculated.json"), LambdaContext()
    )
    assert ran["processed"] is True


def test_the_schedule_compacts_the_lake(seeded: Container) -> None:
    result = handler_of(by_name()["compact_lake_nightly"])(
        load(sample_for(by_name()["compact_lake_nightly"])), LambdaContext()
    )
    assert result["files_after"] <= result["files_before"]


def test_the_schedule_of_every_10_minutes_moves_the_ingest_files(seeded: Container) -> None:
    from trading_system.market_data.domain import Timeframe

    def waiting() -> int:  # other tests of the module may have ingested into this lake too
        return sum(len(seeded.lake.committed_ingest_files(tf)) for tf in Timeframe)

    before = waiting()
    for minute in range(3):  # a live feed: one ingestion a minute
        bar = BarRow(ts=f"2026-03-02T15:0{minute}:00Z", open=10, high=11, low=9, close=10.5, volume=100)
        seeded.bus.execute(IngestBars(timeframe="1m", symbol="AAPL", bars=[bar]))
    assert waiting() == before + 3
    function = by_name()["compact_ingests_often"]
    result = handler_of(function)(load(sample_for(function)), LambdaContext())
    assert result["ingest_files_moved"] == before + 3 and result["rollups_written"] == 0
    assert waiting() == 0


def test_the_schedule_compacts_the_signal_log(seeded: Container) -> None:
    long_ago = datetime(2026, 1, 5, 21, tzinfo=UTC)
    for symbol in ("AAA", "BBB"):  # two scans' signals of a day long over: two files
        seeded.signal_log.append_signals([signal_row(long_ago, symbol, "scn_long_ago")])
    function = by_name()["compact_signal_log_nightly"]
    result = handler_of(function)(load(sample_for(function)), LambdaContext())
    assert result["days"] >= 1 and result["files_written"] >= 1
    assert result["files_deleted"] == result["files_merged"] >= 2
    merged = seeded.signal_log.signals(["scn_long_ago"], None, datetime(2026, 1, 5, tzinfo=UTC), 10)
    assert {s["symbol"] for s in merged} == {"AAA", "BBB"}


def test_a_dropped_file_is_ingested_and_reported(seeded: Container, data_dir: Path) -> None:
    dropped = data_dir / "raw" / "1d" / "AAPL" / "aapl 2024-01.csv"
    dropped.parent.mkdir(parents=True, exist_ok=True)
    dropped.write_text("Date,Open,High,Low,Close,Volume\n2024-01-12,186.06,186.74,185.19,185.92,40444700\n")
    result = handler_of(by_name()["ingest_dropped_file"])(
        load(sample_for(by_name()["ingest_dropped_file"])), LambdaContext()
    )
    (report,) = result["reports"]
    assert report["status"] == "ingested", report
    assert report["rows"] == 1
    assert (data_dir / "raw" / "_reports" / "1d" / "AAPL" / "aapl 2024-01.csv.json").exists()
    assert not dropped.exists()


def test_the_sample_order_is_the_seeded_one(seeded: Container) -> None:
    for name in ("get_order", "cancel_order", "list_order_events"):
        assert load(sample_for(by_name()[name]))["pathParameters"]["order_id"] == SAMPLE_ORDER


def test_the_trading_subscribers_process_their_samples(seeded: Container) -> None:
    filled = handler_of(by_name()["fill_orders"])(load(EVENTS / "bus" / "BarsIngested.json"), LambdaContext())
    assert filled["processed"] is True
    recorded = handler_of(by_name()["record_fills"])(
        load(EVENTS / "bus" / "OrderFilled.json"), LambdaContext()
    )
    assert recorded["processed"] is True
    fills = seeded.fill_log.pnl("paper", "symbol", 0, None, None)
    assert fills, "the sample fill reached the lake"


def test_the_alpaca_pull_with_no_subscribed_symbol_asks_nothing(seeded: Container) -> None:
    """No symbol is tagged alpaca in the seed: the run neither needs the keys nor calls Alpaca
    (its pulls are tested against the fake provider in tests/integration/test_pull_latest.py)."""
    function = by_name()["pull_alpaca_bars"]
    result = handler_of(function)(load(sample_for(function)), LambdaContext())
    assert (result["provider"], result["bars"], result["symbols"]) == ("alpaca", 0, [])


CRYPTO_PULLS = ("pull_binance_bars", "pull_coinbase_bars", "pull_kraken_bars")


@pytest.mark.parametrize("name", CRYPTO_PULLS)
def test_a_crypto_pull_with_no_subscribed_symbol_asks_nothing(seeded: Container, name: str) -> None:
    """No symbol is tagged with the exchange in the seed: the run reads the symbols and stops
    (the pulls themselves are tested against the fake provider in tests/integration/test_pull_latest.py)."""
    function = by_name()[name]
    result = handler_of(function)(load(sample_for(function)), LambdaContext())
    exchange = name.removeprefix("pull_").removesuffix("_bars")
    assert (result["provider"], result["bars"], result["symbols"], result["failed"]) == (exchange, 0, [], {})


_COLD_PULLS = """
import importlib, json, sys
from dataclasses import dataclass

@dataclass
class LambdaContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "req-1"

results = {}
for name, sample in json.loads(sys.argv[1]).items():
    handler = importlib.import_module(f"functions.market_data.{name}").handler
    results[name] = handler(json.loads(open(sample).read()), LambdaContext())
loaded = sorted(m for m in sys.modules if m.partition(".")[0] == "ccxt")
print(json.dumps({"results": results, "ccxt": loaded}, default=str))
"""


def test_the_crypto_pulls_with_nothing_subscribed_never_import_ccxt(tmp_path: Path) -> None:
    """As a cold start does: a fresh interpreter imports each crypto pull's Lambda module and
    runs it on an empty store. The exchange is never built, so CCXT (its layer's only reason)
    is never imported: a run costs a read of the symbols, not a quarter second of imports."""
    samples = {name: str(sample_for(by_name()[name])) for name in CRYPTO_PULLS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADING_", "AWS_"))}
    env |= {
        "TRADING_DATA_DIR": str(tmp_path / "data"),
        "TRADING_SETTINGS_FILE": str(tmp_path / "absent.toml"),
        "POWERTOOLS_METRICS_NAMESPACE": "TradingTest",
    }
    child = subprocess.run(
        [sys.executable, "-c", _COLD_PULLS, json.dumps(samples)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert {name: (r["provider"], r["bars"]) for name, r in outcome["results"].items()} == {
        "pull_binance_bars": ("binance", 0),
        "pull_coinbase_bars": ("coinbase", 0),
        "pull_kraken_bars": ("kraken", 0),
    }
    assert outcome["ccxt"] == []


def test_the_schedule_closes_the_session(seeded: Container) -> None:
    function = by_name()["close_session"]
    result = handler_of(function)(load(sample_for(function)), LambdaContext())
    assert result["expired"] == 0  # the seeded order is gtc: it stays open


def test_a_deployment_alerts_on_the_stale_sample_bar_instead_of_trading(seeded: Container) -> None:
    ensure_sample_deployment(seeded, fresh=True)
    event = load(EVENTS / "bus" / "BarsSettled.json")
    event["detail"]["event_id"] = str(uuid4())
    assert handler_of(by_name()["run_deployments"])(event, LambdaContext())["processed"] is True
    deployment = seeded.deployments.get(SAMPLE_DEPLOYMENT)
    assert deployment is not None and deployment.status is DeploymentStatus.RUNNING
    assert deployment.last_bar["AAPL"] == datetime(2024, 1, 3, tzinfo=UTC) and deployment.orders_placed == 0


def test_the_stream_lambdas_connect_subscribe_fan_out_and_disconnect(
    seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The WebSocket API's functions fed their samples: $connect with a key in the query string,
    a subscribe frame, the fan-out of a bar event through the management API (botocore's Stubber
    stands in for it: moto's accepts any connection and never answers 410), then $disconnect."""
    import boto3
    from botocore.stub import ANY, Stubber

    from trading_system.adapters.aws.websocket import ManagementApiPoster

    connect = handler_of(by_name()["stream_connect"])
    event = load(sample_for(by_name()["stream_connect"]))
    assert connect(event, LambdaContext())["statusCode"] == 401  # the sample's key is unknown
    del event["queryStringParameters"]
    assert connect(event, LambdaContext())["statusCode"] == 401
    event["queryStringParameters"] = {"api_key": seeded.bus.execute(CreateApiKey(role=Role.VIEWER)).api_key}
    assert connect(event, LambdaContext()) == {"statusCode": 200}

    messages = handler_of(by_name()["stream_messages"])
    subscribed = messages(load(sample_for(by_name()["stream_messages"])), LambdaContext())
    assert json.loads(subscribed["body"]) == {
        "type": "subscribed",
        "channels": ["bars:AAPL:1d", "orders:paper"],
    }

    client = boto3.client(
        "apigatewaymanagementapi", region_name="us-east-1", endpoint_url="https://abc123def4.example/live"
    )
    stub = Stubber(client)
    sample_bars = load(EVENTS / "bus" / "BarsIngested.json")
    stub.add_response("post_to_connection", {}, {"ConnectionId": "SampleConnA=", "Data": ANY})
    monkeypatch.setattr(ManagementApiPoster, "from_settings", classmethod(lambda cls, s: cls(client)))
    with stub:
        result = handler_of(by_name()["stream_fan_out"])(sample_bars, LambdaContext())
        stub.assert_no_pending_responses()
    assert (result["sent"], result["gone"], result["failed"]) == (1, 0, 0)

    goodbye = load(sample_for(by_name()["stream_messages"]))
    goodbye["requestContext"].update(routeKey="$disconnect", eventType="DISCONNECT")
    del goodbye["body"]
    assert messages(goodbye, LambdaContext()) == {"statusCode": 200}
    assert seeded.connections.subscribers("bars:AAPL:1d") == []


def test_the_sample_alert_and_delivery_are_the_seeded_ones(seeded: Container) -> None:
    assert alerts_domain.delivery_id(sample_fill()) == SAMPLE_DELIVERY
    for name in ("get_alert", "delete_alert", "list_alert_deliveries", "retry_alert_delivery"):
        assert load(sample_for(by_name()[name]))["pathParameters"]["alert_id"] == SAMPLE_ALERT
    retry = load(sample_for(by_name()["retry_alert_delivery"]))
    assert retry["pathParameters"]["delivery_id"] == SAMPLE_DELIVERY
    ensure_sample_alert(seeded)
    delivery = seeded.deliveries.get(SAMPLE_ALERT, SAMPLE_DELIVERY)
    assert delivery is not None and delivery.event_type == "OrderFilled"


def test_send_alerts_delivers_the_sample_fill_once(seeded: Container) -> None:
    """The OrderFilled sample, on "paper", reaches two alerts of paper's fills: one whose receiver
    takes it gets one POST, signed with the alert's key, carrying the event; one whose receiver
    answers 503 is left retrying, and starts the retry schedule, without holding up the other.
    EventBridge delivering the same event again sends nothing more to either."""
    handler = handler_of(by_name()["send_alerts"])
    event = load(EVENTS / "bus" / "OrderFilled.json")
    delivery_id = alerts_domain.delivery_id(sample_fill())
    with Receiver() as receiver, Receiver(default=503) as failing:
        alert = url_alert(seeded, receiver.url("/fills"))
        down = url_alert(seeded, failing.url("/down"))
        try:
            assert handler(event, LambdaContext())["processed"] is True
            (received,) = receiver.received
            body = json.loads(received.body)
            assert received.path == "/fills"
            assert (body["alert_id"], body["delivery_id"], body["topic"]) == (
                alert.alert_id,
                delivery_id,
                "fills",
            )
            assert body["event"]["event_id"] == event["detail"]["event_id"]
            assert received.headers[DELIVERY_HEADER] == delivery_id
            assert alert.signing_key is not None
            signature = received.headers[SIGNATURE_HEADER]
            assert signature_holds(
                alert.signing_key, received.headers[TIMESTAMP_HEADER], received.body, signature
            )
            delivered = seeded.deliveries.get(alert.alert_id, delivery_id)
            assert delivered is not None and (delivered.status, delivered.attempts) == ("delivered", 1)
            assert len(failing.received) == 1
            waiting = seeded.deliveries.get(down.alert_id, delivery_id)
            assert waiting is not None
            assert (waiting.status, waiting.attempts, waiting.last_status_code) == ("retrying", 1, 503)
            assert seeded.alert_timetable.expression(RETRY_QUEUE) == RETRY_SCHEDULE

            redelivered = {**event, "id": str(uuid4())}  # EventBridge's own id differs on a redelivery
            assert handler(redelivered, LambdaContext())["processed"] is False
            assert (len(receiver.received), len(failing.received)) == (1, 1)
            assert seeded.deliveries.get(alert.alert_id, delivery_id) == delivered
            assert seeded.deliveries.get(down.alert_id, delivery_id) == waiting
        finally:
            drop_alert(seeded, alert)
            drop_alert(seeded, down)


def test_the_retry_schedule_retries_due_deliveries_and_fails_the_spent_ones(
    seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry schedule's firing (its timetable sample): two deliveries whose wait is over,
    tried earliest first, one on its last attempt that the receiver refuses again (a 503), failed
    and dead-lettered with an AlertDeliveryFailed, then one the receiver takes. The next firing
    tries neither again, and the schedule is left only while some delivery still waits."""
    from trading_system.adapters.local.inprocess_bus import InProcessPublisher

    published: list[Envelope] = []
    publish = InProcessPublisher.publish

    def recording(self: InProcessPublisher, envelopes: Any) -> None:
        published.extend(envelopes)
        publish(self, envelopes)

    monkeypatch.setattr(InProcessPublisher, "publish", recording)
    function = by_name()["retry_alert_deliveries"]
    handler = handler_of(function)
    with Receiver() as receiver:
        alert = url_alert(seeded, receiver.url("/retries"))
        try:
            now = datetime.now(UTC)
            spent = alerts_domain.new_delivery(alert, sample_fill(str(uuid4()))).model_copy(
                update={
                    "status": "retrying",
                    "attempts": MAX_ATTEMPTS - 1,
                    "last_error": "HTTP 503",
                    "next_attempt_at": now - timedelta(seconds=2),
                }
            )
            taken = alerts_domain.new_delivery(alert, sample_fill(str(uuid4()))).model_copy(
                update={
                    "status": "retrying",
                    "attempts": 1,
                    "last_error": "connection refused",
                    "next_attempt_at": now - timedelta(seconds=1),
                }
            )
            seeded.deliveries.put(spent)
            seeded.deliveries.put(taken)
            seeded.alert_timetable.set(RETRY_QUEUE, RETRY_SCHEDULE)
            receiver.answer(503)  # the first request (the spent one's); then the default, 200

            report = handler(load(sample_for(function)), LambdaContext())
            # (another alert's delivery may have come due meanwhile: the counts are at least ours)
            assert report["attempted"] >= 2 and report["delivered"] >= 1 and report["failed"] >= 1, report
            assert [r.headers[DELIVERY_HEADER] for r in receiver.received] == [
                spent.delivery_id,
                taken.delivery_id,
            ]
            failed = seeded.deliveries.get(alert.alert_id, spent.delivery_id)
            assert failed is not None
            assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", MAX_ATTEMPTS, 503)
            assert failed.next_attempt_at is None
            delivered = seeded.deliveries.get(alert.alert_id, taken.delivery_id)
            assert delivered is not None and (delivered.status, delivered.attempts) == ("delivered", 2)
            (dead,) = [
                e
                for e in published
                if e.event_type == "AlertDeliveryFailed" and e.payload["alert_id"] == alert.alert_id
            ]
            assert dead.payload == {
                "alert_id": alert.alert_id,
                "delivery_id": spent.delivery_id,
                "owner": FIRST_ADMIN,
                "alerted": "OrderFilled",
                "attempts": MAX_ATTEMPTS,
                "error": failed.last_error,
            }
            # (other tests' deliveries to port 9 may still wait here, so either way is right)
            scheduled = seeded.alert_timetable.expression(RETRY_QUEUE)
            assert scheduled == (RETRY_SCHEDULE if seeded.deliveries.any_waiting() else None)

            handler(load(sample_for(function)), LambdaContext())
            assert len(receiver.received) == 2  # nothing of ours was due any more
            with pytest.raises(ValueError, match="queue"):
                handler({"id": RETRY_QUEUE}, LambdaContext())
        finally:
            drop_alert(seeded, alert)


def test_send_alerts_starts_the_retry_schedule_when_the_retry_run_asks(seeded: Container) -> None:
    """The retry run may only remove its schedule; finding a delivery queued just after it did,
    it asks the sender (AlertRetriesWaiting), which starts the schedule again, once."""
    handler = handler_of(by_name()["send_alerts"])
    event = load(EVENTS / "bus" / "AlertRetriesWaiting.json")
    seeded.alert_timetable.remove(RETRY_QUEUE)
    assert handler(event, LambdaContext())["processed"] is True
    assert seeded.alert_timetable.expression(RETRY_QUEUE) == RETRY_SCHEDULE
    assert handler(event, LambdaContext())["processed"] is False
