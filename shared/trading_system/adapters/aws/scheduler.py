"""The timetable in AWS: one EventBridge Scheduler schedule per key, in the group the stack made
for the context (infra/constructs/timetable.py), invoking the context's Timetabled function with
`{<key field>: <key>}`. Nothing runs between firings, so an idle scanner costs nothing."""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from trading_system.adapters.aws.clients import client
from trading_system.config import Settings

_NAME = re.compile(r"[^0-9A-Za-z_.-]")
MAX_NAME = 64  # Scheduler's limit on a schedule's name
# As the stack's own schedules and rules: two retries, then the dead-letter queue.
RETRY_POLICY = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}


class EventBridgeTimetable:
    def __init__(
        self,
        scheduler: Any,
        *,
        group: str,
        key_field: str,
        target_arn: str | None,
        role_arn: str | None,
        dead_letter_arn: str | None,
    ):
        """Without a target and a role it can only read and remove schedules: the function
        the schedules invoke is given no more (its own ARN in its settings would be a cycle)."""
        self.scheduler = scheduler
        self.group = group
        self.key_field = key_field
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.dead_letter_arn = dead_letter_arn

    @classmethod
    def from_settings(cls, settings: Settings, key_field: str) -> EventBridgeTimetable:
        return cls(
            client("scheduler", settings),
            group=settings.timetable_group,
            key_field=key_field,
            target_arn=settings.timetable_target_arn,
            role_arn=settings.timetable_role_arn,
            dead_letter_arn=settings.timetable_dead_letter_arn,
        )

    def set(self, key: str, expression: str) -> None:
        if self.target_arn is None or self.role_arn is None:
            raise RuntimeError(
                "making a schedule needs the settings timetable_target_arn and timetable_role_arn "
                "(TRADING_TIMETABLE_TARGET_ARN, TRADING_TIMETABLE_ROLE_ARN), which the stack sets on "
                "the functions that make schedules"
            )
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps({self.key_field: key}),
            "RetryPolicy": RETRY_POLICY,
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        schedule = {
            "Name": schedule_name(key),
            "GroupName": self.group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            "State": "ENABLED",
            "Description": f"{self.key_field}={key}"[:512],
        }
        try:
            self.scheduler.update_schedule(**schedule)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            self.scheduler.create_schedule(**schedule)

    def remove(self, key: str) -> None:
        try:
            self.scheduler.delete_schedule(Name=schedule_name(key), GroupName=self.group)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise

    def expression(self, key: str) -> str | None:
        try:
            found = self.scheduler.get_schedule(Name=schedule_name(key), GroupName=self.group)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise
        return str(found["ScheduleExpression"])

    def scheduled_keys(self) -> list[str]:
        # A schedule's name is its key (schedule_name), so a listing, which returns no inputs, is enough.
        keys: list[str] = []
        for page in self.scheduler.get_paginator("list_schedules").paginate(GroupName=self.group):
            keys += [item["Name"] for item in page["Schedules"]]
        return sorted(keys)


def schedule_name(key: str) -> str:
    """Scheduler's names allow [0-9A-Za-z_.-] and 64 characters: the platform's ids fit as they are."""
    if _NAME.search(key) or len(key) > MAX_NAME:
        raise ValueError(f"{key!r} cannot name a schedule: use at most {MAX_NAME} of [0-9A-Za-z_.-]")
    return key


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
