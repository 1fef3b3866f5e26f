"""The Timetable contract: run-time schedules kept in the write store locally and in EventBridge
Scheduler in AWS (against moto's server on loopback) behave the same. What a schedule invokes in
AWS (its target, role, retry policy and dead-letter queue) is asserted on the Scheduler side at
the end; the local firing is tested with the local scheduler (tests/integration)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.aws.scheduler import EventBridgeTimetable, schedule_name
from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
from trading_system.adapters.timetable import DocumentTimetable
from trading_system.config import Settings
from trading_system.kernel.timetable import Timetable

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:run-scheduled-scanner"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
DEAD_LETTERS = "arn:aws:sqs:us-east-1:123456789012:scheduler-dead-letters"


@pytest.fixture(params=["sqlite", "scheduler"])
def timetable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Timetable]:
    if request.param == "sqlite":
        store = SqliteDocumentStore(tmp_path / "documents.db")
        yield DocumentTimetable(store, "scanners")
        store.close()
        return
    moto_url: str = request.getfixturevalue("moto_url")
    group = unique_name("scanners")
    boto_client("scheduler", moto_url).create_schedule_group(Name=group)
    settings = Settings(
        aws_endpoint_url=moto_url,
        timetable_group=group,
        timetable_target_arn=TARGET,
        timetable_role_arn=ROLE,
        timetable_dead_letter_arn=DEAD_LETTERS,
    )
    yield EventBridgeTimetable.from_settings(settings, key_field="scanner_id")


def test_a_key_without_a_schedule_has_none(timetable: Timetable) -> None:
    assert timetable.expression("scn_none") is None
    assert timetable.scheduled_keys() == []


def test_set_then_read_back(timetable: Timetable) -> None:
    timetable.set("scn_b", "rate(5 minutes)")
    timetable.set("scn_a", "cron(0 14 ? * MON-FRI *)")
    assert timetable.expression("scn_a") == "cron(0 14 ? * MON-FRI *)"
    assert timetable.expression("scn_b") == "rate(5 minutes)"
    assert timetable.scheduled_keys() == ["scn_a", "scn_b"]


def test_setting_again_replaces_the_schedule(timetable: Timetable) -> None:
    timetable.set("scn_a", "rate(5 minutes)")
    timetable.set("scn_a", "rate(1 hour)")
    assert timetable.expression("scn_a") == "rate(1 hour)"
    assert timetable.scheduled_keys() == ["scn_a"]


def test_remove_is_idempotent(timetable: Timetable) -> None:
    timetable.set("scn_a", "rate(5 minutes)")
    timetable.remove("scn_a")
    timetable.remove("scn_a")
    timetable.remove("scn_never")
    assert timetable.expression("scn_a") is None
    assert timetable.scheduled_keys() == []


def test_the_local_timetable_fires_what_is_due_once_per_period(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "documents.db")
    timetable = DocumentTimetable(store, "scanners")
    timetable.set("scn_a", "rate(5 minutes)")
    now = datetime.now(UTC)
    assert timetable.due(now) == []
    later = now + timedelta(minutes=5, seconds=1)
    assert timetable.due(later) == ["scn_a"]
    timetable.fired("scn_a", later)
    assert timetable.due(later + timedelta(minutes=4)) == []
    assert timetable.due(later + timedelta(minutes=5)) == ["scn_a"]
    timetable.fired("scn_gone", later)  # removed meanwhile: nothing to advance, nothing written
    assert timetable.scheduled_keys() == ["scn_a"]


def test_a_scheduler_schedule_invokes_the_target_with_the_key_and_dead_letters_failures(
    moto_url: str,
) -> None:
    group = unique_name("scanners")
    scheduler = boto_client("scheduler", moto_url)
    scheduler.create_schedule_group(Name=group)
    settings = Settings(
        aws_endpoint_url=moto_url,
        timetable_group=group,
        timetable_target_arn=TARGET,
        timetable_role_arn=ROLE,
        timetable_dead_letter_arn=DEAD_LETTERS,
    )
    EventBridgeTimetable.from_settings(settings, key_field="scanner_id").set("scn_a", "rate(5 minutes)")
    schedule = scheduler.get_schedule(Name="scn_a", GroupName=group)
    assert schedule["State"] == "ENABLED"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (TARGET, ROLE)
    assert json.loads(target["Input"]) == {"scanner_id": "scn_a"}
    assert target["DeadLetterConfig"] == {"Arn": DEAD_LETTERS}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_without_a_target_the_scheduler_timetable_removes_but_cannot_make_schedules(moto_url: str) -> None:
    group = unique_name("scanners")
    boto_client("scheduler", moto_url).create_schedule_group(Name=group)
    full = Settings(
        aws_endpoint_url=moto_url, timetable_group=group, timetable_target_arn=TARGET, timetable_role_arn=ROLE
    )
    EventBridgeTimetable.from_settings(full, key_field="scanner_id").set("scn_a", "rate(5 minutes)")
    remover = EventBridgeTimetable.from_settings(
        Settings(aws_endpoint_url=moto_url, timetable_group=group), key_field="scanner_id"
    )
    with pytest.raises(RuntimeError, match="timetable_target_arn and timetable_role_arn"):
        remover.set("scn_b", "rate(5 minutes)")
    assert remover.expression("scn_a") == "rate(5 minutes)"
    remover.remove("scn_a")
    assert remover.scheduled_keys() == []


def test_a_key_that_cannot_name_a_schedule_is_refused() -> None:
    assert schedule_name("scn_01HZX.a-b") == "scn_01HZX.a-b"
    for bad in ("scn a", "scn/a", "x" * 65):
        with pytest.raises(ValueError, match="cannot name a schedule"):
            schedule_name(bad)
