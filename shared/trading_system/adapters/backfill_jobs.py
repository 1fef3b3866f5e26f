"""Backfill jobs in the write store, one document each, keyed by their newest-first id."""

from __future__ import annotations

from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.kinds import BACKFILL_JOBS
from trading_system.market_data.jobs import BackfillJob


class DocumentBackfillJobs:
    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, backfill_id: str) -> BackfillJob | None:
        doc = self.store.get(BACKFILL_JOBS, backfill_id)
        return BackfillJob.model_validate(doc) if doc else None

    def add(self, job: BackfillJob) -> None:
        self.store.put(BACKFILL_JOBS, job.backfill_id, job.model_dump(mode="json"), if_absent=True)

    def save(self, job: BackfillJob) -> None:
        self.store.put(BACKFILL_JOBS, job.backfill_id, job.model_dump(mode="json"))

    def newest(self, after: str | None, limit: int) -> list[BackfillJob]:
        found = self.store.scan(BACKFILL_JOBS, after=after, limit=limit)
        return [BackfillJob.model_validate(doc) for _, doc in found]
