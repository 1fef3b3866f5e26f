"""Bounded retries and a dead-letter queue for every function invoked asynchronously.

An asynchronous invocation (EventBridge rule, schedule, S3 notification) can fail in two places,
and each needs its own setting, or failures vanish:

- delivery: EventBridge cannot hand the event to Lambda (throttled, function missing). The rule
  target's retry policy applies, then the target's dead-letter queue; the message body is the event.
- execution: the function raises. Lambda's own async retries apply, then its on-failure
  destination; the message body is an invocation record whose `requestPayload` is the event and
  whose `responsePayload` holds the error.

Both land in the same queue, one per function, so everything a subscriber failed to process is in
one place. (`trading dead-letters` lists and replays the local runtime's dead-letter table; for
these queues, docs/OPERATIONS.md says how to read and replay both shapes by hand: SQS's own
redrive cannot, as it moves messages back only to SQS source queues.)
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag

# Handlers are idempotent, so a retry is safe; two retries ride out a transient fault without
# letting a poison event loop for hours.
RETRY_ATTEMPTS = 2
# An event older than this is stale for a trading system; it goes to the queue for a decision.
MAX_EVENT_AGE = cdk.Duration.hours(1)
# The longest SQS keeps a message: time for someone to look at a failure and replay it.
DEAD_LETTER_RETENTION = cdk.Duration.days(14)


def dead_letter_queue(scope: Construct) -> sqs.Queue:
    """The queue where what could not be delivered or processed waits for a person."""
    queue = sqs.Queue(
        scope,
        "DeadLetterQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    nag.acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "it is a dead-letter queue itself: its messages wait for a person (alarmed on, replayed by "
        "hand), nothing consumes them to fail again",
    )
    return queue


class AsyncInvocation(Construct):
    """A function's dead-letter queue, with its async retries and on-failure destination set."""

    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.queue = dead_letter_queue(self)
        function.configure_async_invoke(
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.queue),
        )

    def rule_target(self) -> targets.LambdaFunction:
        """The function as an EventBridge target, delivery failures going to the same queue."""
        return targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.queue,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
