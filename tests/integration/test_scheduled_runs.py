"""A failed scheduled run is retried, then dead-lettered, and visible: the local scheduler attempts
a failing schedule three times (EventBridge's policy: two retries, with a backoff), dead-letters it
once (`trading dead-letters` lists and replays it), records every attempt, and `GET /v1/schedules`
shows it failing; a success resets its failure count. In Lambda the wrapper records the attempt and
raises again (Lambda retries it, then its dead-letter queue)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import Keys
from trading_system.bootstrap import Container
from trading_system.config import Settings
from trading_system.entrypoints.cli import app
from trading_system.entrypoints.local.workers import Scheduler
from trading_system.kernel.bus import Handled
from trading_system.market_data import handlers as market_data_handlers
from trading_system.market_data.commands import CompactLake

NAME = "compact_lake_nightly"  # a fixed schedule: CompactLake, nightly at 00:30 UTC
FAILURE = "OSError: the lake is unreachable"


class Flaky:
    """CompactLake's handler, failing its first `failures` calls (then the real one runs)."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0
        self.real = market_data_handlers.HANDLERS.commands[CompactLake]

    def __call__(self, cmd: CompactLake, lake: Any) -> Handled[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("the lake is unreachable")
        handled: Handled[Any] = self.real(cmd, lake)
        return handled


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], Flaky]:
    def install(failures: int) -> Flaky:
        handler = Flaky(failures)
        monkeypatch.setitem(market_data_handlers.HANDLERS.commands, CompactLake, handler)
        return handler

    return install


def only_this_schedule(container: Container, backoff_s: float) -> tuple[Scheduler, datetime]:
    """A scheduler firing only NAME (the others would fire too near their own times), and when."""
    scheduler = Scheduler(container, retry_backoff_s=backoff_s)
    due = scheduler.due[NAME]
    scheduler.due = {NAME: due}
    scheduler.timetables = []
    return scheduler, due


def listed(client: TestClient, keys: Keys) -> dict[str, Any]:
    answer = client.get("/v1/schedules", headers=keys.header("admin"))
    assert answer.status_code == 200, answer.text
    schedules: dict[str, Any] = {s["name"]: s for s in answer.json()}
    return schedules


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}{result.exception!r}"
    return result.output


def test_a_failing_schedule_is_attempted_three_times_dead_lettered_once_and_shown(
    container: Container,
    client: TestClient,
    keys: Keys,
    settings: Settings,
    flaky: Callable[[int], Flaky],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    handler = flaky(100)
    scheduler, t = only_this_schedule(container, backoff_s=10)

    assert scheduler.run_due(t) == []  # attempt 1 fails: a retry waits 10 s
    assert handler.calls == 1
    assert scheduler.run_due(t + timedelta(seconds=9)) == [] and handler.calls == 1  # not yet
    assert scheduler.run_due(t + timedelta(seconds=10)) == [] and handler.calls == 2  # retry 1
    assert container.dead_letters.list() == []  # not before the last attempt
    assert scheduler.run_due(t + timedelta(seconds=29)) == [] and handler.calls == 2  # 2 x 10 s after
    assert scheduler.run_due(t + timedelta(seconds=30)) == [] and handler.calls == 3  # retry 2, the last
    assert scheduler.run_due(t + timedelta(minutes=10)) == [] and handler.calls == 3  # nothing more

    [letter] = container.dead_letters.list()
    assert letter.subscriber == NAME and letter.envelope is None
    assert letter.scheduled is not None and letter.scheduled.command == "CompactLake"
    assert (letter.attempts, letter.error) == (3, FAILURE)

    runs = container.schedule_runs.runs(NAME)
    assert [(r.attempt, r.status.value, r.error) for r in runs] == [(n, "failed", FAILURE) for n in (3, 2, 1)]
    assert len({r.invocation for r in runs}) == 1  # one firing, three attempts
    assert letter.letter_id == f"{NAME}#{runs[0].invocation}"

    shown = listed(client, keys)
    assert set(shown) >= {NAME, "close_session", "pull_alpaca_bars", "run_scheduled_scanner"}
    failing = shown[NAME]
    assert (failing["expression"], failing["timezone"], failing["kind"]) == (
        "cron(30 0 * * ? *)",
        "UTC",
        "fixed",
    )
    assert failing["status"] == "failing" and failing["failures_since_success"] == 3
    assert failing["last_run"]["attempt"] == 3 and failing["last_failure"]["error"] == FAILURE
    assert failing["last_success_at"] is None
    assert shown["close_session"]["status"] == "never_run" and shown["close_session"]["last_run"] is None
    assert shown["run_scheduled_scanner"]["kind"] == "timetabled"
    assert shown["run_scheduled_scanner"]["expression"] is None
    assert client.get("/v1/schedules", headers=keys.header("trader")).status_code == 403
    assert client.get("/v1/schedules").status_code == 401

    # The CLI lists the dead letter and replays it: still failing, it stays (and is recorded)...
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    assert [d["letter_id"] for d in json.loads(cli("dead-letters", "list"))] == [letter.letter_id]
    assert "still failing" in cli("dead-letters", "replay")
    assert handler.calls == 4 and len(container.dead_letters.list()) == 1
    assert listed(client, keys)[NAME]["failures_since_success"] == 4
    # ...and once the fault is gone it runs, its dead letter goes, and the schedule is healthy.
    handler.failures = 0
    assert "delivered" in cli("dead-letters", "replay")
    assert handler.calls == 5 and container.dead_letters.list() == []
    healthy = listed(client, keys)[NAME]
    assert healthy["status"] == "ok" and healthy["failures_since_success"] == 0
    assert healthy["last_success_at"] is not None
    assert healthy["last_failure"]["error"] == FAILURE  # still there to read


def test_a_success_after_failures_resets_the_count_and_dead_letters_nothing(
    container: Container, client: TestClient, keys: Keys, flaky: Callable[[int], Flaky]
) -> None:
    handler = flaky(2)
    scheduler, t = only_this_schedule(container, backoff_s=0)
    assert scheduler.run_due(t) == []
    assert listed(client, keys)[NAME]["failures_since_success"] == 1
    assert scheduler.run_due(t) == []
    assert listed(client, keys)[NAME]["failures_since_success"] == 2
    assert scheduler.run_due(t) == [NAME]  # the third attempt succeeds
    assert handler.calls == 3 and scheduler.retries == []
    assert container.dead_letters.list() == []
    runs = container.schedule_runs.runs(NAME)
    assert [(r.attempt, r.status.value) for r in runs] == [(3, "succeeded"), (2, "failed"), (1, "failed")]
    shown = listed(client, keys)[NAME]
    assert shown["status"] == "ok" and shown["failures_since_success"] == 0
    assert shown["last_failure"]["attempt"] == 2


@dataclass
class LambdaContext:
    aws_request_id: str
    function_name: str = NAME
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"


def test_the_lambda_wrapper_records_each_attempt_and_raises_again(
    settings: Settings, flaky: Callable[[int], Flaky], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from trading_system.bootstrap import bootstrap
    from trading_system.entrypoints.lambda_runtime import scheduled_function

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TradingTest")
    handler = flaky(3)
    # Built as its Lambda is: a container scoped to the function's catalog grant.
    lambda_handler = scheduled_function(NAME)
    event = {"id": "e1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}

    for _ in range(3):  # Lambda's first attempt and its two retries keep the request id
        with pytest.raises(OSError, match="unreachable"):
            lambda_handler(event, LambdaContext(aws_request_id="req-a"))
    assert handler.calls == 3
    container = bootstrap(settings)
    runs = container.schedule_runs.runs(NAME)
    assert [(r.attempt, r.invocation, r.error) for r in runs] == [(n, "req-a", FAILURE) for n in (3, 2, 1)]
    assert container.dead_letters.list() == []  # in AWS the dead letter is the queue's

    report = lambda_handler(event, LambdaContext(aws_request_id="req-b"))  # the next firing
    assert "files_after" in report
    status = container.schedule_runs.statuses([NAME])[NAME]
    assert (status.last_run.attempt, status.last_run.invocation, status.failures_since_success) == (
        1,
        "req-b",
        0,
    )
    assert status.last_failure is not None and status.last_failure.attempt == 3
    assert status.last_run.finished_at <= datetime.now(UTC)


def test_a_timetabled_item_that_keeps_failing_is_dead_lettered_with_its_key_and_replayed_with_it(
    container: Container,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from trading_system.scanning import handlers as scanning_handlers
    from trading_system.scanning.commands import RunScheduledScanner

    received: list[str] = []
    broken = True

    def run_scanner(cmd: RunScheduledScanner) -> Handled[None]:
        received.append(cmd.scanner_id)
        if broken:
            raise RuntimeError("the snapshot is missing")
        return Handled(None)

    monkeypatch.setitem(scanning_handlers.HANDLERS.commands, RunScheduledScanner, run_scanner)
    container.scanner_timetable.set("sc_failing", "rate(1 minute)")
    scheduler = Scheduler(container, retry_backoff_s=0)
    scheduler.due = {}  # the timetable only
    t = datetime.now(UTC) + timedelta(seconds=61)
    for _ in range(4):
        assert scheduler.run_due(t) == []
    assert received == ["sc_failing"] * 3

    [letter] = container.dead_letters.list()
    assert letter.scheduled is not None and letter.scheduled.input == {"scanner_id": "sc_failing"}
    assert (
        letter.subscriber == "run_scheduled_scanner"
        and letter.error == "RuntimeError: the snapshot is missing"
    )
    runs = container.schedule_runs.runs("run_scheduled_scanner")
    assert [(r.attempt, r.input) for r in runs] == [(n, {"scanner_id": "sc_failing"}) for n in (3, 2, 1)]

    broken = False
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    assert "delivered" in cli("dead-letters", "replay")
    assert received[-1] == "sc_failing" and container.dead_letters.list() == []
    status = container.schedule_runs.statuses(["run_scheduled_scanner"])["run_scheduled_scanner"]
    assert status.failures_since_success == 0 and status.last_run.input == {"scanner_id": "sc_failing"}
