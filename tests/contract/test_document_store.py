"""The DocumentStore contract: every adapter (SQLite locally, DynamoDB in AWS) behaves the same.

The DynamoDB adapter runs against moto's server on loopback. Tests that only make sense for one
adapter (DynamoDB's throttling retries) are at the end, and say so in their name.
"""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.document_stores import dynamodb_table, store
from trading_system.adapters.aws.dynamodb_store import (
    DynamoDbDocumentStore,
    IncompleteBatchError,
)
from trading_system.config import Settings
from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.errors import ConcurrencyConflict

KIND = "thing"

__all__ = ["dynamodb_table", "store"]  # fixtures these tests use


@pytest.fixture
def kind() -> str:
    """A kind of its own for each test, since a module's DynamoDB tests share a table."""
    return f"{KIND}-{uuid.uuid4().hex[:8]}"


def test_get_of_a_missing_key_is_none(store: DocumentStore, kind: str) -> None:
    assert store.get(kind, "nope") is None


def test_put_then_get_returns_the_same_nested_json(store: DocumentStore, kind: str) -> None:
    doc = {
        "symbol": "AAPL",
        "tags": ["tech", "large-cap"],
        "limits": {"max_qty": 1000, "ratio": 0.125, "halted": False, "note": None},
        "nested": [{"a": [1, 2, {"b": "c"}]}, []],
        "big": 2**62,
        "text": "naïve café ☕ 日本",
        "empty": {},
    }
    store.put(kind, "k1", doc)
    assert store.get(kind, "k1") == doc


def test_put_overwrites_an_existing_document(store: DocumentStore, kind: str) -> None:
    store.put(kind, "k", {"v": 1, "old": True})
    store.put(kind, "k", {"v": 2})
    assert store.get(kind, "k") == {"v": 2}


def test_put_if_absent_writes_a_new_key(store: DocumentStore, kind: str) -> None:
    store.put(kind, "k", {"v": 1}, if_absent=True)
    assert store.get(kind, "k") == {"v": 1}


def test_put_if_absent_on_an_existing_key_conflicts_and_keeps_the_first(
    store: DocumentStore, kind: str
) -> None:
    store.put(kind, "k", {"v": "first"}, if_absent=True)
    with pytest.raises(ConcurrencyConflict, match="k already exists"):
        store.put(kind, "k", {"v": "second"}, if_absent=True)
    assert store.get(kind, "k") == {"v": "first"}


def test_put_if_present_replaces_an_existing_document_and_never_brings_one_back(
    store: DocumentStore, kind: str
) -> None:
    store.put(kind, "k", {"v": "first"})
    store.put(kind, "k", {"v": "second"}, if_present=True)
    assert store.get(kind, "k") == {"v": "second"}
    store.delete(kind, "k")
    with pytest.raises(ConcurrencyConflict, match="k does not exist"):
        store.put(kind, "k", {"v": "third"}, if_present=True)
    assert store.get(kind, "k") is None


def test_kinds_are_isolated(store: DocumentStore, kind: str) -> None:
    other = kind + "x"  # a kind that has `kind` as a prefix must not leak into it either
    store.put(kind, "k", {"kind": 1})
    store.put(other, "k", {"kind": 2})
    store.put(other, "only-other", {"kind": 2})

    assert store.get(kind, "k") == {"kind": 1}
    assert store.get(kind, "only-other") is None
    assert store.get_many(kind, ["k", "only-other"]) == {"k": {"kind": 1}}
    assert store.scan(kind) == [("k", {"kind": 1})]
    store.put(kind, "only-other", {"kind": 1}, if_absent=True)  # no conflict with the other kind

    store.delete(kind, "k")
    assert store.get(other, "k") == {"kind": 2}


def test_get_many_skips_missing_keys_and_duplicates_across_batches(store: DocumentStore, kind: str) -> None:
    present = {f"key-{i:03}": {"i": i} for i in range(0, 250, 2)}  # 125 documents
    store.put_many(kind, present)
    asked = [f"key-{i:03}" for i in range(250)]  # 250 keys: more than one BatchGetItem
    asked += [*asked[:30], "key-000", "key-000"]  # duplicates, within and across batches

    assert store.get_many(kind, asked) == present


def test_get_many_of_no_keys_is_empty(store: DocumentStore, kind: str) -> None:
    store.put(kind, "k", {"v": 1})
    assert store.get_many(kind, []) == {}
    assert store.get_many(kind, iter(["missing"])) == {}


def test_put_many_writes_more_than_one_batch_and_overwrites(store: DocumentStore, kind: str) -> None:
    store.put(kind, "doc-05", {"v": "old"})
    docs = {f"doc-{i:02}": {"v": i, "list": [i] * 3} for i in range(60)}  # 60 > 25 per BatchWriteItem

    store.put_many(kind, docs)

    assert store.get_many(kind, docs) == docs
    assert store.get(kind, "doc-05") == {"v": 5, "list": [5, 5, 5]}
    assert [k for k, _ in store.scan(kind, limit=1000)] == sorted(docs)


def test_put_many_of_nothing_is_a_no_op(store: DocumentStore, kind: str) -> None:
    store.put_many(kind, {})
    assert store.scan(kind) == []


def test_delete_removes_only_that_document_and_ignores_missing_keys(store: DocumentStore, kind: str) -> None:
    store.put_many(kind, {"a": {"v": 1}, "b": {"v": 2}})

    store.delete(kind, "a")
    store.delete(kind, "never-existed")

    assert store.get(kind, "a") is None
    assert store.get(kind, "b") == {"v": 2}
    store.put(kind, "a", {"v": 3}, if_absent=True)  # a deleted key is absent again
    assert store.get(kind, "a") == {"v": 3}


def test_scan_returns_keys_in_ascending_order(store: DocumentStore, kind: str) -> None:
    keys = ["b", "a", "ab", "a#b", "a#", "A", "10", "9", "2", "z", "aa", "_", "~"]
    shuffled = keys[:]
    random.Random(7).shuffle(shuffled)
    for key in shuffled:
        store.put(kind, key, {"key": key})

    page = store.scan(kind)

    assert [k for k, _ in page] == sorted(keys)  # code point order: "10" < "2" < "9" < "A" < "_" < "a"
    assert all(doc == {"key": k} for k, doc in page)


def test_scan_after_starts_strictly_after_that_key(store: DocumentStore, kind: str) -> None:
    store.put_many(kind, {k: {"k": k} for k in ["a", "b", "c", "d"]})

    assert [k for k, _ in store.scan(kind, after="b")] == ["c", "d"]
    assert [k for k, _ in store.scan(kind, after="bb")] == ["c", "d"]  # `after` need not exist
    assert [k for k, _ in store.scan(kind, after="d")] == []
    assert [k for k, _ in store.scan(kind, after="")] == ["a", "b", "c", "d"]
    assert [k for k, _ in store.scan(kind, after=None)] == ["a", "b", "c", "d"]


def test_scan_limit_caps_the_page(store: DocumentStore, kind: str) -> None:
    store.put_many(kind, {f"{i:02}": {"i": i} for i in range(10)})

    assert [k for k, _ in store.scan(kind, limit=3)] == ["00", "01", "02"]
    assert [k for k, _ in store.scan(kind, after="04", limit=2)] == ["05", "06"]
    assert len(store.scan(kind, limit=1)) == 1
    assert len(store.scan(kind, limit=100)) == 10


def test_scan_pages_through_every_document_exactly_once(store: DocumentStore, kind: str) -> None:
    docs = {f"item-{i:04}": {"i": i} for i in range(0, 2 * 233, 2)}  # 233 documents
    store.put_many(kind, docs)

    seen: list[str] = []
    pages = 0
    after: str | None = None
    while page := store.scan(kind, after=after, limit=40):
        assert len(page) <= 40
        seen += [k for k, _ in page]
        after = page[-1][0]
        pages += 1
        assert pages <= 10, "paging does not terminate"

    assert seen == sorted(docs)
    assert pages == 6  # five full pages of 40, then 33


def test_keys_with_unicode_and_hash_signs(store: DocumentStore, kind: str) -> None:
    keys = ["orders#2024-01-01#AAPL", "sub#3f2a", "#", "##", "café", "日本#株", "z", "😀", "ÿ", "Ā"]
    store.put_many(kind, {k: {"key": k} for k in keys[:5]})
    for k in keys[5:]:
        store.put(kind, k, {"key": k}, if_absent=True)

    assert all(store.get(kind, k) == {"key": k} for k in keys)
    assert store.get_many(kind, keys) == {k: {"key": k} for k in keys}
    assert [k for k, _ in store.scan(kind)] == sorted(keys)  # code point order, even beyond the BMP
    assert [k for k, _ in store.scan(kind, after="café")] == [k for k in sorted(keys) if k > "café"]
    store.delete(kind, "日本#株")
    assert store.get(kind, "日本#株") is None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    keys=st.sets(
        st.text(
            alphabet=st.characters(exclude_categories=("Cs", "Cc")),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=15,
    ),
    limit=st.integers(min_value=1, max_value=6),
)
def test_scanning_any_keys_in_pages_gives_them_sorted_by_code_point(
    store: DocumentStore, keys: set[str], limit: int
) -> None:
    kind = f"prop-{uuid.uuid4().hex}"  # each example writes to a fresh kind
    store.put_many(kind, {k: {"k": k} for k in keys})

    seen: list[str] = []
    after: str | None = None
    for _ in range(len(keys) + 1):
        page = store.scan(kind, after=after, limit=limit)
        if not page:
            break
        seen += [k for k, _ in page]
        after = page[-1][0]

    assert seen == sorted(keys)


def test_racing_put_if_absent_has_exactly_one_winner(store: DocumentStore, kind: str) -> None:
    contenders = 8
    start = threading.Barrier(contenders, timeout=10)
    won: list[int] = []
    lost: list[int] = []
    errors: list[BaseException] = []

    def contend(n: int) -> None:
        try:
            start.wait()
            store.put(kind, "the-key", {"winner": n}, if_absent=True)
            won.append(n)
        except ConcurrencyConflict:
            lost.append(n)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert len(won) == 1
    assert sorted(won + lost) == list(range(contenders))
    assert store.get(kind, "the-key") == {"winner": won[0]}


# --- DynamoDB only: what moto never does by itself (throttling, short pages) -----------------


class ThrottlingClient:
    """Wraps a real client; each batch call gets only `serve` items through, the rest come back
    unprocessed, as DynamoDB does under throttling. Query pages are cut to `page` items, as the
    1 MB page cap does."""

    def __init__(self, client: Any, table: str, serve: int, page: int = 1000) -> None:
        self._client = client
        self._table = table
        self.serve = serve
        self.page = page
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        spec = RequestItems[self._table]
        keys = spec["Keys"]
        self.calls.append(len(keys))
        response: dict[str, Any] = {"Responses": {}}
        if keys[: self.serve]:
            served = {self._table: {**spec, "Keys": keys[: self.serve]}}
            response = dict(self._client.batch_get_item(RequestItems=served))
        if keys[self.serve :]:
            response["UnprocessedKeys"] = {self._table: {**spec, "Keys": keys[self.serve :]}}
        return response

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        requests = RequestItems[self._table]
        self.calls.append(len(requests))
        if requests[: self.serve]:
            self._client.batch_write_item(RequestItems={self._table: requests[: self.serve]})
        left = requests[self.serve :]
        return {"UnprocessedItems": {self._table: left} if left else {}}

    def query(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request["Limit"])
        return dict(self._client.query(**{**request, "Limit": min(request["Limit"], self.page)}))


@pytest.fixture
def dynamodb(moto_url: str, dynamodb_table: str) -> DynamoDbDocumentStore:
    return DynamoDbDocumentStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=dynamodb_table))


def _throttled(
    store: DynamoDbDocumentStore, serve: int, page: int = 1000
) -> tuple[DynamoDbDocumentStore, ThrottlingClient, list[float]]:
    client = ThrottlingClient(store.client, store.table_name, serve, page)
    sleeps: list[float] = []
    return (
        DynamoDbDocumentStore(client, store.table_name, attempts=6, backoff_s=0.01, sleep=sleeps.append),
        client,
        sleeps,
    )


def test_dynamodb_get_many_retries_unprocessed_keys(dynamodb: DynamoDbDocumentStore, kind: str) -> None:
    docs = {f"k{i:03}": {"i": i} for i in range(120)}
    dynamodb.put_many(kind, docs)
    throttled, client, sleeps = _throttled(dynamodb, serve=40)

    assert throttled.get_many(kind, [*docs, "missing"]) == docs

    assert client.calls == [100, 60, 20, 21]  # batch of 100 in three calls, then 21 in one
    assert sleeps == [0.01, 0.02]  # exponential backoff between retries of the same batch


def test_dynamodb_put_many_retries_unprocessed_items(dynamodb: DynamoDbDocumentStore, kind: str) -> None:
    docs = {f"k{i:03}": {"i": i} for i in range(30)}
    throttled, client, sleeps = _throttled(dynamodb, serve=10)

    throttled.put_many(kind, docs)

    assert client.calls == [25, 15, 5, 5]
    assert len(sleeps) == 2
    assert dynamodb.get_many(kind, docs) == docs


def test_dynamodb_gives_up_on_unprocessed_items_after_bounded_attempts(
    dynamodb: DynamoDbDocumentStore, kind: str
) -> None:
    throttled, client, sleeps = _throttled(dynamodb, serve=0)

    with pytest.raises(IncompleteBatchError, match=r"3 .* still unwritten .* after 6 attempts"):
        throttled.put_many(kind, {"a": {}, "b": {}, "c": {}})
    with pytest.raises(IncompleteBatchError, match=r"2 .* still unread .* after 6 attempts"):
        throttled.get_many(kind, ["a", "b"])

    assert client.calls == [3] * 6 + [2] * 6
    assert len(sleeps) == 10  # no sleep after the last attempt


def test_dynamodb_scan_follows_short_pages(dynamodb: DynamoDbDocumentStore, kind: str) -> None:
    docs = {f"k{i:02}": {"i": i} for i in range(20)}
    dynamodb.put_many(kind, docs)
    throttled, client, _ = _throttled(dynamodb, serve=25, page=6)

    assert [k for k, _ in throttled.scan(kind, after="k02", limit=15)] == sorted(docs)[3:18]
    assert client.calls == [15, 9, 3]  # each call asks only for what is still missing


def test_dynamodb_rejects_empty_keys_with_a_clear_error(dynamodb: DynamoDbDocumentStore, kind: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        dynamodb.put(kind, "", {})
