"""Commands, queries, domain events and the envelope every event travels in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from trading_system.kernel.errors import ValidationFailed


class Message(BaseModel):
    # defer_build: pydantic builds a message's validator and serializer on first use, not when the
    # class is defined, so a Lambda pays only for the messages it handles, not every one it imports.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Command(Message):
    """An intent to change state; exactly one handler."""

    # Built when defined after all: commands are request bodies, and FastAPI builds a body's type
    # adapter with pydantic's UnsupportedFieldAttributeWarning silenced (the body field is aliased
    # to its name); for a deferred command that adapter is built on first use instead, outside
    # that, and the warning leaks. Deferring them would save under 1 ms per context.
    model_config = ConfigDict(defer_build=False)


class Query(Message):
    """A question about state; exactly one handler, no side effects."""


class Event(Message):
    """A fact that happened; any number of subscribers.

    Subclasses name their context (the EventBridge source is `trading.<context>`) and version.
    Each context has one base class named `<Context>Event`; the concrete events derive from it
    and are registered by name so envelopes can be opened.
    """

    context: ClassVar[str]
    version: ClassVar[int] = 1
    published: ClassVar[bool] = True  # False: kept in an event stream, never put on the bus
    registry: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.endswith("Event"):
            Event.registry[cls.__name__] = cls

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @classmethod
    def bus_source(cls) -> str:
        """The EventBridge `source` of this event type."""
        return f"trading.{cls.context}"


class Envelope(BaseModel):
    """What goes on the bus: the event plus the metadata to trace and deduplicate it."""

    # Built on first use, as messages are: every function imports this module, but only those
    # that publish or receive events (no read, no health check) ever make or open an envelope.
    model_config = ConfigDict(frozen=True, defer_build=True)

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    version: int
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str
    causation_id: str | None = None
    producer: str
    payload: dict[str, Any]
    # The event once opened, with the payload it was opened from (a copy with another payload
    # opens its own): the in-process bus hands one envelope to each of its subscribers in turn
    # (an end of day's BarsIngested, 5,000 symbol ranges, to three of them).
    _opened: tuple[dict[str, Any], Event] | None = PrivateAttr(default=None)

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        producer: str,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Envelope:
        return cls(
            event_type=event.event_type(),
            version=event.version,
            correlation_id=correlation_id,
            causation_id=causation_id,
            producer=producer,
            payload=event.model_dump(mode="json"),
        )

    @property
    def bus_source(self) -> str:
        return event_class(self.event_type).bus_source()

    def open(self) -> Event:
        """The typed event inside; a payload that does not match its schema is an error."""
        if self._opened is None or self._opened[0] is not self.payload:
            self._opened = (self.payload, event_class(self.event_type).model_validate(self.payload))
        return self._opened[1]


def event_class(event_type: str) -> type[Event]:
    try:
        return Event.registry[event_type]
    except KeyError:
        raise ValidationFailed(f"unknown event type {event_type!r}") from None
