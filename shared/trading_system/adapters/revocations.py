"""Revoked token ids and disabled subjects, as documents of the write store (DynamoDB in AWS,
SQLite locally): the authorizer reads them on every request that shows a bearer token."""

from __future__ import annotations

from trading_system.identity.domain import Revocation, RevocationKind
from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.kinds import TOKEN_REVOCATIONS as REVOCATIONS


def _key(kind: RevocationKind, value: str) -> str:
    return f"{kind.value}#{value}"


class DocumentTokenRevocations:
    def __init__(self, store: DocumentStore):
        self.store = store

    def find(self, token_id: str | None, subject: str) -> Revocation | None:
        # One batched read for both, so a bearer token costs one round trip to the store.
        keys = [_key(RevocationKind.SUBJECT, subject)]
        if token_id:
            keys.append(_key(RevocationKind.TOKEN, token_id))
        found = self.store.get_many(REVOCATIONS, keys)
        for key in keys:
            if key in found:
                return Revocation.model_validate(found[key])
        return None

    def get(self, kind: RevocationKind, value: str) -> Revocation | None:
        doc = self.store.get(REVOCATIONS, _key(kind, value))
        return Revocation.model_validate(doc) if doc else None

    def add(self, revocation: Revocation) -> None:
        self.store.put(
            REVOCATIONS, _key(revocation.kind, revocation.value), revocation.model_dump(mode="json")
        )

    def remove(self, kind: RevocationKind, value: str) -> bool:
        if self.get(kind, value) is None:
            return False
        self.store.delete(REVOCATIONS, _key(kind, value))
        return True

    def list(self) -> list[Revocation]:
        return [Revocation.model_validate(doc) for _, doc in scan_all(self.store, REVOCATIONS)]
