"""Background work of the local runtime: the catalog's schedules, the timetables' schedules and
the raw-folder watcher, standing in for EventBridge rules, EventBridge Scheduler and S3
notifications."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from trading_system.adapters.timetable import DocumentTimetable
from trading_system.bootstrap import Container
from trading_system.catalog import FileDropped, by_name, schedules, timetables
from trading_system.entrypoints.dropped_files import ingest_dropped
from trading_system.entrypoints.scheduled import run_scheduled, run_timetabled
from trading_system.kernel.schedule import Schedule

log = logging.getLogger(__name__)


class Scheduler(threading.Thread):
    def __init__(self, container: Container, tick_s: float = 1.0):
        super().__init__(name="scheduler", daemon=True)
        self.container = container
        self.tick_s = tick_s
        self.stopping = threading.Event()
        now = datetime.now(UTC)
        self.schedules = {f.name: (f, Schedule(every.expression, every.timezone)) for f, every in schedules()}
        self.due = {name: schedule.next_after(now) for name, (_, schedule) in self.schedules.items()}
        self.timetables = [
            (function, DocumentTimetable(container.store, timetabled.group))
            for function, timetabled in timetables()
        ]

    def run(self) -> None:
        while not self.stopping.wait(self.tick_s):
            self.run_due(datetime.now(UTC))

    def run_due(self, now: datetime) -> list[str]:
        ran = []
        for name, due in self.due.items():
            if now >= due:
                function, schedule = self.schedules[name]
                try:
                    run_scheduled(function, self.container)
                    ran.append(name)
                except Exception:
                    log.exception("scheduled function %s failed", name)
                self.due[name] = schedule.next_after(now)
        for function, timetable in self.timetables:
            for key in timetable.due(now):
                timetable.fired(key, now)  # first: a failing item must not fire every tick
                try:
                    run_timetabled(function, self.container, key)
                    ran.append(f"{function.name}:{key}")
                except Exception:
                    log.exception("scheduled %s of %s failed", key, function.name)
        return ran


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
