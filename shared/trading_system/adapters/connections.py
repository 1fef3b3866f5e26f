"""The stream's connections over the DocumentStore (SQLite locally, DynamoDB in AWS).

Two kinds of documents: the connection (`ws_connection`, keyed by its id, holding its principal
and channels) and, per channel, one document per subscriber (`ws_channel:<channel>`, keyed by the
connection id), so the fan-out finds a channel's connections in one query of one partition.
Every document carries its expiry; DynamoDB deletes such items on its own (the `ttl` attribute,
adapters/aws/dynamodb_store.py) but only within days, and SQLite never does, so readers skip
expired rows and purge those they meet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from trading_system.kernel.clock import Clock, SystemClock
from trading_system.kernel.connections import Connection
from trading_system.kernel.documents import TTL_FIELD, Document, DocumentStore, scan_all
from trading_system.kernel.kinds import WS_CHANNELS, WS_CONNECTIONS
from trading_system.kernel.principal import FIRST_ADMIN


def channel_kind(channel: str) -> str:
    return f"{WS_CHANNELS}:{channel}"


class DocumentConnections:
    def __init__(self, store: DocumentStore, clock: Clock | None = None):
        self.store = store
        self.clock: Clock = clock or SystemClock()

    def open(self, connection: Connection) -> None:
        self.store.put(WS_CONNECTIONS, connection.connection_id, _document(connection))
        for channel in connection.channels:
            self._put_subscriber(channel, connection)

    def get(self, connection_id: str) -> Connection | None:
        doc = self.store.get(WS_CONNECTIONS, connection_id)
        if doc is None:
            return None
        connection = _connection(connection_id, doc)
        if connection.expires_at <= self.clock.now():
            self.close(connection_id)
            return None
        return connection

    def subscribe(self, connection_id: str, channels: Iterable[str]) -> tuple[str, ...]:
        connection = self._existing(connection_id)
        added = [c for c in dict.fromkeys(channels) if c not in connection.channels]
        now_has = tuple(sorted({*connection.channels, *added}))
        # The connection first: a subscriber row whose connection lacks the channel would never be
        # removed by unsubscribe or close, only by its expiry.
        self.store.put(WS_CONNECTIONS, connection_id, _document(_with(connection, now_has)))
        for channel in added:
            self._put_subscriber(channel, connection)
        return now_has

    def unsubscribe(self, connection_id: str, channels: Iterable[str]) -> tuple[str, ...]:
        connection = self._existing(connection_id)
        removed = set(channels) & set(connection.channels)
        left = tuple(c for c in connection.channels if c not in removed)
        for channel in removed:
            self.store.delete(channel_kind(channel), connection_id)
        self.store.put(WS_CONNECTIONS, connection_id, _document(_with(connection, left)))
        return left

    def close(self, connection_id: str) -> None:
        doc = self.store.get(WS_CONNECTIONS, connection_id)
        if doc is None:
            return
        for channel in doc.get("channels", []):
            self.store.delete(channel_kind(channel), connection_id)
        self.store.delete(WS_CONNECTIONS, connection_id)

    def subscribers(self, channel: str) -> list[str]:
        now = int(self.clock.now().timestamp())
        live = []
        for connection_id, doc in scan_all(self.store, channel_kind(channel)):
            if doc[TTL_FIELD] > now:
                live.append(connection_id)
            else:  # an abandoned connection's row, not yet deleted by DynamoDB (or never, by SQLite)
                self.store.delete(channel_kind(channel), connection_id)
        return live

    def _existing(self, connection_id: str) -> Connection:
        connection = self.get(connection_id)
        if connection is None:
            raise KeyError(connection_id)
        return connection

    def _put_subscriber(self, channel: str, connection: Connection) -> None:
        self.store.put(channel_kind(channel), connection.connection_id, {TTL_FIELD: _epoch(connection)})


def _epoch(connection: Connection) -> int:
    return int(connection.expires_at.timestamp())


def _with(connection: Connection, channels: tuple[str, ...]) -> Connection:
    return Connection(
        connection.connection_id,
        connection.key_id,
        connection.role,
        connection.connected_at,
        connection.expires_at,
        channels,
        connection.user,
    )


def _document(connection: Connection) -> Document:
    return {
        "key_id": connection.key_id,
        "role": connection.role,
        "user": connection.user,
        "connected_at": connection.connected_at.isoformat(),
        TTL_FIELD: _epoch(connection),
        "channels": list(connection.channels),
    }


def _connection(connection_id: str, doc: Document) -> Connection:
    return Connection(
        connection_id=connection_id,
        key_id=doc["key_id"],
        role=doc["role"],
        connected_at=datetime.fromisoformat(doc["connected_at"]),
        expires_at=datetime.fromtimestamp(doc[TTL_FIELD], UTC),
        channels=tuple(doc.get("channels", [])),
        user=doc.get("user", FIRST_ADMIN),
    )
