"""The write store as one function sees it: only the item kinds its catalog entry grants.

In AWS the table's IAM policy refuses any other partition key (`dynamodb:LeadingKeys`), with an
AccessDenied that names neither the kind nor the entry. These wrappers refuse the same requests
before they leave the process, with a message that says what to declare, so a missing grant
fails the tests that run each function's handler (tests/integration/test_lambda_functions.py and
the AWS runtime suite) instead of a deployment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from trading_system.kernel.documents import Document, DocumentStore
from trading_system.kernel.kinds import STREAM

if TYPE_CHECKING:
    # Types only: every function with a table grant imports this module, and most (all but
    # Trading's) never touch the event store, whose module is a few milliseconds of cold start.
    from trading_system.kernel.event_store import EventStore, RecordedEvent, StreamAppend, ViewWrite


class KindNotGranted(PermissionError):
    def __init__(self, function: str, kind: str, granted: Sequence[str]):
        super().__init__(
            f"{function} touched the table's {kind!r} items, which its catalog entry does not grant "
            f"(granted: {', '.join(granted) or 'none'}); add the kind to its entry's table kinds"
        )


class KindScope:
    """Kinds matched against IAM-style patterns (`*` only, as in `StringLike`)."""

    def __init__(self, function: str, patterns: Sequence[str]):
        if any(special in p for p in patterns for special in "[]?"):
            raise ValueError(f"{function}: a kind pattern may use `*` only, as IAM does: {patterns}")
        self.function = function
        self.patterns = tuple(patterns)

    def check(self, kind: str) -> None:
        if not any(fnmatchcase(kind, pattern) for pattern in self.patterns):
            raise KindNotGranted(self.function, kind, self.patterns)


class ScopedDocumentStore:
    def __init__(self, store: DocumentStore, scope: KindScope):
        self.store = store
        self.scope = scope

    def get(self, kind: str, key: str) -> Document | None:
        self.scope.check(kind)
        return self.store.get(kind, key)

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Document]:
        self.scope.check(kind)
        return self.store.get_many(kind, keys)

    def put(
        self, kind: str, key: str, doc: Document, *, if_absent: bool = False, if_present: bool = False
    ) -> None:
        self.scope.check(kind)
        self.store.put(kind, key, doc, if_absent=if_absent, if_present=if_present)

    def put_many(self, kind: str, docs: Mapping[str, Document]) -> None:
        self.scope.check(kind)
        self.store.put_many(kind, docs)

    def delete(self, kind: str, key: str) -> None:
        self.scope.check(kind)
        self.store.delete(kind, key)

    def scan(self, kind: str, *, after: str | None = None, limit: int = 100) -> list[tuple[str, Document]]:
        self.scope.check(kind)
        return self.store.scan(kind, after=after, limit=limit)


class ScopedEventStore:
    """Streams are items too (`stream#<name>`), and an append writes its views in the same
    transaction: each is checked."""

    def __init__(self, events: EventStore, scope: KindScope):
        self.events = events
        self.scope = scope

    def read(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        self.scope.check(STREAM + stream)
        return self.events.read(stream, after_version)

    def version(self, stream: str) -> int:
        self.scope.check(STREAM + stream)
        return self.events.version(stream)

    def append(
        self,
        appends: Sequence[StreamAppend],
        views: Sequence[ViewWrite] = (),
        metadata: dict[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        for append in appends:
            self.scope.check(STREAM + append.stream)
        for view in views:
            self.scope.check(view.kind)
        return self.events.append(appends, views, metadata)
