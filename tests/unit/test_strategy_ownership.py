"""Whose jobs a caller sees (strategies.ownership): its own, page after page, whatever other
users' jobs lie between; an admin every one; a job stored without an owner is the first admin's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from trading_system.kernel.errors import NotFound
from trading_system.kernel.principal import FIRST_ADMIN, Principal, Role, visible
from trading_system.strategies.commands import SweepRequest
from trading_system.strategies.jobs import SweepJob
from trading_system.strategies.ownership import newest_visible, seen
from trading_system.strategies.sweep_spec import SweepSpec

ALICE = Principal(key_id="k_alice", role=Role.TRADER, user="alice")
BOB = Principal(key_id="k_bob", role=Role.TRADER, user="bob")
ADMIN = Principal(key_id="k_admin", role=Role.ADMIN, user="root")


def sweep_job(n: int, owner: str | None) -> SweepJob:
    fields = {
        "sweep_id": f"sw_{n:05d}",
        "request": SweepRequest(strategy="sma_cross", sweep=SweepSpec(grid={"n1": [5]}), symbols=["X"]),
        "strategy_name": "sma_cross",
        "base_params": {},
        "combinations": [],
        "skipped": [],
        "submitted_at": datetime(2024, 1, 1, tzinfo=UTC),
        "submitted_by": "k",
    }
    # As stored: a job of before users has no owner field at all.
    return SweepJob.model_validate(fields if owner is None else {**fields, "owner": owner})


class FakeJobs:
    """Jobs in key order, as the store lists them (the ports.Jobs a listing reads)."""

    def __init__(self, jobs: Sequence[SweepJob]):
        self.jobs = {j.key: j for j in sorted(jobs, key=lambda j: j.key)}

    def get(self, job_id: str) -> SweepJob | None:
        return self.jobs.get(job_id)

    def add(self, job: SweepJob) -> None:
        self.jobs[job.key] = job

    save = add

    def delete(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def newest(self, after: str | None, limit: int) -> list[SweepJob]:
        return [j for key, j in self.jobs.items() if after is None or key > after][:limit]

    def get_many(self, job_ids: Sequence[str]) -> dict[str, SweepJob]:
        return {i: self.jobs[i] for i in job_ids if i in self.jobs}


@pytest.fixture
def jobs() -> FakeJobs:
    # 1,200 of Alice's with one of Bob's every 300, so his span pages of 500.
    return FakeJobs([sweep_job(n, "bob" if n % 300 == 7 else "alice") for n in range(1200)])


def test_a_user_pages_through_their_own_jobs_only(jobs: FakeJobs) -> None:
    first = newest_visible(jobs, BOB, None, 2)
    assert [j.key for j in first] == ["sw_00007", "sw_00307"]
    rest = newest_visible(jobs, BOB, first[-1].key, 10)
    assert [j.key for j in rest] == ["sw_00607", "sw_00907"]
    assert len(newest_visible(jobs, ALICE, None, 500)) == 500
    assert len(newest_visible(jobs, ADMIN, None, 500)) == 500
    keep_one = newest_visible(jobs, ADMIN, None, 5, lambda j: j.key == "sw_00907")
    assert [j.key for j in keep_one] == ["sw_00907"]


def test_a_job_stored_without_an_owner_is_the_first_admins() -> None:
    old = sweep_job(1, None)
    assert old.owner == FIRST_ADMIN
    first_admin = Principal(key_id="k", role=Role.VIEWER)  # a key of the first admin's, any role
    assert visible(first_admin, old, "no sweep", "sweep_id") is old
    with pytest.raises(NotFound) as raised:
        visible(BOB, old, "no sweep sw_00001", "sweep_id")
    with pytest.raises(NotFound) as unknown:
        visible(BOB, None, "no sweep sw_00001", "sweep_id")
    assert raised.value.detail == unknown.value.detail
    assert seen(BOB, old) is None and seen(ADMIN, old) is old
