"""The whole platform: a root stack and nested stacks, one per bounded context, all from the catalog.

CloudFormation takes at most 500 resources per stack, and every function brings several (log group,
role, policy, alarms, rule, queue...). So the root holds only what is shared or stateful, and each
context of the catalog (`Function.context`) gets a nested stack of its own, holding its functions
and what serves them (a large context, several: see FUNCTIONS_PER_STACK). A new context or
function needs no change here.

- root: the table, the buckets, the bus and its archive (kept, RETAIN, under logical ids that never
  change), the e-mail alerts' topic (its subscriptions are the addresses that confirmed, so its
  logical id never changes either), the layers, the HTTP API with its stage, authorizer and routes
  (one resource per route: see `Api` on why routes stay here), the alarm topic, the account-level
  and API alarms and the one dashboard;
- a nested stack per context: its functions, log groups, IAM, API integrations and invoke
  permissions, rules, schedules, upload triggers, dead-letter queues and their alarm. What
  it uses from the root reaches it as parameters, what the root uses from it as outputs (CDK
  adds both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.alerts import AlertsTopic
from infra.constructs.api import Api, Route
from infra.constructs.bus import DomainBus
from infra.constructs.functions import Functions, Layers, pascal_case
from infra.constructs.observability import Observability
from infra.constructs.storage import Storage
from infra.constructs.triggers import Triggers
from infra.constructs.users import Users
from infra.constructs.websocket import StreamApi, WebSocketRoute
from trading_system.catalog import CATALOG, Function

# Each function brings at most 10 resources to its stack (an asynchronous one: log group, role,
# policy, function, invoke permission, rule, dead-letter queue and its policy, invoke config, and
# a share of its context's dead-letter alarm), so a stack of 30 stays near 300, under the 400 of
# DESIGN.md's budget and CloudFormation's 500. A context with more continues in another stack
# (`Trading2`, ...), in catalog order: add a context's new functions at the end of its list, or
# those after them move to the next stack and are replaced (they are stateless; a moved
# function's dead-letter queue is replaced too, so it should be empty).
FUNCTIONS_PER_STACK = 30


@dataclass(frozen=True)
class Platform:
    """What the root stack shares with the functions of every stack."""

    storage: Storage
    bus: events.IEventBus
    alerts_topic: sns.ITopic  # where e-mail alerts go (Resource.NOTIFY)
    layers: Layers  # the dependency and shared layers, and the optional ones entries name
    api: Api
    stream: StreamApi  # the live stream's WebSocket API
    parameters_path: str  # where the functions' settings kept out of code are (docs/OPERATIONS.md)
    snap_start: bool = True  # False: no function uses SnapStart, whatever its entry says


class ContextStack(cdk.NestedStack):
    """One bounded context (or a part of one): its functions, their triggers and dead-letter alarms.
    `routes` are its functions' API integrations, for the root to route to."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        context: str,
        entries: Sequence[Function],
        platform: Platform,
        observability: Observability,
    ) -> None:
        super().__init__(scope, construct_id, description=f"The {context} context's functions and triggers")
        functions = Functions(
            self,
            "Functions",
            entries=entries,
            storage=platform.storage,
            bus=platform.bus,
            alerts_topic=platform.alerts_topic,
            layers=platform.layers,
            parameters_path=platform.parameters_path,
            snap_start=platform.snap_start,
        )
        self.functions = functions.by_name
        triggers = Triggers(
            self,
            "Triggers",
            entries=entries,
            functions=functions.by_name,
            targets=functions.targets,
            api=platform.api,
            bus=platform.bus,
            storage=platform.storage,
            stream=platform.stream,
        )
        observability.watch_dead_letters(self, triggers.dead_letter_queues, context)
        self.wired: set[str] = triggers.wired
        self.routes: list[Route] = triggers.routes
        self.websocket_routes: list[WebSocketRoute] = triggers.websocket_routes


def nested_stacks(catalog: Iterable[Function]) -> dict[str, tuple[str, list[Function]]]:
    """The nested stacks by construct id, each with its context and entries: one per context
    (`market_data` -> `MarketData`, contexts in catalog order), split every FUNCTIONS_PER_STACK."""
    by_context: dict[str, list[Function]] = {}
    for entry in catalog:
        by_context.setdefault(entry.context, []).append(entry)
    stacks: dict[str, tuple[str, list[Function]]] = {}
    for context, entries in by_context.items():
        for start in range(0, len(entries), FUNCTIONS_PER_STACK):
            part = start // FUNCTIONS_PER_STACK + 1
            stack_id = pascal_case(context) + (str(part) if part > 1 else "")
            stacks[stack_id] = (context, entries[start : start + FUNCTIONS_PER_STACK])
    return stacks


class TradingStack(cdk.Stack):
    """Environment-agnostic on purpose: no lookups, so synthesis needs no AWS account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Sequence[Function] = CATALOG,
        alarm_email: str | None = None,
        cors_origins: Sequence[str] = (),
        customer_managed_key: bool = False,
        snap_start: bool = True,
        **kwargs: Any,
    ) -> None:
        """`snap_start`: False deploys every function without SnapStart (catalog: `snap_start`)."""
        super().__init__(scope, construct_id, **kwargs)
        storage = Storage(self, "Storage", customer_managed_key=customer_managed_key)
        domain_bus = DomainBus(self, "DomainBus")
        api = Api(self, "Api", cors_origins=cors_origins)
        users = Users(self, "Users")
        stream = StreamApi(self, "WebSocket")
        # Not "Alerts": that is the alerts context's nested stack (`nested_stacks`).
        alerts = AlertsTopic(self, "EmailAlerts")
        platform = Platform(
            storage=storage,
            bus=domain_bus.bus,
            alerts_topic=alerts.topic,
            layers=Layers(self, "Layers", optional={layer for entry in catalog for layer in entry.layers}),
            api=api,
            stream=stream,
            parameters_path=f"/{self.stack_name}",
            snap_start=snap_start,
        )
        # Dashboard names are global to the account: the region keeps two deployments apart.
        observability = Observability(
            self,
            "Observability",
            dashboard_name=f"{self.stack_name}-{cdk.Aws.REGION}",
            alarm_email=alarm_email,
            http_api=api.http_api,
        )

        wired: set[str] = set()
        routes: list[Route] = []
        websocket_routes: list[WebSocketRoute] = []
        for stack_id, (context, entries) in nested_stacks(catalog).items():
            stack = ContextStack(
                self,
                stack_id,
                context=context,
                entries=entries,
                platform=platform,
                observability=observability,
            )
            for checks_tokens in ("authorizer", "stream_connect"):  # they verify the user pool's tokens
                if checks_tokens in stack.functions:
                    users.trust(stack.functions[checks_tokens])
            wired |= stack.wired
            routes += stack.routes
            websocket_routes += stack.websocket_routes
        # Once every stack is built: the routes need the authorizer, whichever stack it is in.
        for route in routes:
            api.add_route(route)
        for websocket_route in websocket_routes:
            stream.add_route(websocket_route)
        observability.build_dashboard()

        # A trigger kind added to the catalog must fail the synth until this stack deploys it,
        # rather than ship a function nothing ever invokes.
        unwired = sorted(entry.name for entry in catalog if entry.name not in wired)
        if unwired:
            raise ValueError(f"catalog entries whose trigger this stack does not deploy: {unwired}")

        outputs = {
            "ApiUrl": api.url,
            "WebSocketUrl": stream.url,
            "LakeBucketName": storage.lake_bucket.bucket_name,
            "RawBucketName": storage.raw_bucket_name,
            "TableName": storage.table.table_name,
            "EventBusName": domain_bus.bus.event_bus_name,
            "UserPoolId": users.user_pool.user_pool_id,
            "UserPoolClientId": users.audience,
            # What operators' commands need (`trading alerts move-email`, `remove-topics`): the
            # topic e-mail alerts went through before each owner had one (docs/OPERATIONS.md).
            "AlertsTopicArn": alerts.topic.topic_arn,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
