"""The EventStore contract: SQLite locally and DynamoDB in AWS append, read and conflict alike.

The DynamoDB adapter runs against moto's server on loopback, in one table per module shared with
its document store (streams and view kinds are unique per test). Tests that only make sense for
one adapter are at the end, and say so in their name.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.aws_fixtures import unique_name
from tests.contract.document_stores import dynamodb_table
from trading_system.adapters.aws.dynamodb_events import DynamoDbEventStore
from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore
from trading_system.adapters.local.sqlite_events import SqliteEventStore
from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
from trading_system.config import Settings
from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.event_store import (
    MAX_ITEMS_PER_APPEND,
    EventStore,
    NewEvent,
    StreamAppend,
    ViewWrite,
)

__all__ = ["dynamodb_table"]  # the fixture these tests use (one table per module)


@dataclass(frozen=True)
class Backend:
    name: str
    events: EventStore
    documents: DocumentStore  # the same backend's document store, where views land


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        documents = SqliteDocumentStore(tmp_path / "trading.db")
        yield Backend("sqlite", SqliteEventStore(documents), documents)
        documents.close()
    else:
        moto_url: str = request.getfixturevalue("moto_url")
        settings = Settings(aws_endpoint_url=moto_url, table_name=request.getfixturevalue("dynamodb_table"))
        yield Backend(
            "dynamodb",
            DynamoDbEventStore.from_settings(settings),
            DynamoDbDocumentStore.from_settings(settings),
        )


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def stream() -> str:
    return _unique("order")


@pytest.fixture
def kind() -> str:
    return _unique("view")


def _events(*types: str, **data: Any) -> list[NewEvent]:
    return [NewEvent(t, {"n": i, **data}) for i, t in enumerate(types)]


def _append(events: EventStore, stream: str, expected: int, count: int = 1) -> None:
    events.append([StreamAppend(stream, expected, _events(*["Noted"] * count))])


# --- appending and reading -------------------------------------------------------------------


def test_append_then_read_round_trips_type_data_metadata_and_time(backend: Backend, stream: str) -> None:
    data = {"symbol": "AAPL", "qty": 3, "px": 0.125, "tags": ["a", "b"], "note": None, "text": "café ☕ 日本"}
    metadata = {"actor": "key-123", "reason": "test", "correlation_id": "c-1"}
    before = datetime.now(UTC)

    written = backend.events.append(
        [StreamAppend(stream, 0, [NewEvent("OrderPlaced", data), NewEvent("OrderAccepted", {"by": "risk"})])],
        metadata=metadata,
    )

    after = datetime.now(UTC)
    read = backend.events.read(stream)
    assert read == written
    assert [(e.stream, e.version, e.type) for e in read] == [
        (stream, 1, "OrderPlaced"),
        (stream, 2, "OrderAccepted"),
    ]
    assert read[0].data == data
    assert read[1].data == {"by": "risk"}
    assert all(e.metadata == metadata for e in read)
    assert all(e.recorded_at.tzinfo is not None and before <= e.recorded_at <= after for e in read)


def test_metadata_defaults_to_empty(backend: Backend, stream: str) -> None:
    _append(backend.events, stream, 0)
    assert backend.events.read(stream)[0].metadata == {}


def test_versions_are_contiguous_from_one_across_appends(backend: Backend, stream: str) -> None:
    _append(backend.events, stream, 0, count=3)
    _append(backend.events, stream, 3, count=2)
    written = backend.events.append([StreamAppend(stream, 5, _events("Last"))])

    assert [e.version for e in written] == [6]
    assert [e.version for e in backend.events.read(stream)] == [1, 2, 3, 4, 5, 6]
    assert backend.events.version(stream) == 6


def test_read_after_version_returns_only_later_events(backend: Backend, stream: str) -> None:
    _append(backend.events, stream, 0, count=12)  # two-digit versions: ordered as numbers, not text

    assert [e.version for e in backend.events.read(stream, after_version=4)] == list(range(5, 13))
    assert [e.version for e in backend.events.read(stream, after_version=9)] == [10, 11, 12]
    assert backend.events.read(stream, after_version=12) == []
    assert backend.events.read(stream, after_version=50) == []
    assert len(backend.events.read(stream, after_version=0)) == 12


def test_a_missing_stream_is_at_version_zero_and_empty(backend: Backend, stream: str) -> None:
    assert backend.events.version(stream) == 0
    assert backend.events.read(stream) == []


def test_streams_are_isolated_even_when_one_name_prefixes_another(backend: Backend, stream: str) -> None:
    _append(backend.events, stream, 0, count=2)
    _append(backend.events, stream + "-x", 0, count=3)

    assert backend.events.version(stream) == 2
    assert {e.stream for e in backend.events.read(stream)} == {stream}
    assert backend.events.version(stream + "-x") == 3


# --- optimistic concurrency ------------------------------------------------------------------


def _assert_nothing_written(backend: Backend, stream: str, at: int, other: str, kind: str) -> None:
    assert backend.events.version(stream) == at
    assert len(backend.events.read(stream)) == at
    assert backend.events.version(other) == 0
    assert backend.documents.get(kind, "view-1") is None
    assert backend.documents.get(kind, "kept") == {"v": "old"}


@pytest.mark.parametrize(
    ("expected", "why"),
    [(1, "behind: the stream moved on"), (3, "ahead: the stream never got there"), (0, "a new stream")],
)
def test_a_wrong_expected_version_conflicts_and_writes_nothing(
    backend: Backend, stream: str, kind: str, expected: int, why: str
) -> None:
    _append(backend.events, stream, 0, count=2)
    backend.documents.put(kind, "kept", {"v": "old"})
    other = _unique("account")

    with pytest.raises(ConcurrencyConflict, match=stream):
        backend.events.append(
            [StreamAppend(other, 0, _events("Reserved")), StreamAppend(stream, expected, _events("Filled"))],
            views=[ViewWrite(kind, "view-1", {"v": 1}), ViewWrite(kind, "kept", None)],
        )

    _assert_nothing_written(backend, stream, 2, other, kind)


def test_claiming_a_version_of_a_missing_stream_conflicts(backend: Backend, stream: str) -> None:
    with pytest.raises(ConcurrencyConflict, match=stream):
        _append(backend.events, stream, 1)
    assert backend.events.version(stream) == 0


def test_a_multi_stream_append_is_all_or_nothing(backend: Backend, stream: str, kind: str) -> None:
    account = _unique("account")
    _append(backend.events, account, 0)
    _append(backend.events, account, 1)  # moved on to 2 since we "loaded" it at 1

    with pytest.raises(ConcurrencyConflict, match=account):
        backend.events.append(
            [
                StreamAppend(stream, 0, _events("Placed", "Accepted")),
                StreamAppend(account, 1, _events("Held")),
            ],
            views=[ViewWrite(kind, "order", {"status": "accepted"})],
        )
    assert backend.events.version(stream) == 0
    assert backend.events.version(account) == 2
    assert backend.documents.get(kind, "order") is None

    written = backend.events.append(
        [StreamAppend(stream, 0, _events("Placed", "Accepted")), StreamAppend(account, 2, _events("Held"))],
        views=[ViewWrite(kind, "order", {"status": "accepted"})],
    )

    assert [(e.stream, e.version) for e in written] == [(stream, 1), (stream, 2), (account, 3)]
    assert [e.type for e in backend.events.read(stream)] == ["Placed", "Accepted"]
    assert [e.type for e in backend.events.read(account, after_version=2)] == ["Held"]
    assert backend.documents.get(kind, "order") == {"status": "accepted"}


def test_a_stream_listed_without_events_only_checks_its_version(
    backend: Backend, stream: str, kind: str
) -> None:
    account = _unique("account")
    _append(backend.events, account, 0, count=2)

    backend.events.append([StreamAppend(account, 2, []), StreamAppend(stream, 0, _events("Placed"))])
    assert backend.events.version(account) == 2
    assert backend.events.version(stream) == 1

    for wrong in (1, 3):
        with pytest.raises(ConcurrencyConflict, match=account):
            backend.events.append(
                [StreamAppend(account, wrong, []), StreamAppend(stream, 1, _events("More"))]
            )
    assert backend.events.version(stream) == 1


# --- views -----------------------------------------------------------------------------------


def test_views_are_upserted_and_deleted_with_the_events(backend: Backend, stream: str, kind: str) -> None:
    backend.documents.put(kind, "existing", {"v": "old", "extra": True})
    backend.documents.put(kind, "doomed", {"v": 0})
    doc = {"status": "open", "fills": [{"qty": 1, "px": 10.5}], "note": "naïve"}

    backend.events.append(
        [StreamAppend(stream, 0, _events("Placed"))],
        views=[
            ViewWrite(kind, "new", doc),
            ViewWrite(kind, "existing", {"v": "new"}),
            ViewWrite(kind, "doomed", None),
            ViewWrite(kind, "never-existed", None),
        ],
    )

    assert backend.documents.get(kind, "new") == doc
    assert backend.documents.get(kind, "existing") == {"v": "new"}
    assert backend.documents.get(kind, "doomed") is None
    assert backend.documents.get(kind, "never-existed") is None
    assert [k for k, _ in backend.documents.scan(kind)] == ["existing", "new"]

    backend.events.append(
        [StreamAppend(stream, 1, _events("Cancelled"))], views=[ViewWrite(kind, "new", None)]
    )
    assert backend.documents.get(kind, "new") is None


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "views"), [(MAX_ITEMS_PER_APPEND + 1, 0), (60, MAX_ITEMS_PER_APPEND - 59)]
)
def test_an_append_of_too_many_items_is_refused(
    backend: Backend, stream: str, kind: str, events: int, views: int, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(ValueError, match=str(MAX_ITEMS_PER_APPEND)):
        backend.events.append(
            [StreamAppend(stream, 0, _events(*["E"] * events))],
            views=[ViewWrite(kind, f"k{i}", {"i": i}) for i in range(views)],
        )
    assert backend.events.version(stream) == 0
    assert backend.documents.scan(kind) == []


def test_an_append_of_exactly_the_maximum_is_accepted(backend: Backend, stream: str, kind: str) -> None:
    backend.events.append(
        [StreamAppend(stream, 0, _events(*["E"] * 60))],
        views=[ViewWrite(kind, f"k{i:02}", {"i": i}) for i in range(MAX_ITEMS_PER_APPEND - 60)],
    )
    assert backend.events.version(stream) == 60
    assert len(backend.documents.scan(kind)) == MAX_ITEMS_PER_APPEND - 60


def test_an_append_without_events_is_refused(
    backend: Backend, stream: str, kind: str, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(ValueError, match="at least one event"):
        backend.events.append([StreamAppend(stream, 0, [])], views=[ViewWrite(kind, "k", {"v": 1})])
    assert backend.documents.get(kind, "k") is None


# --- racing writers --------------------------------------------------------------------------

WRITERS = 8
APPENDS_PER_WRITER = 25
MAX_ATTEMPTS = 1000  # per append; a writer starved this long fails the test instead of hanging it


def test_racing_writers_each_land_every_event_exactly_once(
    backend: Backend, stream: str, request: pytest.FixtureRequest
) -> None:
    if backend.name == "dynamodb":
        request.getfixturevalue("moto_transactions_isolated")
    start = threading.Barrier(WRITERS, timeout=10)
    errors: list[BaseException] = []
    versions: list[int] = []
    conflicts = [0] * WRITERS

    def write(writer: int) -> None:
        try:
            start.wait()
            for seq in range(APPENDS_PER_WRITER):
                for _ in range(MAX_ATTEMPTS):
                    version = backend.events.version(stream)
                    try:
                        [event] = backend.events.append(
                            [
                                StreamAppend(
                                    stream, version, [NewEvent("Noted", {"writer": writer, "seq": seq})]
                                )
                            ]
                        )
                    except ConcurrencyConflict:
                        conflicts[writer] += 1
                        continue
                    versions.append(event.version)
                    break
                else:
                    raise AssertionError(f"writer {writer} gave up on append {seq}")
        except BaseException as error:  # surfaced by the assertions below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads), "writers did not finish in time"
    assert not errors, errors
    total = WRITERS * APPENDS_PER_WRITER
    read = backend.events.read(stream)
    assert [e.version for e in read] == list(range(1, total + 1))
    assert backend.events.version(stream) == total
    assert sorted(versions) == list(range(1, total + 1))  # every append reported its own version
    for writer in range(WRITERS):
        # each writer's events are all there, once, in the order it appended them
        seqs = [e.data["seq"] for e in read if e.data["writer"] == writer]
        assert seqs == list(range(APPENDS_PER_WRITER)), f"writer {writer}: {seqs}"


# --- DynamoDB only: the item layout, paging, the transaction size and error mapping ----------


@pytest.fixture
def dynamodb(moto_url: str, dynamodb_table: str) -> DynamoDbEventStore:
    return DynamoDbEventStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=dynamodb_table))


def test_dynamodb_stores_events_as_items_next_to_the_documents(
    dynamodb: DynamoDbEventStore, stream: str, kind: str
) -> None:
    dynamodb.append(
        [StreamAppend(stream, 0, [NewEvent("Placed", {"qty": 1, "text": "café"})])],
        views=[ViewWrite(kind, "k", {"v": 1})],
        metadata={"actor": "me"},
    )

    def item(pk: str, sk: str) -> dict[str, Any]:
        response = dynamodb.client.get_item(
            TableName=dynamodb.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        found: dict[str, Any] = response["Item"]
        return found

    event = item(f"stream#{stream}", "000000000001")
    body = json.loads(event["body"]["S"])
    assert set(event) == {"pk", "sk", "body"}
    assert body == {
        "type": "Placed",
        "data": {"qty": 1, "text": "café"},
        "recorded_at": body["recorded_at"],
        "metadata": {"actor": "me"},
    }
    assert datetime.fromisoformat(body["recorded_at"]).tzinfo is not None
    assert event["body"]["S"] == json.dumps(body, separators=(",", ":"), ensure_ascii=False)  # compact
    assert item(kind, "k")["body"]["S"] == '{"v":1}'  # exactly the document store's layout


class ShortPages:
    """Wraps a real client and cuts every Query page to `page` items, as the 1 MB cap does."""

    def __init__(self, client: Any, page: int) -> None:
        self._client = client
        self.page = page
        self.queries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **request: Any) -> dict[str, Any]:
        self.queries += 1
        return dict(
            self._client.query(**{**request, "Limit": min(request.get("Limit", self.page), self.page)})
        )


def test_dynamodb_read_follows_short_pages(dynamodb: DynamoDbEventStore, stream: str) -> None:
    _append(dynamodb, stream, 0, count=10)
    client = ShortPages(dynamodb.client, page=3)
    paged = DynamoDbEventStore(client, dynamodb.table_name)

    assert [e.version for e in paged.read(stream)] == list(range(1, 11))
    assert [e.version for e in paged.read(stream, after_version=8)] == [9, 10]
    assert paged.version(stream) == 10
    assert client.queries >= 4 + 1 + 1


def test_dynamodb_counts_version_checks_against_the_transaction_limit(
    dynamodb: DynamoDbEventStore, stream: str
) -> None:
    _append(dynamodb, stream, 0)

    with pytest.raises(ValueError, match=r"100 events, 0 views and 1 stream version checks"):
        _append(dynamodb, stream, 1, count=MAX_ITEMS_PER_APPEND)
    _append(dynamodb, stream, 1, count=MAX_ITEMS_PER_APPEND - 1)  # 99 Puts + 1 ConditionCheck

    assert dynamodb.version(stream) == MAX_ITEMS_PER_APPEND


class FailingClient:
    """A client whose TransactWriteItems is cancelled for the given reasons."""

    def __init__(self, *codes: str) -> None:
        self.codes = codes

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803
        reasons = [{"Code": code} for code in self.codes]
        error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
        raise ClientError(
            {"Error": error, "CancellationReasons": reasons},
            "TransactWriteItems",
        )


def test_dynamodb_maps_a_transaction_conflict_to_a_concurrency_conflict(stream: str) -> None:
    store = DynamoDbEventStore(FailingClient("None", "TransactionConflict"), "table")

    with pytest.raises(ConcurrencyConflict, match=f"stream {stream} is being written by another transaction"):
        _append(store, stream, 1)


def test_dynamodb_reraises_a_cancellation_that_is_no_conflict(stream: str) -> None:
    store = DynamoDbEventStore(FailingClient("None", "ValidationError"), "table")

    with pytest.raises(ClientError, match="TransactionCanceledException"):
        _append(store, stream, 1)


def test_dynamodb_reraises_other_errors(moto_url: str, stream: str) -> None:
    missing = DynamoDbEventStore.from_settings(
        Settings(aws_endpoint_url=moto_url, table_name=unique_name("no-such-table"))
    )

    with pytest.raises(ClientError) as raised:
        _append(missing, stream, 0)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
