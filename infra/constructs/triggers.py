"""What invokes each function: one loop over the catalog entries, one case per trigger kind.

A function with SnapStart is invoked through its alias (`Functions.targets`), which the catalog
allows on the triggers a person waits on only: `Authorizer`, `Http` and `WebSocket`.

- `Authorizer`: the HTTP API checks keys with the function (see `Api.use_authorizer`);
- `Http`: an integration of the HTTP API and its invoke permission (`Api.integrate`); `routes`
  lists them for the root stack, where the routes are (see `Api`);
- `On`: a rule on the domain bus, detail-type = the event type, source `trading.*`;
- `Every`: an EventBridge Scheduler schedule of the catalog's expression in its time zone, the
  syntax the local scheduler reads too (see `FixedSchedule`);
- `FileDropped`: S3's permission to invoke the function, and the raw bucket's notification for
  each suffix (the bucket gathers them, see `Storage.notify_on_upload`);
- `FanOut`: a rule on the domain bus starting a state machine that invokes the function (see
  `FanOutWorkflow`);
- `WebSocket`: the WebSocket API's integration and invoke permissions (`StreamApi.integrate`);
  `websocket_routes` lists the routes for the root stack, where the API is;
- `Streamed`: a rule on the domain bus, as for `On`, and the right to post to the WebSocket API's
  connections (`StreamApi.allow_posting`);
- `Timetabled`: an EventBridge Scheduler group whose schedules, made at run time by the
  context's functions that use `Resource.TIMETABLE` (in the same stack), invoke the function
  (see `Timetable`).

`On`, `Every`, `FileDropped`, `Timetabled` and `Streamed` invoke the function asynchronously: it
gets bounded retries and a dead-letter queue (`AsyncInvocation`), and a rule target delivers its
failures to the same queue. An entry whose
trigger kind has no case here is not wired, which fails the synth (infra/stack.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.api import Api, Route
from infra.constructs.dead_letters import AsyncInvocation
from infra.constructs.fan_out import FanOutWorkflow
from infra.constructs.functions import pascal_case
from infra.constructs.storage import Storage
from infra.constructs.timetable import FixedSchedule, Timetable
from infra.constructs.websocket import StreamApi, WebSocketRoute
from trading_system.catalog import (
    Authorizer,
    Every,
    FanOut,
    FileDropped,
    Function,
    Http,
    On,
    Resource,
    Streamed,
    Timetabled,
    WebSocket,
)

# Producers publish with source `trading.<context>` (DESIGN.md section 4); nothing else may
# trigger a subscriber, whatever detail-type it claims.
EVENT_SOURCE_PREFIX = "trading."


class Triggers(Construct):
    """The triggers of `entries`, in this construct's stack (the routes excepted: `routes`);
    `wired` names the entries it wired."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        entries: Sequence[Function],
        functions: Mapping[str, lambda_.Function],
        targets: Mapping[str, lambda_.IFunction],
        api: Api,
        bus: events.IEventBus,
        storage: Storage,
        stream: StreamApi,
    ) -> None:
        super().__init__(scope, construct_id)
        self.wired: set[str] = set()
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        self.routes: list[Route] = []
        self.websocket_routes: list[WebSocketRoute] = []
        for entry in entries:
            function = functions[entry.name]
            # What a person waits on invokes the function's SnapStart alias, when it has one
            # (constructs/snap_started.py; the catalog allows SnapStart on these triggers only).
            invoked = targets[entry.name]
            match entry.trigger:
                case Authorizer():
                    api.use_authorizer(self, invoked)
                case Http() as http:
                    self.routes.append(api.integrate(self, entry, http, invoked))
                case On(events=subscribed):
                    self._rule(
                        entry,
                        function,
                        f"{', '.join(subscribed)} -> {entry.name}",
                        event_bus=bus,
                        event_pattern=events.EventPattern(
                            detail_type=list(subscribed), source=events.Match.prefix(EVENT_SOURCE_PREFIX)
                        ),
                    )
                case Every() as every:
                    FixedSchedule(
                        self,
                        f"{pascal_case(entry.name)}Schedule",
                        every=every,
                        invocation=self._async(entry, function),
                    )
                case FileDropped(suffixes=suffixes):
                    self._async(entry, function)
                    permission = lambda_.CfnPermission(
                        self,
                        f"{pascal_case(entry.name)}InvokedByS3",
                        action="lambda:InvokeFunction",
                        function_name=function.function_arn,
                        principal="s3.amazonaws.com",
                        # The ARN from the name, not the resource: see Storage on the dependency cycle.
                        source_arn=storage.raw.bucket_arn,
                        source_account=cdk.Aws.ACCOUNT_ID,
                    )
                    storage.notify_on_upload(function, suffixes, permission=permission)
                case FanOut() as fan_out:
                    workflow = FanOutWorkflow(
                        self,
                        f"{pascal_case(entry.name)}Workflow",
                        entry=entry,
                        fan_out=fan_out,
                        function=function,
                        bus=bus,
                        event_source_prefix=EVENT_SOURCE_PREFIX,
                    )
                    self.dead_letter_queues[entry.name] = workflow.queue
                case Timetabled() as timetabled:
                    timetable = Timetable(
                        self,
                        f"{pascal_case(entry.name)}Timetable",
                        timetabled=timetabled,
                        invocation=self._async(entry, function),
                    )
                    writers = [e.name for e in entries if Resource.TIMETABLE in e.uses]
                    timetable.allow_writes(functions[name] for name in writers)
                case WebSocket() as websocket:
                    self.websocket_routes += stream.integrate(self, entry, websocket, invoked)
                case Streamed(events=streamed):
                    self._rule(
                        entry,
                        function,
                        f"{', '.join(streamed)} -> {entry.name} (the live stream)",
                        event_bus=bus,
                        event_pattern=events.EventPattern(
                            detail_type=list(streamed), source=events.Match.prefix(EVENT_SOURCE_PREFIX)
                        ),
                    )
                    stream.allow_posting(function)
                case _:
                    continue
            self.wired.add(entry.name)

    def _async(self, entry: Function, function: lambda_.Function) -> AsyncInvocation:
        invocation = AsyncInvocation(self, pascal_case(entry.name), function=function)
        self.dead_letter_queues[entry.name] = invocation.queue
        return invocation

    def _rule(
        self,
        entry: Function,
        function: lambda_.Function,
        description: str,
        *,
        event_bus: events.IEventBus | None = None,
        event_pattern: events.EventPattern | None = None,
    ) -> None:
        """A rule invoking the entry's function, delivery failures going to its dead-letter queue."""
        invocation = self._async(entry, function)
        events.Rule(
            self,
            f"{pascal_case(entry.name)}Rule",
            description=description,
            event_bus=event_bus,
            event_pattern=event_pattern,
            targets=[invocation.rule_target()],
        )
