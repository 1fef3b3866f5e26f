"""The live stream in AWS (entrypoints/websocket.py): the WebSocket API's routes and the fan-out,
with the connections in DynamoDB on moto's server on loopback, and the management API's answers
(gone connections, refusals) produced with botocore's Stubber, since moto's management API accepts
any connection id and never answers 410. The frames are also sent to the local hub, which must
answer them the same (one protocol, entrypoints/stream.py)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore, create_table
from trading_system.adapters.aws.websocket import ManagementApiPoster
from trading_system.adapters.connections import DocumentConnections
from trading_system.config import Settings
from trading_system.entrypoints import websocket
from trading_system.entrypoints.local.hub import StreamHub
from trading_system.entrypoints.stream import Sees
from trading_system.identity.queries import Authenticate
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.connections import Posted
from trading_system.kernel.errors import DomainError, NotFound
from trading_system.kernel.messages import Envelope
from trading_system.kernel.principal import Principal, Role
from trading_system.trading.queries import GetAccount

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> str:
    moto_url: str = request.getfixturevalue("moto_url")
    name = unique_name("stream")
    create_table(boto_client("dynamodb", moto_url), name)
    return name


@pytest.fixture
def connections(moto_url: str, table: str) -> DocumentConnections:
    store = DynamoDbDocumentStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=table))
    return DocumentConnections(store, Clock())


def ws_event(route: str, connection_id: str, body: str | None = None, **extra: Any) -> dict[str, Any]:
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event: dict[str, Any] = {
        "requestContext": {"routeKey": route, "eventType": event_type, "connectionId": connection_id},
        **extra,
    }
    if body is not None:
        event["body"] = body
    return event


def principal_for(token: str) -> Principal:
    roles = {"viewer-key": Role.VIEWER, "admin-key": Role.ADMIN}
    if token not in roles:
        raise DomainError("unknown API key", status=401)
    return Principal(key_id=f"id-{token}", role=roles[token], user="alice")


# What the contexts would answer: alice's account and scanner are hers; nothing else exists.
ALICES = {("account", "acc-alice"), ("scanner", "scan-alice")}


def sees_for(principal: Principal) -> Sees:
    return lambda kind, thing_id: principal.user == "alice" and (kind, thing_id) in ALICES


def message(event: dict[str, Any], connections: DocumentConnections) -> dict[str, Any]:
    return websocket.message(event, connections, sees_for)


def hub_bus_ask(query: Any, context: MessageContext | None = None) -> Any:
    """The local hub's bus: Authenticate, and the contexts' Get queries, answered as sees_for does."""
    if isinstance(query, Authenticate):
        return principal_for(query.token)
    assert context is not None  # a subscription's check is asked as the subscriber
    kind, thing_id = (
        ("account", query.account_id) if isinstance(query, GetAccount) else ("scanner", query.scanner_id)
    )
    if not sees_for(context.principal)(kind, thing_id):
        raise NotFound(f"no {kind} {thing_id}")
    return object()


def open_connection(connections: DocumentConnections, token: str = "viewer-key") -> str:
    connection_id = f"{uuid.uuid4().hex[:12]}="
    event = ws_event("$connect", connection_id, queryStringParameters={"api_key": token})
    assert websocket.connect(event, principal_for, connections, Clock()) == {"statusCode": 200}
    return connection_id


def envelope(event_type: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(
        event_type=event_type,
        version=1,
        occurred_at=NOW,
        correlation_id="c-1",
        producer="test",
        payload=payload,
    )


def bars_ingested(symbol: str) -> Envelope:
    entry = {"symbol": symbol, "first": "2024-01-08T00:00:00Z", "last": "2024-01-08T00:00:00Z", "rows": 1}
    return envelope(
        "BarsIngested",
        {
            "ingest_id": "i1",
            "timeframe": "1d",
            "rows": 1,
            "start": "2024-01-08T00:00:00Z",
            "end": "2024-01-08T00:00:00Z",
            "symbols": [entry],
            "source": "api",
        },
    )


def management_client() -> Any:
    return boto3.client(
        "apigatewaymanagementapi", region_name="us-east-1", endpoint_url="https://abc123def4.example/live"
    )


# --- $connect ---------------------------------------------------------------------------------


def test_connect_checks_the_key_in_the_query_string(connections: DocumentConnections) -> None:
    refused = {"none": None, "unknown": {"api_key": "nope"}}
    for case, query in refused.items():
        answer = websocket.connect(
            ws_event("$connect", f"{case}=", queryStringParameters=query), principal_for, connections, Clock()
        )
        assert answer["statusCode"] == 401, case
        assert connections.get(f"{case}=") is None
    connection_id = open_connection(connections)
    connection = connections.get(connection_id)
    assert connection is not None
    assert (connection.key_id, connection.role) == ("id-viewer-key", "viewer")
    # API Gateway closes every connection after 2 hours: the row expires a little later
    assert connection.expires_at == NOW + websocket.CONNECTION_LIFETIME


def test_connect_takes_a_bearer_header_too(connections: DocumentConnections) -> None:
    event = ws_event("$connect", "bearer=", headers={"Authorization": "Bearer admin-key"})
    assert websocket.connect(event, principal_for, connections, Clock()) == {"statusCode": 200}


def test_connect_refuses_a_principal_below_viewer(connections: DocumentConnections) -> None:
    def no_role(token: str) -> Principal:
        raise DomainError("this key may not read", status=403)

    event = ws_event("$connect", "low=", queryStringParameters={"api_key": "x"})
    assert websocket.connect(event, no_role, connections, Clock())["statusCode"] == 403


# --- frames: the local hub's protocol -----------------------------------------------------------

FRAMES = [
    json.dumps({"action": "ping"}),
    json.dumps({"action": "subscribe", "channels": ["bars:AAPL:1d", "orders:acc-alice"]}),
    json.dumps({"action": "subscribe", "channels": ["signals", "signals:scan-alice"]}),
    json.dumps({"action": "unsubscribe", "channels": ["orders:acc-alice"]}),
    # another user's account, one that does not exist, every account's orders (admins only)
    json.dumps({"action": "subscribe", "channels": ["bars:MSFT", "orders:acc-bob"]}),
    json.dumps({"action": "subscribe", "channels": ["positions:no-such-account"]}),
    json.dumps({"action": "subscribe", "channels": ["orders", "events"]}),
    "this is not json",
    json.dumps({"action": "subscribe", "channels": ["no such channel"]}),
    json.dumps({"action": "shout"}),
    json.dumps({"action": "subscribe", "channels": "orders"}),
    json.dumps({"action": "ping"}),
]


def local_hub_replies(frames: list[str]) -> list[dict[str, Any]]:
    app = FastAPI()
    hub = StreamHub()
    app.state.container = SimpleNamespace(bus=SimpleNamespace(ask=hub_bus_ask))
    app.add_api_websocket_route("/v1/stream", hub.endpoint)
    replies = []
    with TestClient(app) as client, client.websocket_connect("/v1/stream?api_key=viewer-key") as socket:
        for frame in frames:
            socket.send_text(frame)
            replies.append(socket.receive_json())
    return replies


def test_frames_get_the_local_hubs_replies(connections: DocumentConnections) -> None:
    connection_id = open_connection(connections)
    aws = []
    for frame in FRAMES:
        route = "$default"
        with contextlib.suppress(ValueError):
            route = json.loads(frame).get("action", "$default")
        answer = message(ws_event(route, connection_id, frame), connections)
        assert answer["statusCode"] == 200
        aws.append(json.loads(answer["body"]))
    assert aws == local_hub_replies(FRAMES)
    assert aws[1] == {"type": "subscribed", "channels": ["bars:AAPL:1d", "orders:acc-alice"]}
    assert aws[3] == {"type": "unsubscribed", "channels": ["orders:acc-alice"]}
    # Refused whole, naming the channels: the same words for another's id and an unknown one.
    assert [(a["type"], a["channels"]) for a in aws[4:7]] == [
        ("error", ["orders:acc-bob"]),
        ("error", ["positions:no-such-account"]),
        ("error", ["orders", "events"]),
    ]
    assert aws[4]["detail"].replace("orders:acc-bob", "X") == aws[5]["detail"].replace(
        "positions:no-such-account", "X"
    )
    connection = connections.get(connection_id)
    assert connection is not None and connection.channels == ("bars:AAPL:1d", "signals", "signals:scan-alice")


def test_a_frame_from_a_forgotten_connection_says_reconnect(connections: DocumentConnections) -> None:
    frame = json.dumps({"action": "subscribe", "channels": ["orders"]})
    answer = json.loads(message(ws_event("subscribe", "unknown=", frame), connections)["body"])
    assert answer == {"type": "error", "detail": "this connection is closed or expired: reconnect"}


def test_a_flood_of_subscribes_stops_at_the_channel_limit(connections: DocumentConnections) -> None:
    connection_id = open_connection(connections, "admin-key")
    first = [f"events:Type{'x' * (i % 7)}{chr(65 + i // 7 % 26)}{chr(65 + i // 182)}" for i in range(200)]
    frame = json.dumps({"action": "subscribe", "channels": first})
    assert json.loads(message(ws_event("subscribe", connection_id, frame), connections)["body"])["type"] == (
        "subscribed"
    )
    more = json.dumps({"action": "subscribe", "channels": ["orders"]})
    answer = json.loads(message(ws_event("subscribe", connection_id, more), connections)["body"])
    assert answer == {"type": "error", "detail": "at most 200 channels per connection"}


def test_disconnect_forgets_the_connection(connections: DocumentConnections) -> None:
    connection_id = open_connection(connections)
    frame = json.dumps({"action": "subscribe", "channels": ["signals"]})
    message(ws_event("subscribe", connection_id, frame), connections)
    assert message(ws_event("$disconnect", connection_id), connections) == {"statusCode": 200}
    assert connections.get(connection_id) is None
    assert connection_id not in connections.subscribers("signals")


# --- the fan-out --------------------------------------------------------------------------------


def subscribe(connections: DocumentConnections, connection_id: str, *channels: str) -> None:
    frame = json.dumps({"action": "subscribe", "channels": list(channels)})
    message(ws_event("subscribe", connection_id, frame), connections)


def test_fan_out_posts_once_per_matching_channel_and_drops_gone_connections(
    connections: DocumentConnections, monkeypatch: pytest.MonkeyPatch
) -> None:
    symbol = f"Z{uuid.uuid4().hex[:6].upper()}"
    alive, gone, failing = (open_connection(connections) for _ in range(3))
    subscribe(connections, alive, f"bars:{symbol}:1d", f"bars:{symbol}")  # two channels: two messages
    subscribe(connections, gone, f"bars:{symbol}:1d")
    subscribe(connections, failing, f"bars:{symbol}:1d")
    event = bars_ingested(symbol)
    frames = list(websocket.frames_for(event, connections))
    client = management_client()
    stub = Stubber(client)
    for connection_id, data in frames:
        if connection_id == gone:
            stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
        elif connection_id == failing:
            stub.add_client_error("post_to_connection", "LimitExceededException", http_status_code=429)
        else:
            stub.add_response("post_to_connection", {}, {"ConnectionId": connection_id, "Data": data})
    # A Stubber answers in the order it was given: one poster thread keeps the posts in that order
    # (test_one_slow_or_broken_connection_does_not_hold_up_the_others runs them at once).
    monkeypatch.setattr(websocket, "POSTERS", 1)
    with stub:
        counts = websocket.fan_out(event, connections, lambda: ManagementApiPoster(client))
        stub.assert_no_pending_responses()
    assert counts == {"sent": 2, "gone": 1, "failed": 1}
    assert connections.get(gone) is None  # forgotten, with its subscriptions
    assert gone not in connections.subscribers(f"bars:{symbol}:1d")
    assert connections.get(failing) is not None  # a failure is not a goodbye
    sent = [json.loads(data) for cid, data in frames if cid == alive]
    assert sorted(m["channel"] for m in sent) == [f"bars:{symbol}", f"bars:{symbol}:1d"]
    assert sent[0]["event"]["event_id"] == str(event.event_id)


def test_gone_is_told_apart_from_other_client_errors() -> None:
    client = management_client()
    poster = ManagementApiPoster(client)
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
        stub.add_client_error("post_to_connection", "ForbiddenException", http_status_code=403)
        stub.add_client_error("post_to_connection", "PayloadTooLargeException", http_status_code=413)
        stub.add_response("post_to_connection", {}, {"ConnectionId": "a=", "Data": b"x"})
        assert [poster.post("a=", b"x") for _ in range(4)] == ["gone", "failed", "failed", "sent"]


def test_a_message_over_128_kb_becomes_an_error_frame_naming_the_event(
    connections: DocumentConnections,
) -> None:
    symbol = f"Y{uuid.uuid4().hex[:6].upper()}"
    connection_id = open_connection(connections)
    subscribe(connections, connection_id, f"bars:{symbol}:1d")
    event = bars_ingested(symbol)
    event.payload["padding"] = "x" * websocket.MAX_MESSAGE_BYTES
    client = management_client()
    with Stubber(client) as stub:
        stub.add_response("post_to_connection", {}, {"ConnectionId": connection_id, "Data": ANY})
        posted: list[bytes] = []

        class Keeping(ManagementApiPoster):
            def post(self, connection_id: str, data: bytes) -> Posted:
                posted.append(data)
                return super().post(connection_id, data)

        assert websocket.fan_out(event, connections, lambda: Keeping(client))["sent"] == 1
    assert len(posted[0]) < 1024
    frame = json.loads(posted[0])
    assert frame["type"] == "error" and frame["channel"] == f"bars:{symbol}:1d"
    assert frame["event_id"] == str(event.event_id) and "128 KB" in frame["detail"]


def test_one_slow_or_broken_connection_does_not_hold_up_the_others(connections: DocumentConnections) -> None:
    symbol = f"X{uuid.uuid4().hex[:6].upper()}"
    ids = [open_connection(connections) for _ in range(6)]
    for connection_id in ids:
        subscribe(connections, connection_id, f"bars:{symbol}:1d")
    slow, broken = ids[0], ids[1]
    release = threading.Event()
    delivered: list[str] = []

    class Fake:
        def post(self, connection_id: str, data: bytes) -> Posted:
            if connection_id == slow:
                release.wait(5)
            if connection_id == broken:
                raise RuntimeError("the connection pool broke")
            delivered.append(connection_id)
            if len(delivered) == len(ids) - 2:
                release.set()  # every other connection got its message while the slow one waited
            return "sent"

    started = time.monotonic()
    counts = websocket.fan_out(bars_ingested(symbol), connections, lambda: Fake())
    assert counts == {"sent": 5, "gone": 0, "failed": 1}
    assert delivered[-1] == slow and time.monotonic() - started < 4


def test_no_subscriber_no_management_client(connections: DocumentConnections) -> None:
    def never() -> Any:
        raise AssertionError("the poster is built only when there is something to post")

    assert websocket.fan_out(bars_ingested("NOBODY"), connections, never) == {
        "sent": 0,
        "gone": 0,
        "failed": 0,
    }


def test_an_expired_connection_gets_nothing(moto_url: str, table: str) -> None:
    store = DynamoDbDocumentStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=table))
    symbol = f"W{uuid.uuid4().hex[:6].upper()}"
    connection_id = open_connection(DocumentConnections(store, Clock()))
    subscribe(DocumentConnections(store, Clock()), connection_id, f"bars:{symbol}")

    class Later:
        def now(self) -> datetime:
            return NOW + timedelta(hours=3)

    later = DocumentConnections(store, Later())
    assert websocket.fan_out(bars_ingested(symbol), later, lambda: pytest.fail("nothing to post")) == {
        "sent": 0,
        "gone": 0,
        "failed": 0,
    }
