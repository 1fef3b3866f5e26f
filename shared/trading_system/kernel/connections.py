"""The live stream's connections and their subscriptions, kept in the write store (AWS: an API
Gateway WebSocket API's connections live in no process, so each Lambda reads them from the table).

The local hub keeps its connections in memory and does not use this port."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from trading_system.kernel.principal import FIRST_ADMIN, Principal, Role

# What became of a post to a connection: `gone` (410) means the client has left.
Posted = Literal["sent", "gone", "failed"]


@dataclass(frozen=True)
class Connection:
    connection_id: str
    key_id: str  # the principal that opened it (a key id, or `jwt:<subject>`)
    role: str
    connected_at: datetime
    expires_at: datetime  # after this the row is ignored, and purged (DynamoDB: its TTL)
    channels: tuple[str, ...] = field(default=())
    user: str = FIRST_ADMIN  # whose things it may see (Principal.user)

    @property
    def principal(self) -> Principal:
        return Principal(key_id=self.key_id, role=Role(self.role), user=self.user)


class ConnectionStore(Protocol):
    def open(self, connection: Connection) -> None: ...

    def get(self, connection_id: str) -> Connection | None:
        """The connection, or None if it is unknown, closed or expired."""

    def subscribe(self, connection_id: str, channels: Iterable[str]) -> tuple[str, ...]:
        """Add channels; answers every channel the connection now has, sorted. KeyError if unknown."""

    def unsubscribe(self, connection_id: str, channels: Iterable[str]) -> tuple[str, ...]:
        """Remove channels (unknown ones are ignored); answers the channels left, sorted."""

    def close(self, connection_id: str) -> None:
        """Forget the connection and its subscriptions (nothing happens if it is unknown)."""

    def subscribers(self, channel: str) -> list[str]:
        """The ids of the live connections subscribed to `channel`, in id order."""
