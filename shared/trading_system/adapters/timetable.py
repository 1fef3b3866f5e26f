"""The local timetable: run-time schedules in the write store, one document per key under
`timetable:<group>`, with the moment each is next due. The local scheduler fires what is due
(entrypoints/local/workers.py); the CLI and the server share them through the SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.kinds import TIMETABLES
from trading_system.kernel.schedule import Schedule


class DocumentTimetable:
    def __init__(self, store: DocumentStore, group: str):
        self.store = store
        self.kind = f"{TIMETABLES}:{group}"

    def set(self, key: str, expression: str) -> None:
        due = _next(expression, datetime.now(UTC))
        self.store.put(self.kind, key, {"expression": expression, "due_at": due.isoformat()})

    def remove(self, key: str) -> None:
        self.store.delete(self.kind, key)

    def expression(self, key: str) -> str | None:
        doc = self.store.get(self.kind, key)
        return None if doc is None else str(doc["expression"])

    def scheduled_keys(self) -> list[str]:
        return [key for key, _ in scan_all(self.store, self.kind)]

    def due(self, now: datetime) -> list[str]:
        """The keys whose next firing is at or before `now`."""
        return [
            key
            for key, doc in scan_all(self.store, self.kind)
            if datetime.fromisoformat(str(doc["due_at"])) <= now
        ]

    def fired(self, key: str, now: datetime) -> None:
        """`key` fired at `now`: it is next due on its schedule after now (a firing missed while
        the process was down is not replayed, as Scheduler with no flexible window does not)."""
        doc = self.store.get(self.kind, key)
        if doc is not None:
            due = _next(str(doc["expression"]), now)
            self.store.put(self.kind, key, {**doc, "due_at": due.isoformat()})


def _next(expression: str, after: datetime) -> datetime:
    return Schedule(expression).next_after(after.replace(tzinfo=None)).replace(tzinfo=UTC)
