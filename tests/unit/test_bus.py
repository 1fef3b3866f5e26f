"""The message bus: dispatch, dependency injection by name, envelopes, idempotent delivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import pytest

from trading_system.kernel.bus import Handled, Handler, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.messages import Command, Envelope, Event, Query
from trading_system.kernel.principal import Principal, Role


class Greet(Command):
    name: str


class CountGreetings(Query):
    pass


class Greeted(Event):
    context = "test"
    name: str


@dataclass
class Deps:
    producer: str = "test"
    greetings: list[str] = field(default_factory=list)
    published: list[Envelope] = field(default_factory=list)
    processed: set[tuple[str, UUID]] = field(default_factory=set)
    bus: MessageBus | None = None

    @property
    def publisher(self) -> Deps:
        return self

    @property
    def inbox(self) -> Deps:
        return self

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        self.published += envelopes
        assert self.bus is not None
        for envelope in envelopes:
            self.bus.deliver("record", envelope)

    def seen(self, subscriber: str, event_id: UUID) -> bool:
        return (subscriber, event_id) in self.processed

    def remember(self, subscriber: str, event_id: UUID) -> None:
        self.processed.add((subscriber, event_id))


def greet(cmd: Greet, greetings: list[str], context: MessageContext) -> Handled[str]:
    return Handled(f"hello {cmd.name} from {context.principal.key_id}", (Greeted(name=cmd.name),))


def count(query: CountGreetings, greetings: list[str]) -> int:
    return len(greetings)


def record(event: Greeted, greetings: list[str]) -> None:
    greetings.append(event.name)


class GreetingHandlers(HandlerTable):
    """The bus finds event handlers by subscription name (the catalog's, in the application)."""

    def subscriber(self, name: str) -> Handler:
        return {"record": record}[name]


@pytest.fixture
def deps() -> Deps:
    deps = Deps()
    deps.bus = MessageBus(GreetingHandlers(commands={Greet: greet}, queries={CountGreetings: count}), deps)  # type: ignore[arg-type]
    return deps


def test_a_command_runs_its_handler_with_named_dependencies(deps: Deps) -> None:
    assert deps.bus is not None
    context = MessageContext(principal=Principal("k1", Role.TRADER), correlation_id="corr-1")
    assert deps.bus.execute(Greet(name="ada"), context) == "hello ada from k1"
    assert deps.greetings == ["ada"]
    assert deps.bus.ask(CountGreetings()) == 1


def test_raised_events_travel_in_envelopes_that_keep_the_correlation(deps: Deps) -> None:
    assert deps.bus is not None
    deps.bus.execute(Greet(name="ada"), MessageContext(correlation_id="corr-1"))
    (envelope,) = deps.published
    assert envelope.event_type == "Greeted"
    assert envelope.correlation_id == "corr-1"
    assert envelope.producer == "test"
    assert envelope.bus_source == "trading.test"
    assert envelope.open() == Greeted(name="ada")


def test_redelivering_an_event_does_nothing(deps: Deps) -> None:
    assert deps.bus is not None
    deps.bus.execute(Greet(name="ada"))
    envelope = deps.published[0]
    assert deps.bus.deliver("record", envelope) is False
    assert deps.greetings == ["ada"]


def test_observers_see_every_published_envelope(deps: Deps) -> None:
    assert deps.bus is not None
    seen: list[str] = []
    deps.bus.observers.append(lambda envelope: seen.append(envelope.event_type))
    deps.bus.execute(Greet(name="ada"))
    assert seen == ["Greeted"]


def test_an_envelope_with_an_unknown_type_cannot_be_opened() -> None:
    envelope = Envelope(event_type="Nope", version=1, correlation_id="c", producer="p", payload={})
    with pytest.raises(Exception, match="unknown event type 'Nope'"):
        envelope.open()


def test_an_envelope_opens_once_for_all_its_subscribers_and_a_copy_opens_its_own() -> None:
    """The in-process bus hands one envelope to each subscriber in turn: its payload is validated
    once. A copy with another payload opens that payload, never the first one's event."""
    envelope = Envelope.wrap(Greeted(name="ada"), producer="p", correlation_id="c")
    first = envelope.open()
    assert envelope.open() is first
    assert first == Greeted(name="ada")
    renamed = envelope.model_copy(update={"payload": {"name": "grace"}})
    assert renamed.open() == Greeted(name="grace")
    assert envelope.open() is first


def test_envelopes_round_trip_through_json() -> None:
    envelope = Envelope.wrap(Greeted(name="ada"), producer="p", correlation_id="c", causation_id="x")
    assert Envelope.model_validate_json(envelope.model_dump_json()) == envelope
