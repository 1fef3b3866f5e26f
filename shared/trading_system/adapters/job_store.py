"""Jobs in the write store (backtests, sweeps, backfills), one document each by id: ids sort
newest first (kernel.clock.newest_first_id), so a scan is a listing, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

from trading_system.kernel.documents import DocumentStore


class StoredJob(Protocol):
    """What a job model gives its store: the id it is kept by, and its JSON form both ways."""

    @property
    def key(self) -> str: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


J = TypeVar("J", bound=StoredJob)


class DocumentJobs(Generic[J]):
    """Jobs of one kind by id."""

    def __init__(self, store: DocumentStore, kind: str, model: type[J]):
        self.store = store
        self.kind = kind
        self.model = model

    def get(self, job_id: str) -> J | None:
        doc = self.store.get(self.kind, job_id)
        return self.model.model_validate(doc) if doc else None

    def add(self, job: J) -> None:
        self.store.put(self.kind, job.key, job.model_dump(mode="json"), if_absent=True)

    def save(self, job: J) -> None:
        self.store.put(self.kind, job.key, job.model_dump(mode="json"))

    def delete(self, job_id: str) -> None:
        self.store.delete(self.kind, job_id)

    def newest(self, after: str | None, limit: int) -> list[J]:
        return [self.model.model_validate(d) for _, d in self.store.scan(self.kind, after=after, limit=limit)]

    def get_many(self, job_ids: Sequence[str]) -> dict[str, J]:
        found = self.store.get_many(self.kind, job_ids)
        return {key: self.model.model_validate(doc) for key, doc in found.items()}
