"""The job store (backtests, sweeps, backfills) over both write stores (SQLite, DynamoDB on moto):
a job is added once, saved over, listed newest first a page at a time, read in bulk, deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tests.contract.document_stores import dynamodb_table, store
from trading_system.adapters.job_store import DocumentJobs
from trading_system.kernel.clock import newest_first_id
from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.jobs import JobStatus
from trading_system.market_data.commands import BackfillBars
from trading_system.market_data.jobs import BackfillJob

__all__ = ["dynamodb_table", "store"]  # fixtures these tests use

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def jobs(store: DocumentStore) -> DocumentJobs[BackfillJob]:
    return DocumentJobs(store, f"backfill_job_{uuid4().hex[:8]}", BackfillJob)  # a kind per test


def job() -> BackfillJob:
    request = BackfillBars(provider="alpaca", symbols=["AAPL"], timeframe="1d", start="2024-01-02")
    return BackfillJob(
        backfill_id=newest_first_id("bf"), request=request, submitted_at=NOW, submitted_by="k1"
    )


def test_a_job_is_added_once_then_saved_over(store: DocumentStore) -> None:
    kept, queued = jobs(store), job()
    kept.add(queued)
    with pytest.raises(ConcurrencyConflict):
        kept.add(queued)
    running = queued.start(NOW).progressed({"AAPL": 250})
    kept.save(running)
    found = kept.get(queued.key)
    assert found == running and found.status is JobStatus.RUNNING and found.bars == 250
    assert found.request.start == datetime(2024, 1, 2, tzinfo=UTC).date()
    assert kept.get("bf_nobody") is None


def test_jobs_are_listed_newest_first_a_page_at_a_time_and_deleted(store: DocumentStore) -> None:
    kept = jobs(store)
    made = [job() for _ in range(5)]  # each id sorts before the one made before it
    for each in made:
        kept.add(each)
    newest = [j.key for j in reversed(made)]
    first = kept.newest(None, 2)
    assert [j.key for j in first] == newest[:2]
    assert [j.key for j in kept.newest(first[-1].key, 10)] == newest[2:]
    assert set(kept.get_many([made[0].key, made[1].key, "bf_nobody"])) == {made[0].key, made[1].key}
    kept.delete(made[0].key)
    assert kept.get(made[0].key) is None and len(kept.newest(None, 10)) == 4
