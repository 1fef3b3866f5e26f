"""The whole application on the AWS adapters, against moto's server on loopback: DynamoDB as
the write store, EventBridge as the bus (drained from an SQS queue, as Lambda targets would be
invoked), S3 as the lake and the raw-upload bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.aws_fixtures import PlatformResources, boto_client, unique_name
from tests.fakes.fixtures import server
from tests.fakes.provider_server import ProviderServer, provider_settings
from trading_system.adapters.aws.event_format import envelope_from_eventbridge
from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import http_functions, subscriptions
from trading_system.entrypoints.dropped_files import ingest_dropped
from trading_system.entrypoints.http.app import create_app
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel.principal import Role
from trading_system.market_data.commands import BackfillBars, PullAlpacaBars, RegisterSymbol
from trading_system.market_data.domain import Timeframe
from trading_system.market_data.queries import GetBars

pytestmark = pytest.mark.usefixtures("aws_env")
__all__ = ["server"]  # the fake provider server, a fixture


@pytest.fixture
def aws(moto_url: str, tmp_path: Any) -> Iterator[tuple[Container, str]]:
    made, queue_url = platform(moto_url)
    yield bootstrap(made.settings(moto_url, tmp_path)), queue_url


def platform(moto_url: str) -> tuple[PlatformResources, str]:
    """The stack's resources on moto, and a queue every event of the bus also lands in."""
    made = PlatformResources.create(moto_url)
    events = boto_client("events", moto_url)
    sqs = boto_client("sqs", moto_url)
    queue_url = sqs.create_queue(QueueName=unique_name("queue"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all", EventBusName=made.bus, EventPattern=json.dumps({"source": [{"prefix": "trading."}]})
    )
    events.put_targets(Rule="all", EventBusName=made.bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    return made, queue_url


def deliver_pending(container: Container, queue_url: str, moto_url: str) -> list[str]:
    """What EventBridge rules + Lambda targets do in AWS: each subscriber gets each event."""
    sqs = boto_client("sqs", moto_url)
    delivered = []
    for _ in range(5):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            envelope = envelope_from_eventbridge(json.loads(message["Body"]))
            for subscriber in subscriptions().get(envelope.event_type, []):
                container.bus.deliver(subscriber, envelope)
            delivered.append(envelope.event_type)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return delivered


def test_market_data_end_to_end_on_aws_adapters(aws: tuple[Container, str], moto_url: str) -> None:
    container, queue_url = aws
    token = container.bus.execute(CreateApiKey(role=Role.TRADER)).api_key
    headers = {"x-api-key": token}
    client = TestClient(create_app(container, http_functions(), "check_key"))

    assert client.post("/v1/symbols", json={"symbol": "AAPL"}, headers=headers).status_code == 201
    bars = [
        {
            "ts": f"2024-01-0{d}T{h:02d}:00:00Z",
            "open": 100 + h,
            "high": 101 + h,
            "low": 99 + h,
            "close": 100.5 + h,
            "volume": 10,
        }
        for d in (2, 3)
        for h in range(14, 21)
    ]
    response = client.post(
        "/v1/bars", json={"timeframe": "1h", "symbol": "AAPL", "bars": bars}, headers=headers
    )
    assert response.status_code == 201, response.text

    # The lake has the bars at once; the coverage the query uses arrives through the bus.
    assert client.get("/v1/bars/AAPL", params={"timeframe": "1d"}, headers=headers).json()["bars"] == []
    # BarsIngested -> refresh_snapshots publishes IndicatorsCalculated and fill_orders BarsSettled,
    # each delivered in turn.
    delivered = deliver_pending(container, queue_url, moto_url)
    assert sorted(delivered) == ["BarsIngested", "BarsSettled", "IndicatorsCalculated", "SymbolRegistered"]
    daily = client.get("/v1/bars/AAPL", params={"timeframe": "1d"}, headers=headers).json()
    assert daily["source_timeframe"] == "1h"
    assert daily["bars"] == [
        {
            "ts": "2024-01-02T00:00:00Z",
            "open": 114.0,
            "high": 121.0,
            "low": 113.0,
            "close": 120.5,
            "volume": 70.0,
        },
        {
            "ts": "2024-01-03T00:00:00Z",
            "open": 114.0,
            "high": 121.0,
            "low": 113.0,
            "close": 120.5,
            "volume": 70.0,
        },
    ]
    coverage = client.get("/v1/symbols/AAPL", headers=headers).json()["coverage"]
    assert coverage["1h"]["bars_ingested"] == 14

    bad = client.post(
        "/v1/bars",
        json={"timeframe": "1h", "symbol": "AAPL", "bars": [dict(bars[0], low=500)]},
        headers=headers,
    )
    assert bad.status_code == 422
    lake = boto_client("s3", moto_url).list_objects_v2(
        Bucket=container.settings.lake_root.removeprefix("s3://")
    )
    ingested = sorted(o["Key"] for o in lake["Contents"] if o["Key"].startswith("ingests/"))
    assert len(ingested) == 2, ingested  # the refused batch wrote nothing: one file, one commit record
    assert ingested[0].startswith("ingests/timeframe=1h/_commits/") and ingested[1].endswith(".parquet")


def test_a_file_dropped_in_the_raw_bucket_is_ingested_and_reported(
    aws: tuple[Container, str], moto_url: str
) -> None:
    container, _ = aws
    container.bus.execute(RegisterSymbol(symbol="SPY"))
    raw = container.settings.raw_root.removeprefix("s3://")
    s3 = boto_client("s3", moto_url)
    s3.put_object(
        Bucket=raw,
        Key="1d/SPY/spy.csv",
        Body=b"Date,Open,High,Low,Close,Volume\n2024-01-02,472.16,473.67,470.49,472.65,123623700\n",
    )
    s3.put_object(
        Bucket=raw,
        Key="1d/SPY/bad.csv",
        Body=b"Date,Open,High,Low,Close,Volume\n2024-01-02,472.16,1,470.49,472.65,1\n",
    )
    assert ingest_dropped(container, "1d/SPY/spy.csv")["status"] == "ingested"
    rejected = ingest_dropped(container, "1d/SPY/bad.csv")
    assert rejected["status"] == "rejected"
    assert rejected["errors"][0]["field"] == "high"
    report = json.loads(s3.get_object(Bucket=raw, Key="_reports/1d/SPY/bad.csv.json")["Body"].read())
    assert report["status"] == "rejected"


def test_trading_end_to_end_on_aws_adapters(aws: tuple[Container, str], moto_url: str) -> None:
    """Orders on DynamoDB (events, conditional transactions), fills from bars through
    EventBridge, fills into the S3 lake and P&L read back from it in DuckDB."""
    container, queue_url = aws
    admin = {"x-api-key": container.bus.execute(CreateApiKey(role=Role.ADMIN)).api_key}
    client = TestClient(create_app(container, http_functions(), "check_key"))

    created = client.post(
        "/v1/accounts", json={"account_id": "paper", "starting_cash": "10000"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert client.post("/v1/symbols", json={"symbol": "AAPL"}, headers=admin).status_code == 201
    history = [_day(1, 100), _day(2, 102), _day(3, 104)]
    assert client.post("/v1/bars", json=_batch(history), headers=admin).status_code == 201
    deliver_pending(container, queue_url, moto_url)  # fill_orders keeps the last price: 106.5

    bought = client.post(
        "/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "qty": "10", "client_order_id": "b1"},
        headers=admin,
    )
    assert bought.status_code == 201, bought.text
    assert (bought.json()["status"], bought.json()["filled_avg_price"]) == ("filled", "106.5")
    replay = client.post(
        "/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "qty": "10.0", "client_order_id": "b1"},
        headers=admin,
    )
    assert (replay.status_code, replay.json()["id"]) == (200, bought.json()["id"])
    other = client.post(
        "/v1/orders",
        json={"symbol": "AAPL", "side": "buy", "qty": "11", "client_order_id": "b1"},
        headers=admin,
    )
    assert other.status_code == 409
    sell = client.post(
        "/v1/orders",
        json={
            "symbol": "AAPL",
            "side": "sell",
            "type": "limit",
            "qty": "4",
            "limit_price": "109",
            "time_in_force": "gtc",
        },
        headers=admin,
    )
    assert sell.json()["status"] == "accepted"
    deliver_pending(container, queue_url, moto_url)  # OrderFilled -> record_fills

    # Day 4 trades 106-109 from an open of 107: the sell's limit 109 is reached, filled at it.
    assert client.post("/v1/bars", json=_batch([_day(4, 106)]), headers=admin).status_code == 201
    delivered = deliver_pending(container, queue_url, moto_url)
    assert "OrderFilled" in delivered and "PositionChanged" in delivered
    filled = client.get(f"/v1/orders/{sell.json()['id']}", headers=admin).json()
    assert (filled["status"], filled["filled_avg_price"]) == ("filled", "109")

    [position] = client.get("/v1/positions", headers=admin).json()
    assert (position["qty"], position["realized_pl"]) == ("6", "10.00")  # (109 - 106.5) x 4
    account = client.get("/v1/account", headers=admin).json()
    assert account["cash"] == "9371.00"  # 10000 - 1065 + 436
    pnl = client.get("/v1/pnl", params={"by": "symbol"}, headers=admin).json()["rows"]
    # the realized P&L reads as the position reads it
    assert [(r["symbol"], r["realized_pl"], r["fills"]) for r in pnl] == [("AAPL", "10.00", 2)]
    events = client.get(f"/v1/orders/{sell.json()['id']}/events", headers=admin).json()
    assert [e["type"] for e in events] == ["OrderPlaced", "OrderAccepted", "OrderFilled"]
    assert events[0]["by"]["role"] == "admin" and events[2]["by"]["key_id"] == "system"


def test_concurrent_orders_on_dynamodb_never_overspend(
    aws: tuple[Container, str], moto_transactions_isolated: None
) -> None:
    """Threads racing to spend one account's cash on DynamoDB: conditional transactions let
    exactly as many orders through as the cash covers, and every stream stays contiguous."""
    import threading
    from decimal import Decimal

    from trading_system.trading.commands import CreateAccount, PlaceOrder
    from trading_system.trading.orders import OrderRequest
    from trading_system.trading.queries import GetAccount

    container, _ = aws
    container.bus.execute(CreateAccount(account_id="paper", starting_cash=Decimal("1000")))
    container.bus.execute(RegisterSymbol(symbol="AAPL"))
    results: list[str] = []
    errors: list[BaseException] = []

    def place(writer: int) -> None:
        try:
            for n in range(5):
                request = OrderRequest(
                    symbol="AAPL",
                    side="buy",
                    type="limit",
                    qty=Decimal(1),
                    limit_price=Decimal(100),
                    time_in_force="gtc",
                    client_order_id=f"w{writer}-{n}",
                )
                results.append(container.bus.execute(PlaceOrder(request=request)).order.status.value)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=place, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert sorted(results).count("accepted") == 10 and sorted(results).count("rejected") == 10
    account = container.bus.ask(GetAccount(account_id="paper"))
    assert (account.reserved_cash, account.buying_power, account.open_orders) == (
        Decimal(1000),
        Decimal(0),
        10,
    )
    versions = [e.version for e in container.event_store.read("account-paper")]
    assert versions == list(range(1, 12))  # created + 10 reservations


def _day(day: int, low: float) -> dict[str, Any]:
    return {
        "ts": f"2024-01-0{day}",
        "open": low + 1,
        "high": low + 3,
        "low": low,
        "close": low + 2.5,
        "volume": 1000,
    }


def _batch(bars: list[dict[str, Any]]) -> dict[str, Any]:
    return {"timeframe": "1d", "symbol": "AAPL", "bars": bars}


def test_racing_places_cancels_and_fills_on_dynamodb_stay_consistent(
    aws: tuple[Container, str], moto_url: str, moto_transactions_isolated: None
) -> None:
    """Traders place and cancel while bars arrive and fill (EventBridge → fill_orders), all on
    DynamoDB: no order fills twice or past its qty, every stream is contiguous, cash follows
    the fills exactly and never goes negative, and what the account holds back is exactly what
    its open orders hold."""
    import contextlib
    import threading
    from decimal import Decimal

    from trading_system.kernel.errors import Conflict
    from trading_system.market_data.commands import IngestBars
    from trading_system.trading.commands import CancelOrder, CreateAccount, PlaceOrder
    from trading_system.trading.orders import OrderRequest
    from trading_system.trading.queries import GetOrder

    container, queue_url = aws
    container.bus.execute(CreateAccount(account_id="paper", starting_cash=Decimal(1000)))
    container.bus.execute(RegisterSymbol(symbol="AAPL"))
    placed: list[str] = []
    errors: list[BaseException] = []

    def trade(writer: int) -> None:
        try:
            for n in range(6):
                request = OrderRequest(
                    symbol="AAPL",
                    side="buy",
                    type="limit",
                    qty=Decimal(1),
                    limit_price=Decimal(100),
                    time_in_force="gtc",
                    client_order_id=f"w{writer}-{n}",
                )
                order = container.bus.execute(PlaceOrder(request=request)).order
                placed.append(order.id)
                if n % 3 == 2:
                    # filled, rejected or closed meanwhile: cancelling it is refused (409), rightly
                    with contextlib.suppress(Conflict):
                        container.bus.execute(CancelOrder(order_id=order.id))
        except BaseException as error:  # surfaced below
            errors.append(error)

    def feed() -> None:
        try:
            for day in range(1, 4):  # each bar trades through 100: resting buys fill at the limit
                bar = {
                    "ts": f"2024-02-0{day}",
                    "open": 101,
                    "high": 102,
                    "low": 95,
                    "close": 98,
                    "volume": 10,
                }
                container.bus.execute(IngestBars(timeframe="1d", symbol="AAPL", bars=[bar]))
                deliver_pending(container, queue_url, moto_url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=trade, args=(w,)) for w in range(3)] + [threading.Thread(target=feed)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not errors, errors
    deliver_pending(container, queue_url, moto_url)

    orders = [container.bus.ask(GetOrder(order_id=order_id)) for order_id in placed]
    spent = Decimal(0)
    streams = {}  # what a failure below shows
    for order in orders:
        history = streams[order.id] = container.event_store.read(f"order-{order.id}")
        assert [e.version for e in history] == list(range(1, len(history) + 1))
        fills = [e for e in history if e.type == "OrderFilled"]
        filled = sum((Decimal(e.data["qty"]) for e in fills), Decimal(0))
        assert filled == order.filled_qty <= Decimal(1)
        spent += sum((Decimal(e.data["qty"]) * Decimal(e.data["price"]) for e in fills), Decimal(0))
    account = container.ledger.require_account("paper")
    account_history = container.event_store.read("account-paper")
    assert [e.version for e in account_history] == list(range(1, len(account_history) + 1))
    # should a fill ever go missing from the cash, the streams say which
    assert account.cash == Decimal(1000) - spent >= 0, (account_history, streams)
    still_open = [o for o in orders if o.status.is_open]
    assert account.open_orders == len(still_open)
    assert account.reserved_cash == sum((o.held_cash for o in still_open), Decimal(0))
    assert sorted(container.ledger.open_order_ids_of("paper")) == sorted(o.id for o in still_open)
    assert any(o.status.value == "filled" for o in orders) and any(
        o.status.value == "canceled" for o in orders
    )


class _Clock:
    def __init__(self, now: datetime):
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def test_a_backfill_and_a_scheduled_pull_on_aws_adapters(
    moto_url: str, tmp_path: Any, server: ProviderServer
) -> None:
    """Checkpoints in DynamoDB, bars in the S3 lake, coverage kept by the subscriber on
    EventBridge's events; the scheduled pull then fetches only what came since."""
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    server.state.add("AAPL", start, 400)
    made, queue_url = platform(moto_url)
    clock = _Clock(start + timedelta(minutes=300, seconds=20))
    settings = made.settings(moto_url, tmp_path, **provider_settings(server))
    container = bootstrap(settings, clock=clock)

    report = container.bus.execute(
        BackfillBars(provider="alpaca", symbols=["AAPL"], timeframe=Timeframe.M1, start=start)
    )
    assert report.bars == 300
    checkpoint = container.backfills.get("alpaca", "AAPL", Timeframe.M1)
    assert checkpoint is not None and checkpoint.through == start + timedelta(minutes=300)
    assert "BarsIngested" in deliver_pending(container, queue_url, moto_url)  # coverage recorded
    listing = container.symbols.require("AAPL")
    assert listing.tags == ["alpaca"] and listing.coverage[Timeframe.M1].last == start + timedelta(
        minutes=299
    )

    clock.moment = start + timedelta(minutes=400, seconds=5)
    server.state.requests.clear()
    pulled = container.bus.execute(PullAlpacaBars())
    assert pulled.bars == 100
    [asked] = server.state.bar_requests("alpaca")
    assert asked["start"] == "2024-01-02T19:30:00Z"  # the bar after the last one stored
    page = container.bus.ask(GetBars(symbol="AAPL", timeframe=Timeframe.M1, start=start, limit=1_000))
    stamps = [r["ts"] for r in page.bars.records()]
    assert len(stamps) == 400 == len(set(stamps))
    assert stamps[0] == "2024-01-02T14:30:00Z" and stamps[-1] == "2024-01-02T21:09:00Z"
