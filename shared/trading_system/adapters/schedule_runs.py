"""Scheduled runs in the write store (SQLite locally, DynamoDB in AWS).

Two kinds of document: each function's runs under `schedule_run:<function>` (keyed newest first,
so one page is its latest runs), and one status per function under `schedule_status` (read for
every schedule at once, one batch read, by `GET /v1/schedules`).

Growth is bounded by count, not time: a function keeps its last `keep` runs (50 by default), and
recording a run deletes those beyond them (a schedule firing every five minutes keeps about four
hours; a nightly one, seven weeks). The status carries what the trimmed runs would otherwise be
needed for: the last failure and the count of failures since the last success.

The status is read, changed and written back without a condition: two attempts of one function
finishing at the same instant (a timetable's items) may lose one count; the runs themselves are
never lost that way.
"""

from __future__ import annotations

from collections.abc import Iterable

from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.kinds import SCHEDULE_RUNS, SCHEDULE_STATUS
from trading_system.kernel.schedule_runs import ScheduleRun, ScheduleStatus

KEPT_RUNS = 50
_TRIM_SLACK = 20  # a trim reads this many beyond the kept, so missed trims catch up


def runs_kind(function: str) -> str:
    return f"{SCHEDULE_RUNS}:{function}"


class DocumentScheduleRuns:
    def __init__(self, store: DocumentStore, keep: int = KEPT_RUNS):
        if keep < 1:
            raise ValueError("keep at least one run")
        self.store = store
        self.keep = keep

    def record(self, run: ScheduleRun) -> ScheduleStatus:
        kind = runs_kind(run.function)
        self.store.put(kind, run.run_id, run.model_dump(mode="json"))
        previous = self.statuses([run.function]).get(run.function)
        status = previous.after(run) if previous else ScheduleStatus.first(run)
        self.store.put(SCHEDULE_STATUS, run.function, status.model_dump(mode="json"))
        self._trim(kind)
        return status

    def statuses(self, functions: Iterable[str]) -> dict[str, ScheduleStatus]:
        found = self.store.get_many(SCHEDULE_STATUS, list(dict.fromkeys(functions)))
        return {name: ScheduleStatus.model_validate(doc) for name, doc in found.items()}

    def runs(self, function: str, limit: int = 20) -> list[ScheduleRun]:
        page = self.store.scan(runs_kind(function), limit=min(limit, self.keep))
        return [ScheduleRun.model_validate(doc) for _, doc in page]

    def _trim(self, kind: str) -> None:
        page = self.store.scan(kind, limit=self.keep + _TRIM_SLACK)
        for key, _ in page[self.keep :]:
            self.store.delete(kind, key)
