"""The message bus: routes commands and queries to their handler and events to subscribers.

Handlers are plain functions. Their first parameter is the message; every other parameter is a
dependency looked up by name on the container the bootstrap module builds, so handlers never
import adapters and a function only builds the adapters its handler names.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID, uuid4

from trading_system.kernel.correlation import correlated
from trading_system.kernel.messages import Command, Envelope, Event, Query
from trading_system.kernel.principal import SYSTEM, Principal

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[..., Any]


@dataclass(frozen=True)
class Handled(Generic[T]):
    """What a command or event handler returns: its result and the events it raised."""

    result: T
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class MessageContext:
    """Metadata that travels with a message: who asked, and which chain of messages it is part of."""

    principal: Principal = SYSTEM
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    causation_id: str | None = None
    # The envelope a subscriber is handling (its id, time and producer), for what keeps it.
    envelope: Envelope | None = None


@dataclass
class HandlerTable:
    """A context's command and query handlers, by message type. (Event handlers are found by
    the name their subscription has in the catalog, so they need no table.)"""

    commands: dict[type[Command], Handler] = field(default_factory=dict)
    queries: dict[type[Query], Handler] = field(default_factory=dict)

    def merge(self, other: HandlerTable) -> HandlerTable:
        return HandlerTable({**self.commands, **other.commands}, {**self.queries, **other.queries})

    def command(self, kind: type[Command]) -> Handler:
        return self.commands[kind]

    def query(self, kind: type[Query]) -> Handler:
        return self.queries[kind]


class Handlers(Protocol):
    """Where the bus finds handlers (the bootstrap loads each context's on demand)."""

    def command(self, kind: type[Command]) -> Handler: ...

    def query(self, kind: type[Query]) -> Handler: ...

    def subscriber(self, name: str) -> Handler:
        """The event handler of the subscription called `name`."""


class EventPublisher(Protocol):
    """Puts envelopes on the domain bus (in-process locally, EventBridge in AWS)."""

    def publish(self, envelopes: Sequence[Envelope]) -> None: ...


class Inbox(Protocol):
    """Remembers which events a subscriber has processed, so redelivery is harmless."""

    def seen(self, subscriber: str, event_id: UUID) -> bool: ...

    def remember(self, subscriber: str, event_id: UUID) -> None: ...


class Dependencies(Protocol):
    producer: str

    @property
    def publisher(self) -> EventPublisher: ...

    @property
    def inbox(self) -> Inbox: ...


Observer = Callable[[Envelope], None]


class MessageBus:
    def __init__(self, handlers: Handlers, dependencies: Dependencies):
        self.handlers = handlers
        self.dependencies = dependencies
        self.observers: list[Observer] = []
        """Called with every envelope published: metrics in Lambda, WebSocket fan-out locally."""

    def execute(self, command: Command, context: MessageContext | None = None) -> Any:
        context = context or MessageContext()
        handler = self.handlers.command(type(command))
        handled = self._call(handler, command, context)
        self._publish(handled.events, context)
        return handled.result

    def ask(self, query: Query, context: MessageContext | None = None) -> Any:
        handler = self.handlers.query(type(query))
        return self._call(handler, query, context or MessageContext())

    def deliver(self, subscriber: str, envelope: Envelope) -> bool:
        """Run one subscriber on one event, at most once per event id. False if it was a repeat."""
        inbox = self.dependencies.inbox
        if inbox.seen(subscriber, envelope.event_id):
            log.info("skipping event %s already processed by %s", envelope.event_id, subscriber)
            return False
        handler = self.handlers.subscriber(subscriber)
        context = MessageContext(
            correlation_id=envelope.correlation_id, causation_id=str(envelope.event_id), envelope=envelope
        )
        handled = self._call(handler, envelope.open(), context)
        self._publish(handled.events if isinstance(handled, Handled) else (), context)
        inbox.remember(subscriber, envelope.event_id)
        return True

    def _publish(self, events: Iterable[Event], context: MessageContext) -> None:
        envelopes = [
            Envelope.wrap(
                event,
                producer=self.dependencies.producer,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
            )
            for event in events
        ]
        if envelopes:
            # Observers first: the in-process publisher runs subscribers synchronously, and their
            # own events must not reach a stream before the event that caused them.
            for envelope in envelopes:
                for observe in self.observers:
                    observe(envelope)
            self.dependencies.publisher.publish(envelopes)

    def _call(self, handler: Handler, message: Any, context: MessageContext) -> Any:
        kwargs = {
            name: context if name == "context" else getattr(self.dependencies, name)
            for name in _dependency_names(handler)
        }
        with correlated(context.correlation_id):  # what the handler logs carries the id
            return handler(message, **kwargs)


_signature_cache: dict[Handler, tuple[str, ...]] = {}


def _dependency_names(handler: Handler) -> tuple[str, ...]:
    names = _signature_cache.get(handler)
    if names is None:
        names = tuple(inspect.signature(handler).parameters)[1:]
        _signature_cache[handler] = names
    return names
