"""EventBridge Scheduler, for both kinds of schedule in the catalog:

- `Every`: one schedule of the catalog's expression, read in its time zone (EventBridge rules
  know only UTC; the close follows New York's, DST included) (`FixedSchedule`);
- `Timetabled`: a context's timetable: the schedule group its run-time schedules live in, and
  what the functions that write the timetable (`Resource.TIMETABLE`) need to make schedules in
  that group and nowhere else (`Timetable`).

Both invoke the function with a role of their own (`SchedulerRole`).

A timetable's schedule invokes the function asynchronously with `{<key>: <id>}`: delivery failures go,
after Scheduler's retries, to the function's dead-letter queue, and so do failed executions
(AsyncInvocation), as for every other asynchronous trigger. Schedules cost nothing between firings,
which is what replaced the minute poller (docs/COSTS.md)."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra import nag
from infra.constructs.dead_letters import MAX_EVENT_AGE, RETRY_ATTEMPTS, AsyncInvocation
from trading_system.catalog import Every, Timetabled

# What a writer may do with the group's schedules: no listing of other groups, no group changes.
WRITER_ACTIONS = [
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
]
REMOVER_ACTIONS = ["scheduler:GetSchedule", "scheduler:DeleteSchedule"]


class SchedulerRole(Construct):
    """What Scheduler (of this account only) may do for the function's schedules: invoke it, and
    send what it could not deliver to its dead-letter queue."""

    def __init__(self, scope: Construct, construct_id: str, *, invocation: AsyncInvocation, purpose: str):
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description=f"EventBridge Scheduler {purpose}"[:1000],
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
            ),
        )
        invocation.function.grant_invoke(self.role)
        invocation.queue.grant_send_messages(self.role)
        nag.acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{nag.rendered(stack, invocation.function.function_arn)}:*]",
            "lambda:InvokeFunction on the function's versions and aliases, which CDK's grant adds; "
            "the schedules invoke the function itself",
        )


class FixedSchedule(Construct):
    """The catalog's schedule of a function (`Every`), invoking it with an empty input."""

    def __init__(self, scope: Construct, construct_id: str, *, every: Every, invocation: AsyncInvocation):
        super().__init__(scope, construct_id)
        role = SchedulerRole(self, "Scheduler", invocation=invocation, purpose=f"sending {every.command}")
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=f"{every.expression} ({every.timezone}) -> {every.command}",
            schedule_expression=every.expression,
            schedule_expression_timezone=every.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=invocation.function.function_arn,
                role_arn=role.role.role_arn,
                input="{}",
                # Delivery retries before the dead-letter queue, as the rules' targets (dead_letters.py).
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=invocation.queue.queue_arn
                ),
            ),
        )


class Timetable(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        timetabled: Timetabled,
        invocation: AsyncInvocation,
    ) -> None:
        super().__init__(scope, construct_id)
        # Named by CloudFormation (unique per stack, so two stages never share a group).
        self.group = scheduler.CfnScheduleGroup(self, "Group")
        self.group_name = self.group.ref
        self.function = invocation.function
        self.dead_letter_queue = invocation.queue
        self.role = SchedulerRole(
            self,
            "Scheduler",
            invocation=invocation,
            purpose=f"sending {timetabled.command} ({timetabled.group})",
        ).role

    def allow_writes(self, writers: Iterable[lambda_.Function]) -> None:
        """Each writer learns where the timetable is and may make schedules in its group only,
        handing Scheduler this timetable's role only."""
        schedules = cdk.Stack.of(self).format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.group_name}/*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        for writer in writers:
            writer.add_environment("TRADING_TIMETABLE_GROUP", self.group_name)
            if writer is self.function:
                # It only removes the schedules of items gone (and its own ARN here would be a
                # cycle): it reads and deletes, and makes none.
                writer.add_to_role_policy(iam.PolicyStatement(actions=REMOVER_ACTIONS, resources=[schedules]))
                self._acknowledge_any_schedule(writer, schedules)
                continue
            environment = {
                "TRADING_TIMETABLE_TARGET_ARN": self.function.function_arn,
                "TRADING_TIMETABLE_ROLE_ARN": self.role.role_arn,
                "TRADING_TIMETABLE_DEAD_LETTER_ARN": self.dead_letter_queue.queue_arn,
            }
            for name, value in environment.items():
                writer.add_environment(name, value)
            writer.add_to_role_policy(iam.PolicyStatement(actions=WRITER_ACTIONS, resources=[schedules]))
            writer.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
                )
            )
            self._acknowledge_any_schedule(writer, schedules)

    def _acknowledge_any_schedule(self, writer: lambda_.Function, schedules: str) -> None:
        nag.acknowledge(
            writer,
            f"AwsSolutions-IAM5[Resource::{nag.rendered(cdk.Stack.of(self), schedules)}]",
            "any schedule of its own group: a schedule is named after the item (a scanner id) made at "
            "run time",
        )
