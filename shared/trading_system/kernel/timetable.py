"""The timetable port: schedules the application makes at run time, one per item (a scanner),
each firing the catalog function of its group (`catalog.Timetabled`) with the item's id.

EventBridge Scheduler keeps them in AWS (adapters/aws/scheduler.py) and the write store locally
(adapters/timetable.py); both pass tests/contract/test_timetable.py."""

from __future__ import annotations

from typing import Protocol


class Timetable(Protocol):
    def set(self, key: str, expression: str) -> None:
        """Fire `key` on `expression` (EventBridge syntax, UTC) from now on, replacing any
        schedule it had."""

    def remove(self, key: str) -> None:
        """Stop firing `key`; nothing happens if it had no schedule."""

    def expression(self, key: str) -> str | None:
        """The schedule `key` fires on, or None."""

    def scheduled_keys(self) -> list[str]:
        """Every key with a schedule, sorted."""
