"""The domain event bus, its archive, and one rule per subscription in the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.catalog import Function, On
from infra.constructs.dead_letters import AsyncInvocation
from infra.constructs.functions import pascal_case

# Producers publish with source `trading.<context>` (DESIGN.md section 4); nothing else may
# trigger a subscriber, whatever detail-type it claims.
EVENT_SOURCE_PREFIX = "trading."
# The archive is what `replay` works from; a year covers any investigation or backfill.
ARCHIVE_RETENTION = cdk.Duration.days(365)


class DomainBus(Construct):
    """A custom EventBridge bus with an archive of every event put on it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus")
        self.archive = self.bus.archive(
            "Archive",
            description="Every domain event, for replay",
            # An archive needs a pattern; every event on this bus comes from this account.
            event_pattern=events.EventPattern(account=[cdk.Stack.of(self).account]),
            retention=ARCHIVE_RETENTION,
        )


class Subscriptions(Construct):
    """One rule per `On` entry: detail-type = the event type, target = the entry's function,
    with bounded retries and a dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Sequence[Function],
        functions: Mapping[str, lambda_.Function],
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        self.rules: dict[str, events.Rule] = {}
        for entry in catalog:
            if not isinstance(entry.trigger, On):
                continue
            name = pascal_case(entry.name)
            invocation = AsyncInvocation(self, name, function=functions[entry.name])
            self.rules[entry.name] = events.Rule(
                self,
                f"{name}Rule",
                event_bus=bus,
                description=f"{entry.trigger.event} -> {entry.name}",
                event_pattern=events.EventPattern(
                    detail_type=[entry.trigger.event],
                    source=events.Match.prefix(EVENT_SOURCE_PREFIX),
                ),
                targets=[invocation.rule_target()],
            )
            self.dead_letter_queues[entry.name] = invocation.queue

    @property
    def wired(self) -> set[str]:
        return set(self.rules)
