"""Runs a scheduled catalog function: sends the command its trigger names (a timetabled one, with
the key of the item whose schedule fired). The Lambda and the local scheduler both call this, so
a schedule does the same thing in either runtime.

Every attempt is recorded (kernel/schedule_runs.py): which function, the command and its input,
when it started and finished, whether it failed and why, and which attempt of its firing it was.
Retrying is the runtime's: in AWS, Lambda's asynchronous retries (two) and then the function's
dead-letter queue (infra/constructs/dead_letters.py); locally, the scheduler's same policy and
the local dead-letter table (entrypoints/local/workers.py). `schedules` is what
`GET /v1/schedules` answers: every schedule of the catalog with its status."""

from __future__ import annotations

import importlib
import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from trading_system.adapters.deliveries import ScheduledInput
from trading_system.bootstrap import Container
from trading_system.catalog import CATALOG, Every, Function, Timetabled
from trading_system.kernel.clock import newest_first_id
from trading_system.kernel.errors import describe_failure
from trading_system.kernel.messages import Command
from trading_system.kernel.schedule import Schedule
from trading_system.kernel.schedule_runs import RunStatus, ScheduleRun, ScheduleStatus

log = logging.getLogger(__name__)

# As EventBridge + Lambda's asynchronous invocation: the first attempt and two retries
# (infra/constructs/dead_letters.py RETRY_ATTEMPTS), then the dead letters.
ATTEMPTS = 3


def scheduled_command(function: Function) -> type[Command]:
    """The command class a scheduled function sends, from its context's commands module."""
    if not isinstance(function.trigger, Every | Timetabled):
        raise LookupError(f"{function.name} is not a scheduled function")
    module = importlib.import_module(f"trading_system.{function.context}.commands")
    kind = getattr(module, function.trigger.command, None)
    if not (isinstance(kind, type) and issubclass(kind, Command)):
        raise LookupError(
            f"{function.name}: trading_system.{function.context}.commands has no command "
            f"{function.trigger.command!r}"
        )
    return kind


def scheduled_input(function: Function, key: str | None = None) -> ScheduledInput:
    """What one firing of the function sends: its command, and a timetabled item's key."""
    trigger = function.trigger
    if isinstance(trigger, Timetabled):
        if key is None:
            raise ValueError(f"{function.name} is timetabled: it runs for one item's {trigger.key}")
        return ScheduledInput(function=function.name, command=trigger.command, input={trigger.key: key})
    if not isinstance(trigger, Every):
        raise LookupError(f"{function.name} is not a scheduled function")
    return ScheduledInput(function=function.name, command=trigger.command)


def run_scheduled(function: Function, container: Container) -> Any:
    return container.bus.execute(scheduled_command(function)())


def run_timetabled(function: Function, container: Container, key: str) -> Any:
    assert isinstance(function.trigger, Timetabled), f"{function.name} is not timetabled"
    return container.bus.execute(scheduled_command(function)(**{function.trigger.key: key}))


def run_input(function: Function, container: Container, scheduled: ScheduledInput) -> Any:
    """Send the command of one firing (a dead letter's, replayed)."""
    return container.bus.execute(scheduled_command(function)(**scheduled.input))


def attempt(
    function: Function,
    container: Container,
    scheduled: ScheduledInput,
    *,
    invocation: str,
    attempt: int,
) -> Any:
    """Run one attempt of a firing and record it; what the command raised is raised again (the
    runtime retries it). A record that cannot be written is logged, never the run's outcome."""
    started = container.clock.now()
    try:
        result = run_input(function, container, scheduled)
    except Exception as error:
        _record(container, scheduled, invocation, attempt, started, describe_failure(error))
        raise
    _record(container, scheduled, invocation, attempt, started, None)
    return result


def next_attempt(container: Container, function: Function, invocation: str) -> int:
    """The attempt a Lambda invocation is of its firing: Lambda retries an asynchronous
    invocation with the same request id, so the function's last run tells (a timetabled
    function's other items running in between make a retry count as a first attempt)."""
    try:
        status = container.schedule_runs.statuses([function.name]).get(function.name)
    except Exception:  # the record is for seeing runs: it never stops one
        log.exception("could not read the runs of %s", function.name)
        return 1
    if status is not None and status.last_run.invocation == invocation:
        return status.last_run.attempt + 1
    return 1


def _record(
    container: Container,
    scheduled: ScheduledInput,
    invocation: str,
    attempt: int,
    started: datetime,
    error: str | None,
) -> None:
    run = ScheduleRun(
        run_id=newest_first_id("run"),
        function=scheduled.function,
        command=scheduled.command,
        input=scheduled.input,
        invocation=invocation,
        attempt=attempt,
        started_at=started,
        finished_at=container.clock.now(),
        status=RunStatus.FAILED if error is not None else RunStatus.SUCCEEDED,
        error=error,
    )
    try:
        container.schedule_runs.record(run)
    except Exception:
        log.exception("could not record run %s of %s", run.run_id, run.function)


# ---- what GET /v1/schedules answers ------------------------------------------------------


class ScheduleView(BaseModel):
    """A schedule of the catalog and how its runs went. `status`: `ok` (its last run succeeded),
    `failing` (its last run failed), `never_run`."""

    name: str
    context: str
    summary: str
    command: str
    kind: Literal["fixed", "timetabled"]  # a fixed expression, or one schedule per item (a timetable)
    expression: str | None  # fixed only (EventBridge syntax)
    timezone: str | None
    timetable: str | None  # timetabled only: the group its items' schedules are in
    next_run_at: datetime | None  # fixed only
    status: Literal["ok", "failing", "never_run"]
    last_run: ScheduleRun | None
    last_success_at: datetime | None
    last_failure: ScheduleRun | None
    failures_since_success: int


def scheduled_functions() -> list[Function]:
    return [f for f in CATALOG if isinstance(f.trigger, Every | Timetabled)]


def schedules(container: Container) -> list[ScheduleView]:
    functions = scheduled_functions()
    statuses = container.schedule_runs.statuses(f.name for f in functions)
    now = container.clock.now()
    return [_view(f, statuses.get(f.name), now) for f in functions]


def _view(function: Function, status: ScheduleStatus | None, now: datetime) -> ScheduleView:
    trigger = function.trigger
    assert isinstance(trigger, Every | Timetabled)
    state: Literal["ok", "failing", "never_run"] = "never_run"
    if status is not None:
        state = "failing" if status.last_run.failed else "ok"
    fixed = trigger if isinstance(trigger, Every) else None
    return ScheduleView(
        name=function.name,
        context=function.context,
        summary=function.summary,
        command=trigger.command,
        kind="fixed" if fixed else "timetabled",
        expression=fixed.expression if fixed else None,
        timezone=fixed.timezone if fixed else None,
        timetable=trigger.group if isinstance(trigger, Timetabled) else None,
        next_run_at=Schedule(fixed.expression, fixed.timezone).next_after(now) if fixed else None,
        status=state,
        last_run=status.last_run if status else None,
        last_success_at=status.last_success_at if status else None,
        last_failure=status.last_failure if status else None,
        failures_since_success=status.failures_since_success if status else 0,
    )
