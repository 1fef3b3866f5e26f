"""Background work of the local runtime: the catalog's schedules, the timetables' schedules and
the raw-folder watcher, standing in for EventBridge rules, EventBridge Scheduler and S3
notifications."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from trading_system.adapters.deliveries import ScheduledInput
from trading_system.adapters.timetable import DocumentTimetable
from trading_system.bootstrap import Container
from trading_system.catalog import FileDropped, Function, by_name, schedules, timetables
from trading_system.entrypoints.dropped_files import ingest_dropped
from trading_system.entrypoints.scheduled import ATTEMPTS, attempt, scheduled_input
from trading_system.kernel.errors import describe_failure
from trading_system.kernel.schedule import Schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Retry:
    due: datetime
    function: Function
    scheduled: ScheduledInput
    invocation: str
    attempt: int


class Scheduler(threading.Thread):
    """Fires the catalog's schedules and the timetables' as EventBridge would, retrying a failed
    firing like its asynchronous invocation does: `attempts` in all (the first and two retries),
    the n-th retry `retry_backoff_s * n` after the failure (a retry waits in a queue, so the other
    schedules keep their time), then a dead letter (`trading dead-letters` lists and replays it).
    Every attempt is recorded (entrypoints/scheduled.py)."""

    def __init__(
        self,
        container: Container,
        tick_s: float = 1.0,
        attempts: int = ATTEMPTS,
        retry_backoff_s: float = 5.0,
    ):
        super().__init__(name="scheduler", daemon=True)
        self.container = container
        self.tick_s = tick_s
        self.attempts = attempts
        self.retry_backoff_s = retry_backoff_s
        self.stopping = threading.Event()
        now = datetime.now(UTC)
        self.schedules = {f.name: (f, Schedule(every.expression, every.timezone)) for f, every in schedules()}
        self.due = {name: schedule.next_after(now) for name, (_, schedule) in self.schedules.items()}
        self.timetables = [
            (function, DocumentTimetable(container.store, timetabled.group))
            for function, timetabled in timetables()
        ]
        self.retries: list[_Retry] = []

    def run(self) -> None:
        while not self.stopping.wait(self.tick_s):
            self.run_due(datetime.now(UTC))

    def run_due(self, now: datetime) -> list[str]:
        """Run what is due at `now`: retries first, then schedules. The names of those that ran
        without an error (`<function>` or `<function>:<key>`)."""
        ran = []
        retries = [r for r in self.retries if r.due <= now]
        self.retries = [r for r in self.retries if r.due > now]
        for retry in retries:
            if self._attempt(retry.function, retry.scheduled, retry.invocation, retry.attempt, now):
                ran.append(_name(retry.scheduled))
        for name, due in self.due.items():
            if now >= due:
                function, schedule = self.schedules[name]
                if self._attempt(function, scheduled_input(function), str(uuid4()), 1, now):
                    ran.append(name)
                self.due[name] = schedule.next_after(now)
        for function, timetable in self.timetables:
            for key in timetable.due(now):
                timetable.fired(key, now)  # first: a failing item must not fire every tick
                if self._attempt(function, scheduled_input(function, key), str(uuid4()), 1, now):
                    ran.append(f"{function.name}:{key}")
        return ran

    def _attempt(
        self, function: Function, scheduled: ScheduledInput, invocation: str, number: int, now: datetime
    ) -> bool:
        try:
            attempt(function, self.container, scheduled, invocation=invocation, attempt=number)
            return True
        except Exception as error:
            log.exception("scheduled %s failed (attempt %d/%d)", _name(scheduled), number, self.attempts)
            if number < self.attempts:
                due = now + timedelta(seconds=self.retry_backoff_s * number)
                self.retries.append(_Retry(due, function, scheduled, invocation, number + 1))
            else:
                error_text = describe_failure(error)
                self.container.dead_letters.add_scheduled(scheduled, invocation, error_text, number)
            return False


def _name(scheduled: ScheduledInput) -> str:
    return ":".join([scheduled.function, *scheduled.input.values()])


class RawFolderWatcher(threading.Thread):
    """Polls the raw folder; each file is read once, then moved to _done/ (ingested) or
    _rejected/ (refused, its problems beside it), with a report."""

    def __init__(self, container: Container, poll_s: float = 2.0):
        super().__init__(name="raw-watcher", daemon=True)
        self.container = container
        self.poll_s = poll_s
        self.stopping = threading.Event()
        self.suffixes = next(
            f.trigger.suffixes for f in by_name().values() if isinstance(f.trigger, FileDropped)
        )

    def run(self) -> None:
        while not self.stopping.wait(self.poll_s):
            self.scan_once()

    def scan_once(self) -> list[dict[str, object]]:
        reports = []
        for key in self.container.raw_files.pending():
            if key.endswith(self.suffixes):
                try:
                    reports.append(ingest_dropped(self.container, key))
                except Exception:
                    log.exception("could not ingest dropped file %s", key)
        return reports
