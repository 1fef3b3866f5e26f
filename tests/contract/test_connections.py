"""The ConnectionStore contract (the live stream's connections in AWS): the same over SQLite and
over DynamoDB on moto's server on loopback, expiry included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.aws_fixtures import boto_client, unique_name
from tests.contract.document_stores import dynamodb_table, store
from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore
from trading_system.adapters.connections import DocumentConnections, channel_kind
from trading_system.config import Settings
from trading_system.kernel.connections import Connection
from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.kinds import WS_CONNECTIONS

__all__ = ["dynamodb_table", "store"]  # fixtures these tests use

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime):
        self.at = now

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def connections(store: DocumentStore, clock: FixedClock) -> DocumentConnections:
    return DocumentConnections(store, clock)


def connection(connection_id: str, *, hours: float = 2) -> Connection:
    # Connection ids are unique per test: a module's DynamoDB tests share the table
    return Connection(connection_id, "key1", "viewer", T0, T0 + timedelta(hours=hours))


def unique(prefix: str = "c") -> str:
    return unique_name(prefix)


def test_open_then_get_answers_the_connection(connections: DocumentConnections) -> None:
    cid = unique()
    connections.open(connection(cid))
    got = connections.get(cid)
    assert got == connection(cid)
    assert connections.get(unique()) is None


def test_subscribe_adds_channels_and_the_channel_finds_its_subscribers(
    connections: DocumentConnections,
) -> None:
    a, b = unique("a"), unique("b")
    channel = f"bars:{a.upper()[:8]}:1m"
    connections.open(connection(a))
    connections.open(connection(b))
    assert connections.subscribe(a, [channel, "orders"]) == tuple(sorted([channel, "orders"]))
    assert connections.subscribe(a, ["orders", "signals"]) == tuple(sorted([channel, "orders", "signals"]))
    connections.subscribe(b, [channel])
    assert connections.subscribers(channel) == sorted([a, b])
    got = connections.get(a)
    assert got is not None and set(got.channels) == {channel, "orders", "signals"}


def test_unsubscribe_removes_only_those_channels(connections: DocumentConnections) -> None:
    a = unique()
    channel = f"events:{a[-6:]}"
    connections.open(connection(a))
    connections.subscribe(a, [channel, "orders"])
    assert connections.unsubscribe(a, [channel, "never-subscribed"]) == ("orders",)
    assert a not in connections.subscribers(channel)
    assert a in connections.subscribers("orders")


def test_close_forgets_the_connection_and_its_subscriptions(connections: DocumentConnections) -> None:
    a = unique()
    channel = f"events:{a[-6:]}"
    connections.open(connection(a))
    connections.subscribe(a, [channel])
    connections.close(a)
    connections.close(a)  # a second goodbye is harmless
    assert connections.get(a) is None
    assert connections.subscribers(channel) == []


def test_an_unknown_connection_cannot_subscribe(connections: DocumentConnections) -> None:
    with pytest.raises(KeyError):
        connections.subscribe(unique(), ["orders"])


def test_expired_connections_are_ignored_and_purged(
    connections: DocumentConnections, store: DocumentStore, clock: FixedClock
) -> None:
    short, long = unique("short"), unique("long")
    channel = f"events:{short[-6:]}"
    connections.open(connection(short, hours=1))
    connections.open(connection(long, hours=3))
    connections.subscribe(short, [channel])
    connections.subscribe(long, [channel])
    clock.advance(timedelta(hours=2))
    assert connections.subscribers(channel) == [long]
    assert store.get(channel_kind(channel), short) is None  # purged, not only skipped
    assert connections.get(short) is None
    assert store.get(WS_CONNECTIONS, short) is None
    with pytest.raises(KeyError):
        connections.subscribe(short, ["orders"])


def test_dynamodb_items_carry_the_ttl_attribute(request: pytest.FixtureRequest) -> None:
    """DynamoDB deletes abandoned rows itself: the table's TTL attribute (infra/constructs/storage.py)
    is written on the connection and on each subscription."""
    moto_url: str = request.getfixturevalue("moto_url")
    table = request.getfixturevalue("dynamodb_table")
    store = DynamoDbDocumentStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=table))
    connections = DocumentConnections(store, FixedClock(T0))
    cid = unique()
    connections.open(connection(cid))
    connections.subscribe(cid, ["orders"])
    expected = str(int((T0 + timedelta(hours=2)).timestamp()))
    client = boto_client("dynamodb", moto_url)
    for kind in (WS_CONNECTIONS, channel_kind("orders")):
        item = client.get_item(TableName=table, Key={"pk": {"S": kind}, "sk": {"S": cid}})["Item"]
        assert item["ttl"] == {"N": expected}, kind
