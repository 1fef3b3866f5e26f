"""The event store port: append-only streams with optimistic concurrency.

An aggregate's history is its stream (`order-<id>`, `account-<id>`); its version is the number of
events in it. `append` writes to several streams at once, all or nothing, and only if each stream
is still at the version the caller loaded: a lost race raises ConcurrencyConflict and writes
nothing, so the caller reloads and decides again. The same call can upsert or delete read-model
documents (views) in the document store, in the same transaction, so a view is never ahead of or
behind the events it was built from.

SQLite keeps streams in an `events` table next to `documents` (one transaction); DynamoDB keeps
them as items in the same table (one TransactWriteItems with a condition per new event). Both
pass tests/contract/test_event_store.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from trading_system.kernel.documents import Document

E = TypeVar("E")
A = TypeVar("A", bound="Aggregate")

MAX_ITEMS_PER_APPEND = 100
"""DynamoDB's TransactWriteItems limit. An append counts its events, its views and one version
check per stream appended past version 0 (or named without events); both adapters refuse more."""


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class StreamAppend:
    stream: str
    expected_version: int  # the version the caller loaded: 0 for a stream that must not exist yet
    events: Sequence[NewEvent]


@dataclass(frozen=True)
class ViewWrite:
    """Upsert (doc) or delete (doc None) one document of the document store."""

    kind: str
    key: str
    doc: Document | None


@dataclass(frozen=True)
class RecordedEvent:
    stream: str
    version: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


class EventStore(Protocol):
    def read(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events with version > after_version, oldest first ([] if none)."""

    def version(self, stream: str) -> int:
        """The number of events in the stream (0 if it does not exist)."""

    def append(
        self,
        appends: Sequence[StreamAppend],
        views: Sequence[ViewWrite] = (),
        metadata: dict[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append to every stream and write every view atomically, or raise ConcurrencyConflict
        (naming the stream) and write nothing. `metadata` (who, when, why) is stored with each
        event: it is the audit trail."""


def check_append(appends: Sequence[StreamAppend], views: Sequence[ViewWrite]) -> None:
    """Refuse an append that adds no event or needs more items than one transaction holds."""
    events = sum(len(a.events) for a in appends)
    if not events:
        raise ValueError("an append must add at least one event")
    checks = sum(1 for a in appends if a.expected_version > 0) + sum(1 for a in appends if not a.events)
    if events + len(views) + checks > MAX_ITEMS_PER_APPEND:
        raise ValueError(
            f"an append writes at most {MAX_ITEMS_PER_APPEND} items in one transaction, but this one "
            f"has {events} events, {len(views)} views and {checks} stream version checks "
            f"(one per stream appended past version 0, or without events): split it"
        )


class Aggregate(Protocol):
    def apply(self, event: Any) -> Any: ...


def replay(events: Sequence[Any], first: type[E], begin: Callable[[E], A], what: str) -> A:
    """An event-sourced aggregate rebuilt from its history: `begin` makes it from the first
    event (which must be a `first`), then each later event is applied in turn."""
    head = events[0] if events else None
    if not isinstance(head, first):
        raise TypeError(f"{what}'s history starts with {first.__name__}")
    aggregate = begin(head)
    for event in events[1:]:
        aggregate = aggregate.apply(event)
    return aggregate
