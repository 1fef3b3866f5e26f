"""The record of scheduled runs over both write stores (SQLite, DynamoDB on moto): each run is kept
newest first, only the last few per function; each function's status counts the failures since
its last success, keeps its last failure, and a success resets the count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tests.contract.document_stores import dynamodb_table, store
from trading_system.adapters.schedule_runs import DocumentScheduleRuns, runs_kind
from trading_system.kernel.clock import newest_first_id
from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.schedule_runs import RunStatus, ScheduleRun

__all__ = ["dynamodb_table", "store"]  # fixtures these tests use

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def a_function() -> str:
    return f"pull_{uuid4().hex[:8]}"  # a function (so a kind) per test: the DynamoDB table is shared


def run(
    function: str, n: int, error: str | None = None, invocation: str = "inv-1", attempt: int = 1
) -> ScheduleRun:
    started = T0 + timedelta(minutes=n)
    return ScheduleRun(
        run_id=newest_first_id("run"),
        function=function,
        command="PullAlpacaBars",
        invocation=invocation,
        attempt=attempt,
        started_at=started,
        finished_at=started + timedelta(seconds=2),
        status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
        error=error,
    )


def test_failures_are_counted_since_the_last_success_which_resets_them(store: DocumentStore) -> None:
    runs, name = DocumentScheduleRuns(store), a_function()
    assert runs.statuses([name]) == {}

    first = runs.record(run(name, 0))
    assert (first.failures_since_success, first.last_success_at, first.last_failure) == (
        0,
        T0 + timedelta(seconds=2),
        None,
    )

    for attempt in (1, 2, 3):
        status = runs.record(run(name, attempt, error="ProviderError: 503 from alpaca", attempt=attempt))
    assert status.failures_since_success == 3
    assert status.last_run.failed and status.last_run.attempt == 3
    assert status.last_failure is not None and status.last_failure.error == "ProviderError: 503 from alpaca"
    assert status.last_success_at == T0 + timedelta(seconds=2)
    assert runs.statuses([name, "nobody"]) == {name: status}  # what was written is what is read

    recovered = runs.record(run(name, 10, invocation="inv-2"))
    assert recovered.failures_since_success == 0
    assert recovered.last_success_at == T0 + timedelta(minutes=10, seconds=2)
    assert recovered.last_failure == status.last_failure  # the last failure stays visible
    assert runs.statuses([name])[name] == recovered


def test_a_function_keeps_only_its_last_runs_newest_first(store: DocumentStore) -> None:
    runs, name, other = DocumentScheduleRuns(store, keep=3), a_function(), a_function()
    made = [run(name, n, error="boom" if n % 2 else None) for n in range(5)]
    for each in made:
        runs.record(each)
    runs.record(run(other, 0))

    kept = runs.runs(name, limit=10)
    assert [r.run_id for r in kept] == [r.run_id for r in reversed(made[-3:])]
    assert kept[0] == made[-1]
    assert len(store.scan(runs_kind(name), limit=100)) == 3  # the older two are deleted, not hidden
    assert [r.function for r in runs.runs(other)] == [other]  # another function's are its own
    # The status still counts what was trimmed: runs 1 and 3 failed, run 4 succeeded.
    assert runs.statuses([name])[name].failures_since_success == 0
    assert runs.statuses([name])[name].last_failure == made[3]
