"""The domain event bus and its archive (the rules on it are in `triggers`)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from constructs import Construct

# The archive is what `replay` works from; a year covers any investigation or backfill.
ARCHIVE_RETENTION = cdk.Duration.days(365)


class DomainBus(Construct):
    """A custom EventBridge bus with an archive of every event put on it.

    Both are kept (RETAIN) if the stack or the resource is ever removed: producers and the
    archive's year of events outlive any one deployment. Their logical ids must never change (the
    bus's name is derived from its construct path; tests/infra pins them).
    """

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
        self.bus.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.archive.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
