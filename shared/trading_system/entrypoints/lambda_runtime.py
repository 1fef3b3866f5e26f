"""Turns catalog functions into Lambda handlers: thin wrappers with Powertools around the same
application code the local runner uses. Everything here runs once, in the init phase."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from trading_system.adapters.aws.event_format import envelope_from_eventbridge
from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import Function, Resource, by_name
from trading_system.entrypoints import garbage, snapstart
from trading_system.entrypoints.business_metrics import samples
from trading_system.kernel.messages import Envelope

LambdaHandler = Callable[[dict[str, Any], Any], Any]

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "trading"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Trading"))


def container_for(function: Function) -> Container:
    """The function's container, with the clients its catalog entry uses built now (init phase
    runs with full CPU and is not billed per request on provisioned/SnapStart functions)."""
    container = bootstrap(producer=function.name, kinds=function.kinds)
    build_clients(container, function)
    container.bus.observers.append(_count_event)
    # With SnapStart: what the snapshot must hold, and what each restore must build again.
    snapstart.register(container, function.context, lambda: build_clients(container, function))
    return container


def build_clients(container: Container, function: Function) -> None:
    """The clients and connections of the resources the function's catalog entry uses."""
    if Resource.TABLE in function.uses:
        _ = container.store
    if Resource.LAKE in function.uses:
        _ = container.lake
    if Resource.BUS in function.uses:
        _ = container.publisher


def _count_event(envelope: Envelope) -> None:
    """Every event published, by type, and the business metrics it stands for (one list for both
    runtimes: entrypoints/business_metrics.py). A labelled sample is a metric of its own, with
    its labels as dimensions."""
    metrics.add_metric(name=envelope.event_type, unit=MetricUnit.Count, value=1)
    for sample in samples(envelope):
        definition = sample.definition
        unit = MetricUnit.Seconds if definition.unit == "seconds" else MetricUnit.Count
        if not sample.labels:
            metrics.add_metric(name=definition.cloudwatch_name, unit=unit, value=sample.value)
            continue
        with single_metric(
            name=definition.cloudwatch_name, unit=unit, value=sample.value, namespace=metrics.namespace
        ) as metric:
            for label, value in sample.labels.items():
                metric.add_dimension(name=label, value=value)


def instrument(
    function: Function, handler: LambdaHandler, correlation_path: str | None = None
) -> LambdaHandler:
    """Logger with the Lambda context and correlation id, EMF metrics, and X-Ray tracing when
    the function runs in Lambda (the X-Ray SDK costs ~300 ms to import, so not elsewhere)."""
    wrapped: LambdaHandler = metrics.log_metrics(raise_on_empty_metrics=False)(handler)
    wrapped = logger.inject_lambda_context(correlation_id_path=correlation_path, clear_state=True)(wrapped)
    if "AWS_LAMBDA_FUNCTION_NAME" in os.environ and os.environ.get("POWERTOOLS_TRACE_DISABLED") != "true":
        from aws_lambda_powertools import Tracer

        wrapped = Tracer(service=function.name).capture_lambda_handler(wrapped)
    # The handler is built (every function module ends here): the collector, off while the module
    # was imported (functions/__init__.py), goes back on. Frozen first, what init made would
    # otherwise be walked by the first collection, on the first request, still in the youngest
    # generation.
    garbage.started()
    return wrapped


def http_function(name: str) -> LambdaHandler:
    from mangum import Mangum

    from trading_system.entrypoints.http.app import create_app

    function = by_name()[name]
    app = create_app(container_for(function), [function], "trust_authorizer")
    asgi = Mangum(app, lifespan="off")  # lifespan "on" would run startup on every invocation

    def handler(event: dict[str, Any], context: Any) -> Any:
        return asgi(event, context)

    return instrument(function, handler, correlation_paths.API_GATEWAY_HTTP)


def event_function(name: str) -> LambdaHandler:
    """A bus subscriber: EventBridge delivers the envelope as `detail`. Raising makes
    EventBridge retry and finally dead-letter it; the inbox makes redelivery harmless."""
    function = by_name()[name]
    container = container_for(function)

    def handler(event: dict[str, Any], context: Any) -> Any:
        envelope = envelope_from_eventbridge(event)
        logger.append_keys(correlation_id=envelope.correlation_id, event_id=str(envelope.event_id))
        processed = container.bus.deliver(name, envelope)
        return {"event_id": str(envelope.event_id), "processed": processed}

    return instrument(function, handler)


def fan_out_function(name: str) -> LambdaHandler:
    """A fan-out's steps, invoked by its state machine as `{"command": <one of its three>, "input":
    {...}, "correlation_id": ..., "error": <what the Map's Catch caught, for the finish>}`. The
    plan answers its FanOutPlan; an item that raises fails the Map, and so the finish is told."""
    from pydantic import BaseModel

    from trading_system.bootstrap import step_commands
    from trading_system.catalog import FanOut
    from trading_system.kernel.bus import MessageContext
    from trading_system.kernel.fan_out import FanOutStep, step_command

    function = by_name()[name]
    assert isinstance(function.trigger, FanOut), f"{name} is not a fan-out"
    kinds = dict(
        zip(function.trigger.commands, step_commands(function.context, function.trigger), strict=True)
    )
    container = container_for(function)

    def handler(event: dict[str, Any], context: Any) -> Any:
        step = FanOutStep.model_validate(event)
        kind = kinds.get(step.command)
        if kind is None:
            raise ValueError(f"{name} runs {', '.join(kinds)}, not {step.command!r}")
        logger.append_keys(correlation_id=step.correlation_id, step=step.command)
        command = step_command(kind, step.input, step.failure())
        message_context = MessageContext(correlation_id=step.correlation_id) if step.correlation_id else None
        result = container.bus.execute(command, message_context)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else None

    return instrument(function, handler)


def scheduled_function(name: str) -> LambdaHandler:
    """Invoked by its EventBridge schedule. Each attempt is recorded (which attempt: Lambda's
    retries keep the request id) and what it raised is raised again: Lambda retries it twice,
    then sends it to the function's dead-letter queue (infra/constructs/dead_letters.py)."""
    from trading_system.entrypoints.scheduled import attempt, next_attempt, scheduled_input

    function = by_name()[name]
    container = container_for(function)
    scheduled = scheduled_input(function)

    def handler(event: dict[str, Any], context: Any) -> Any:
        invocation = _invocation_id(event, context)
        number = next_attempt(container, function, invocation)
        logger.append_keys(attempt=number)
        result = attempt(function, container, scheduled, invocation=invocation, attempt=number)
        return result.model_dump(mode="json") if hasattr(result, "model_dump") else result

    return instrument(function, handler)


def timetabled_function(name: str) -> LambdaHandler:
    """Invoked by one of the schedules the application made (EventBridge Scheduler), with the
    input it was given: `{<the trigger's key>: <the item's id>}`. Recorded and retried as a
    scheduled function is (`scheduled_function`)."""
    from trading_system.catalog import Timetabled
    from trading_system.entrypoints.scheduled import attempt, next_attempt, scheduled_input

    function = by_name()[name]
    assert isinstance(function.trigger, Timetabled), f"{name} is not timetabled"
    key = function.trigger.key
    container = container_for(function)

    def handler(event: dict[str, Any], context: Any) -> Any:
        if not isinstance(event.get(key), str):
            raise ValueError(f"{name} is invoked with {{{key!r}: <id>}}, not {sorted(event)}")
        logger.append_keys(**{key: event[key]})
        invocation = _invocation_id(event, context)
        number = next_attempt(container, function, invocation)
        logger.append_keys(attempt=number)
        scheduled = scheduled_input(function, event[key])
        result = attempt(function, container, scheduled, invocation=invocation, attempt=number)
        return result.model_dump(mode="json") if hasattr(result, "model_dump") else result

    return instrument(function, handler)


def _invocation_id(event: dict[str, Any], context: Any) -> str:
    """What a firing's attempts share: Lambda's request id (kept by its asynchronous retries),
    else the EventBridge event's id, else a new one."""
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        return request_id
    event_id = event.get("id")
    return event_id if isinstance(event_id, str) and event_id else str(uuid4())


def dropped_file_function(name: str) -> LambdaHandler:
    from urllib.parse import unquote_plus

    from trading_system.entrypoints.dropped_files import ingest_dropped

    function = by_name()[name]
    container = container_for(function)

    def handler(event: dict[str, Any], context: Any) -> Any:
        reports = []
        for record in event.get("Records", []):
            key = unquote_plus(record["s3"]["object"]["key"])
            reports.append(ingest_dropped(container, key))
        return {"reports": reports}

    return instrument(function, handler)


def websocket_function(name: str) -> LambdaHandler:
    """A route of the WebSocket API: $connect checks the key or token, the others speak the
    stream's protocol (entrypoints/websocket.py); what a message route answers goes to the client."""
    from trading_system.entrypoints import websocket
    from trading_system.entrypoints.stream import Sees, sees_through
    from trading_system.identity.queries import Authenticate
    from trading_system.kernel.bus import MessageContext
    from trading_system.kernel.principal import Principal

    function = by_name()[name]
    container = container_for(function)

    def authenticate(token: str) -> Any:
        return container.bus.ask(Authenticate(token=token))

    def sees_for(principal: Principal) -> Sees:
        as_subscriber = MessageContext(principal=principal)
        return sees_through(lambda query: container.bus.ask(query, as_subscriber))

    def handler(event: dict[str, Any], context: Any) -> Any:
        request = event["requestContext"]
        logger.append_keys(connection_id=request.get("connectionId"), route=request.get("routeKey"))
        if request.get("eventType") == "CONNECT":
            return websocket.connect(event, authenticate, container.connections, container.clock)
        return websocket.message(event, container.connections, sees_for)

    return instrument(function, handler)


def streamed_function(name: str) -> LambdaHandler:
    """The stream's fan-out: EventBridge delivers each streamed event; a failed post is logged,
    not retried (a retry would repeat the event to every connection that did get it)."""
    from trading_system.entrypoints.websocket import fan_out

    function = by_name()[name]
    container = container_for(function)
    if container.settings.runtime == "aws":
        _ = container.stream_poster  # in the init phase; never locally, where the hub streams

    def handler(event: dict[str, Any], context: Any) -> Any:
        envelope = envelope_from_eventbridge(event)
        logger.append_keys(correlation_id=envelope.correlation_id, event_id=str(envelope.event_id))
        counts = fan_out(envelope, container.connections, lambda: container.stream_poster)
        logger.info("streamed %s", envelope.event_type, extra=counts)
        return {"event_id": str(envelope.event_id), **counts}

    return instrument(function, handler)


__all__ = [
    "dropped_file_function",
    "event_function",
    "fan_out_function",
    "http_function",
    "scheduled_function",
    "streamed_function",
    "timetabled_function",
    "websocket_function",
]
