"""One EventBridge schedule rule per `Every` entry of the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.catalog import Every, Function
from infra.constructs.dead_letters import AsyncInvocation
from infra.constructs.functions import pascal_case


class Schedules(Construct):
    """Scheduled rules on the default bus (schedules cannot live on a custom bus), in the same
    expression syntax the catalog and the local scheduler use, each with retries and a DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Sequence[Function],
        functions: Mapping[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        self.rules: dict[str, events.Rule] = {}
        for entry in catalog:
            if not isinstance(entry.trigger, Every):
                continue
            name = pascal_case(entry.name)
            invocation = AsyncInvocation(self, name, function=functions[entry.name])
            self.rules[entry.name] = events.Rule(
                self,
                f"{name}Schedule",
                description=f"{entry.trigger.expression} -> {entry.name}",
                schedule=events.Schedule.expression(entry.trigger.expression),
                targets=[invocation.rule_target()],
            )
            self.dead_letter_queues[entry.name] = invocation.queue

    @property
    def wired(self) -> set[str]:
        return set(self.rules)
