"""A catalog `FanOut` in AWS: a rule on the domain bus starts a Step Functions state machine that
plans the work with the function, runs the function on every item in a Distributed Map, and
finishes with it (telling the finish what failed, when an item did).

    SweepRequested --rule--> Plan --(nothing to do?)--> Succeed
                                 \\--> Items (Distributed Map: at most max_concurrency at a time,
                                     no failure tolerated) --> Finish
                                     \\--(an item failed)--> FinishFailed (with the error caught)

Every step invokes the one function with `{"command", "input", "correlation_id"[, "error"]}`
(`kernel.fan_out.FanOutStep`). The Map runs its children as Standard executions: an item may take
the function's whole timeout, which Express's five minutes would not allow.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import nag
from infra.constructs.dead_letters import MAX_EVENT_AGE, RETRY_ATTEMPTS, dead_letter_queue
from infra.constructs.functions import LOG_RETENTION
from trading_system.catalog import FanOut, Function

# A throttled invocation (the function's reserved concurrency is shared by every running fan-out)
# is retried with backoff instead of failing the whole Map.
THROTTLE_RETRIES = 8
# The longest an execution may run: every item at the function's timeout, ten rounds of them.
ROUNDS_ALLOWED = 10


class FanOutWorkflow(Construct):
    """The state machine of one FanOut entry and the rule that starts it; `queue` receives the
    events the rule could not deliver."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        entry: Function,
        fan_out: FanOut,
        function: lambda_.IFunction,
        bus: events.IEventBus,
        event_source_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        correlation = sfn.JsonPath.string_at("$.correlation_id")

        def step(construct_id: str, command: str, **fields: object) -> tasks.LambdaInvoke:
            return tasks.LambdaInvoke(
                self,
                construct_id,
                lambda_function=function,
                payload=sfn.TaskInput.from_object(
                    {"command": command, "correlation_id": correlation, **fields}
                ),
                payload_response_only=True,
                result_path=sfn.JsonPath.DISCARD,
            )

        plan = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=function,
            payload=sfn.TaskInput.from_object(
                {
                    "command": fan_out.plan,
                    "input": sfn.JsonPath.object_at("$.input"),
                    "correlation_id": correlation,
                }
            ),
            payload_response_only=True,
            result_path="$.plan",
        )
        # No payload: the item's state (the Map's item selector) is the invocation's event.
        item = tasks.LambdaInvoke(self, "RunItem", lambda_function=function, payload_response_only=True)
        item.add_retry(
            errors=["Lambda.TooManyRequestsException"],
            interval=cdk.Duration.seconds(2),
            max_attempts=THROTTLE_RETRIES,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        items = sfn.DistributedMap(
            self,
            "Items",
            items_path="$.plan.items",
            item_selector={
                "command": fan_out.each,
                "input": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "correlation_id": correlation,
            },
            max_concurrency=fan_out.max_concurrency,
            tolerated_failure_percentage=0,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path=sfn.JsonPath.DISCARD,
        )
        items.item_processor(item)
        finish = step("Finish", fan_out.finish, input=sfn.JsonPath.object_at("$.plan.finish"))
        failed = step(
            "FinishFailed",
            fan_out.finish,
            input=sfn.JsonPath.object_at("$.plan.finish"),
            error=sfn.JsonPath.object_at("$.error"),
        )
        items.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        planned = (
            sfn.Choice(self, "Planned")
            .when(sfn.Condition.is_null("$.plan.finish"), sfn.Succeed(self, "NothingToDo"))
            .otherwise(items.next(finish))
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=entry.summary,
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(planned)),
            timeout=cdk.Duration.seconds(entry.timeout_s * ROUNDS_ALLOWED),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(self, "Logs", retention=LOG_RETENTION),
                level=sfn.LogLevel.ERROR,
            ),
        )
        nag.acknowledge(
            self.state_machine,
            "AwsSolutions-SF1",
            "logs at ERROR, not ALL: a sweep of 1,000 blocks makes thousands of state transitions, "
            "each a paid log event; failures are logged with their cause and X-Ray traces every run",
        )
        stack = cdk.Stack.of(self)
        executions = f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:" + (
            cdk.Fn.select(6, cdk.Fn.split(":", self.state_machine.state_machine_arn))
        )
        for children in (f"{executions}:*", f"{executions}/*:*"):
            nag.acknowledge(
                self.state_machine,
                f"AwsSolutions-IAM5[Resource::{nag.rendered(stack, children)}]",
                "the Distributed Map's child executions, whose names Step Functions makes at run time",
            )
        nag.acknowledge(
            self.state_machine,
            f"AwsSolutions-IAM5[Resource::{nag.rendered(stack, function.function_arn)}:*]",
            "the function's versions and aliases: LambdaInvoke's own grant, so an alias can be targeted",
        )
        nag.acknowledge(
            self.state_machine,
            nag.ANY_RESOURCE,
            "log delivery (logs:CreateLogDelivery and the like) and X-Ray's PutTraceSegments take no "
            "resource: AWS defines none for them",
        )
        self.queue = dead_letter_queue(self)
        events.Rule(
            self,
            "Rule",
            description=f"{fan_out.event} -> {entry.name} (state machine)",
            event_bus=bus,
            event_pattern=events.EventPattern(
                detail_type=[fan_out.event], source=events.Match.prefix(event_source_prefix)
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object(
                        {
                            "input": events.EventField.from_path("$.detail.payload"),
                            "correlation_id": events.EventField.from_path("$.detail.correlation_id"),
                        }
                    ),
                    dead_letter_queue=self.queue,
                    retry_attempts=RETRY_ATTEMPTS,
                    max_event_age=MAX_EVENT_AGE,
                )
            ],
        )
