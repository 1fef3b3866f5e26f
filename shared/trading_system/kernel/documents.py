"""The write store port: small JSON documents by (kind, key), with conditional writes.

Symbols, API keys, processed-event ids and dead letters live here: SQLite locally, one DynamoDB
table in AWS. Both adapters pass tests/contract/test_document_store.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

Document = dict[str, Any]

# A document holding this field (epoch seconds) expires then: DynamoDB deletes the item some time
# after (its `ttl` attribute, within days), SQLite never does, so readers check the time themselves.
TTL_FIELD = "expires_at_epoch"


class DocumentStore(Protocol):
    def get(self, kind: str, key: str) -> Document | None: ...

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Document]: ...

    def put(
        self, kind: str, key: str, doc: Document, *, if_absent: bool = False, if_present: bool = False
    ) -> None:
        """Write a document. With if_absent, raise ConcurrencyConflict if the key exists; with
        if_present, if it does not (a document replaced whole, never brought back once deleted)."""

    def put_many(self, kind: str, docs: Mapping[str, Document]) -> None: ...

    def delete(self, kind: str, key: str) -> None: ...

    def scan(self, kind: str, *, after: str | None = None, limit: int = 100) -> list[tuple[str, Document]]:
        """Documents of a kind in ascending key order, starting after the key `after`."""


SCAN_PAGE = 500  # documents a page of scan_all reads


def scan_all(store: DocumentStore, kind: str) -> list[tuple[str, Document]]:
    """Every document of a kind, in key order, read page by page."""
    found: list[tuple[str, Document]] = []
    after = None
    while page := store.scan(kind, after=after, limit=SCAN_PAGE):
        found += page
        after = page[-1][0]
    return found
