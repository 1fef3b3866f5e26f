"""The EventPublisher contract: the in-process bus and EventBridge deliver the same envelopes.

EventBridge runs on moto's server on loopback, with a rule routing every `trading.*` source to an
SQS queue the test drains, the way a real subscription (rule -> target) sees the events. The
per-entry failure handling of PutEvents, which moto never exercises, is tested against a fake
client; the in-process bus's retries and dead letters are tested against a failing subscriber.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.aws.eventbridge import (
    MAX_ENTRIES,
    EventBridgePublisher,
    EventPublishError,
    envelope_from_eventbridge,
)
from trading_system.adapters.deliveries import DocumentDeadLetters
from trading_system.adapters.local.inprocess_bus import InProcessPublisher
from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
from trading_system.config import Settings
from trading_system.kernel.bus import EventPublisher
from trading_system.kernel.messages import Envelope
from trading_system.market_data.domain import Timeframe
from trading_system.market_data.events import BarsIngested, SymbolRange, SymbolRegistered

RECEIVE_TIMEOUT_S = 10.0


def registered(n: int, correlation_id: str = "c1") -> Envelope:
    event = SymbolRegistered(symbol=f"SYM{n}", asset_class="us_equity", tags=["t", str(n)])
    return Envelope.wrap(event, producer="test", correlation_id=correlation_id)


def ingested() -> Envelope:
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    end = datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
    event = BarsIngested(
        ingest_id="ing-1",
        timeframe=Timeframe.M1,
        rows=391,
        start=start,
        end=end,
        symbols=[SymbolRange(symbol="AAPL", first=start, last=end, rows=391)],
        source="upload.csv",
    )
    return Envelope.wrap(event, producer="test", correlation_id="c1", causation_id=str(uuid.uuid4()))


@dataclass
class Harness:
    """A publisher and a probe that returns what a subscriber received."""

    publisher: EventPublisher
    receive: Callable[[int], list[Envelope]]  # waits (bounded) for n envelopes, returns all that came
    raw: list[dict[str, Any]] = field(default_factory=list)  # the EventBridge events, when on AWS


def in_process_harness(tmp_path: Path) -> Harness:
    received: list[Envelope] = []

    def deliver(subscriber: str, envelope: Envelope) -> None:
        assert subscriber == "probe"
        received.append(envelope)

    publisher = InProcessPublisher(
        routes={"SymbolRegistered": ["probe"], "BarsIngested": ["probe"]},
        deliver=deliver,
        dead_letters=DocumentDeadLetters(SqliteDocumentStore(tmp_path / "dead.db")),
    )
    return Harness(publisher, lambda n: list(received))


def eventbridge_harness(moto_url: str) -> Harness:
    bus = unique_name("bus")
    events = boto_client("events", moto_url)
    sqs = boto_client("sqs", moto_url)
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=unique_name("probe"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all-trading-events",
        EventBusName=bus,
        EventPattern=json.dumps({"source": [{"prefix": "trading."}]}),
    )
    events.put_targets(
        Rule="all-trading-events", EventBusName=bus, Targets=[{"Id": "probe", "Arn": queue_arn}]
    )
    publisher = EventBridgePublisher.from_settings(Settings(aws_endpoint_url=moto_url, event_bus_name=bus))
    harness = Harness(publisher, lambda n: [])

    def receive(n: int) -> list[Envelope]:
        """Drain the queue until n envelopes came (or the deadline passed), then once more, so a
        duplicate delivery would show up."""
        envelopes: list[Envelope] = []
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        drained_after_n = False
        while time.monotonic() < deadline and not drained_after_n:
            drained_after_n = len(envelopes) >= n
            response = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0 if drained_after_n else 1,
            )
            for message in response.get("Messages", []):
                event = json.loads(message["Body"])
                harness.raw.append(event)
                envelopes.append(envelope_from_eventbridge(event))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if response.get("Messages"):
                drained_after_n = False  # keep draining while messages keep coming
        return envelopes

    harness.receive = receive
    return harness


@pytest.fixture(params=["inprocess", "eventbridge"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "inprocess":
        return in_process_harness(tmp_path)
    return eventbridge_harness(request.getfixturevalue("moto_url"))


def test_every_event_arrives_exactly_once_with_its_envelope(harness: Harness) -> None:
    sent = [registered(n) for n in range(22)] + [ingested()]  # 23: more than two PutEvents calls

    harness.publisher.publish(sent)
    received = harness.receive(len(sent))

    assert len(received) == len(sent)
    assert sorted(str(e.event_id) for e in received) == sorted(str(e.event_id) for e in sent)
    by_id = {e.event_id: e for e in received}
    for envelope in sent:
        got = by_id[envelope.event_id]
        assert got.payload == envelope.payload
        assert got.correlation_id == envelope.correlation_id == "c1"
        assert got.causation_id == envelope.causation_id
        assert got == envelope  # every field, occurred_at included
        assert got.open() == envelope.open()


def test_separate_publishes_each_arrive(harness: Harness) -> None:
    first, second = registered(1, "first"), registered(2, "second")

    harness.publisher.publish([first])
    harness.publisher.publish([second])

    assert sorted(harness.receive(2), key=lambda e: e.correlation_id) == [first, second]


def test_publishing_nothing_delivers_nothing(harness: Harness) -> None:
    harness.publisher.publish([])
    assert harness.receive(0) == []


def test_eventbridge_events_carry_the_context_source_and_the_event_type(moto_url: str) -> None:
    harness = eventbridge_harness(moto_url)
    sent = [registered(1), ingested()]

    harness.publisher.publish(sent)
    harness.receive(len(sent))

    by_id = {e["detail"]["event_id"]: e for e in harness.raw}
    assert len(by_id) == 2
    for envelope in sent:
        event = by_id[str(envelope.event_id)]
        assert event["source"] == "trading.market_data"
        assert event["detail-type"] == envelope.event_type
        assert event["detail"] == json.loads(envelope.model_dump_json())


# --- EventBridge's per-entry failures, against a fake client --------------------------------


class FakeEvents:
    """Answers PutEvents like EventBridge: failures reported per entry, nothing raised.

    `fail(call_number, entry)` says whether an entry fails on that call, and with which code.
    """

    def __init__(self, fail: Callable[[int, dict[str, str]], str | None]) -> None:
        self.fail = fail
        self.calls: list[list[dict[str, str]]] = []

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        assert len(Entries) <= MAX_ENTRIES
        self.calls.append(Entries)
        results: list[dict[str, str]] = []
        for entry in Entries:
            code = self.fail(len(self.calls), entry)
            results.append({"ErrorCode": code, "ErrorMessage": "try later"} if code else {"EventId": "x"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}

    def ids(self, call: int) -> list[str]:
        return [json.loads(entry["Detail"])["event_id"] for entry in self.calls[call]]


def fake_publisher(client: FakeEvents, attempts: int = 4) -> tuple[EventBridgePublisher, list[float]]:
    sleeps: list[float] = []
    return EventBridgePublisher(client, "bus", attempts=attempts, backoff_s=0.01, sleep=sleeps.append), sleeps


def test_only_the_failed_entries_are_sent_again() -> None:
    sent = [registered(n) for n in range(12)]
    flaky = {str(sent[1].event_id), str(sent[3].event_id), str(sent[11].event_id)}

    def fail(call: int, entry: dict[str, str]) -> str | None:
        event_id = json.loads(entry["Detail"])["event_id"]
        return "ThrottlingException" if call in (1, 3) and event_id in flaky else None

    client = FakeEvents(fail)
    publisher, sleeps = fake_publisher(client)

    publisher.publish(sent)

    assert client.ids(0) == [str(e.event_id) for e in sent[:10]]
    assert client.ids(1) == [str(sent[1].event_id), str(sent[3].event_id)]  # only the two that failed
    assert client.ids(2) == [str(e.event_id) for e in sent[10:]]
    assert client.ids(3) == [str(sent[11].event_id)]
    assert len(client.calls) == 4
    assert sleeps == [0.01, 0.01]


def test_entries_name_the_bus_the_source_and_the_event_type() -> None:
    client = FakeEvents(lambda call, entry: None)
    publisher, _ = fake_publisher(client)
    envelope = ingested()

    publisher.publish([envelope])

    assert client.calls == [
        [
            {
                "Source": "trading.market_data",
                "DetailType": "BarsIngested",
                "Detail": envelope.model_dump_json(),
                "EventBusName": "bus",
            }
        ]
    ]


def test_entries_that_keep_failing_raise_an_error_naming_them_after_bounded_attempts() -> None:
    sent = [registered(n) for n in range(15)]
    doomed = {str(sent[2].event_id), str(sent[13].event_id)}
    client = FakeEvents(
        lambda call, entry: "InternalFailure" if json.loads(entry["Detail"])["event_id"] in doomed else None
    )
    publisher, sleeps = fake_publisher(client, attempts=3)

    with pytest.raises(EventPublishError) as raised:
        publisher.publish(sent)

    message = str(raised.value)
    assert all(event_id in message for event_id in doomed)
    assert "InternalFailure" in message
    assert "'bus'" in message
    assert {str(i) for i in raised.value.event_ids} == doomed
    # each chunk: the first call, then two resends of its one doomed entry; nothing more
    assert [len(c) for c in client.calls] == [10, 1, 1, 5, 1, 1]
    assert sleeps == [0.01, 0.02, 0.01, 0.02]  # exponential backoff, no sleep after the last try
    sent_ids = [i for n in range(len(client.calls)) for i in client.ids(n)]
    assert all(sent_ids.count(str(e.event_id)) == 1 for e in sent if str(e.event_id) not in doomed)


def test_permanent_entry_errors_are_not_retried() -> None:
    sent = [registered(n) for n in range(3)]
    bad = str(sent[1].event_id)
    client = FakeEvents(lambda call, entry: "MalformedDetail" if bad in entry["Detail"] else None)
    publisher, sleeps = fake_publisher(client)

    with pytest.raises(EventPublishError, match=f"{bad} \\(MalformedDetail"):
        publisher.publish(sent)

    assert len(client.calls) == 1
    assert sleeps == []


def test_a_failing_call_still_lets_the_other_chunks_through() -> None:
    from botocore.exceptions import ClientError

    sent = [registered(n) for n in range(12)]

    class Failing(FakeEvents):
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
            if not self.calls:
                self.calls.append(Entries)
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents")
            return super().put_events(Entries)

    client = Failing(lambda call, entry: None)
    publisher, _ = fake_publisher(client)

    with pytest.raises(EventPublishError) as raised:
        publisher.publish(sent)

    assert raised.value.event_ids == [e.event_id for e in sent[:10]]
    assert "AccessDeniedException" in str(raised.value)
    assert client.ids(1) == [str(e.event_id) for e in sent[10:]]


def test_large_events_are_split_to_stay_under_the_request_size_limit() -> None:
    client = FakeEvents(lambda call, entry: None)
    publisher, _ = fake_publisher(client)
    big = [
        Envelope.wrap(
            SymbolRegistered(symbol=f"S{n}", asset_class="x", tags=["y" * 60_000]),
            producer="test",
            correlation_id="c1",
        )
        for n in range(6)
    ]

    publisher.publish(big)

    assert [len(c) for c in client.calls] == [4, 2]  # 4 x ~60 KB fit in 256 KB, 5 would not


def test_envelope_from_eventbridge_reads_the_detail_back() -> None:
    envelope = ingested()
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "BarsIngested",
        "source": "trading.market_data",
        "account": "123456789012",
        "time": "2024-01-02T21:00:01Z",
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(envelope.model_dump_json()),
    }

    assert envelope_from_eventbridge(event) == envelope
    assert envelope_from_eventbridge({**event, "detail": envelope.model_dump_json()}) == envelope
    with pytest.raises(ValueError, match="does not match"):
        envelope_from_eventbridge({**event, "detail-type": "SymbolRegistered"})


# --- the in-process bus's retries and dead letters -------------------------------------------


@pytest.fixture
def dead_letters(tmp_path: Path) -> Iterator[DocumentDeadLetters]:
    store = SqliteDocumentStore(tmp_path / "dead.db")
    yield DocumentDeadLetters(store)
    store.close()


def test_a_subscriber_that_keeps_failing_ends_in_the_dead_letters(dead_letters: DocumentDeadLetters) -> None:
    calls: list[tuple[str, Envelope]] = []

    def deliver(subscriber: str, envelope: Envelope) -> None:
        calls.append((subscriber, envelope))
        if subscriber == "broken":
            raise RuntimeError("boom")

    publisher = InProcessPublisher(
        routes={"SymbolRegistered": ["first", "broken", "last"]},
        deliver=deliver,
        dead_letters=dead_letters,
        attempts=3,
        backoff_s=0,
    )
    told: list[tuple[str, Envelope]] = []  # what /metrics counts locally
    publisher.dead_letter_listeners.append(lambda subscriber, letter: told.append((subscriber, letter)))
    envelope = registered(1)

    publisher.publish([envelope])

    assert [s for s, _ in calls] == ["first", "broken", "broken", "broken", "last"]
    assert all(e == envelope for _, e in calls)
    [letter] = dead_letters.list()
    assert letter.subscriber == "broken"
    assert letter.envelope == envelope
    assert letter.attempts == 3
    assert "boom" in letter.error
    assert told == [("broken", envelope)]


def test_a_subscriber_that_recovers_within_its_attempts_leaves_no_dead_letter(
    dead_letters: DocumentDeadLetters,
) -> None:
    failures = iter([RuntimeError("once"), RuntimeError("twice")])
    delivered: list[Envelope] = []

    def deliver(subscriber: str, envelope: Envelope) -> None:
        error = next(failures, None)
        if error:
            raise error
        delivered.append(envelope)

    publisher = InProcessPublisher(
        routes={"SymbolRegistered": ["flaky"]}, deliver=deliver, dead_letters=dead_letters, backoff_s=0
    )
    envelope = registered(1)

    publisher.publish([envelope])

    assert delivered == [envelope]
    assert dead_letters.list() == []
