"""The alert store over both write stores (SQLite, DynamoDB on moto): alerts found by the topic and
source they want, deliveries newest first and paged, the retry queue giving only what is due, and
nothing left behind by a deleted alert. Each test gets a table of its own, since the kinds are
fixed names."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.aws_fixtures import unique_name
from trading_system.adapters.alert_store import DocumentAlerts, DocumentDeliveries
from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore, create_table
from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
from trading_system.alerts import domain
from trading_system.alerts.domain import AlertDraft, Attempt, Delivery, Topic
from trading_system.config import Settings
from trading_system.kernel import kinds
from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.messages import Envelope

NOW = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        sqlite = SqliteDocumentStore(tmp_path / "documents.db")
        yield sqlite
        sqlite.close()
        return
    moto_url: str = request.getfixturevalue("moto_url")
    settings = Settings(aws_endpoint_url=moto_url, table_name=unique_name("alerts"))
    dynamodb = DynamoDbDocumentStore.from_settings(settings)
    create_table(dynamodb.client, settings.table_name)
    yield dynamodb


def alert(topic: Topic = Topic.FILLS, source_id: str = "acc1", **target: Any) -> domain.Alert:
    draft = AlertDraft(
        name="n", topic=topic, source_id=source_id, target=target or {"kind": "url", "url": "https://e.com/x"}
    )
    return domain.create(draft, "alice", "k1", NOW)


def delivery(of: domain.Alert, n: int, at: datetime = NOW, **update: Any) -> Delivery:
    envelope = Envelope(
        event_id=UUID(int=n),
        event_type="OrderFilled",
        version=1,
        occurred_at=at,
        correlation_id="c",
        producer="p",
        payload={"account_id": of.draft.source_id},
    )
    return domain.new_delivery(of, envelope).model_copy(update=update)


def test_alerts_are_found_by_the_topic_and_source_they_want(store: DocumentStore) -> None:
    alerts = DocumentAlerts(store)
    a, b = alert(source_id="acc1"), alert(source_id="acc1")
    other_source, other_topic = alert(source_id="acc10"), alert(Topic.REJECTED_ORDERS, "acc1")
    for each in (a, b, other_source, other_topic):
        alerts.add(each)
    assert {x.alert_id for x in alerts.subscribed(Topic.FILLS, "acc1")} == {a.alert_id, b.alert_id}
    assert [x.alert_id for x in alerts.subscribed(Topic.FILLS, "acc10")] == [other_source.alert_id]
    assert alerts.subscribed(Topic.FILLS, "acc") == []
    assert alerts.get(a.alert_id) == a and len(alerts.list()) == 4
    with pytest.raises(ConcurrencyConflict):
        alerts.add(a)

    alerts.delete(a)
    assert alerts.get(a.alert_id) is None
    assert [x.alert_id for x in alerts.subscribed(Topic.FILLS, "acc1")] == [b.alert_id]


def test_an_alert_replaced_is_found_by_its_route_and_a_deleted_one_stays_deleted(
    store: DocumentStore,
) -> None:
    alerts = DocumentAlerts(store)
    a = alert()
    alerts.add(a)
    moved = a.model_copy(update={"channel_ref": "arn:aws:sns:us-east-1:1:t:sub#" + a.alert_id})
    alerts.replace(moved)
    assert alerts.subscribed(Topic.FILLS, "acc1") == [moved] and alerts.get(a.alert_id) == moved
    alerts.delete(moved)
    with pytest.raises(ConcurrencyConflict):
        alerts.replace(moved)
    assert alerts.get(a.alert_id) is None and alerts.list() == []


def test_a_route_left_without_its_alert_is_skipped(store: DocumentStore) -> None:
    alerts = DocumentAlerts(store)
    a = alert()
    alerts.add(a)
    store.delete(kinds.ALERTS, a.alert_id)  # as a crash halfway through a delete leaves it
    assert alerts.subscribed(Topic.FILLS, "acc1") == []


def test_deliveries_are_one_per_event_newest_first_and_paged(store: DocumentStore) -> None:
    deliveries = DocumentDeliveries(store)
    a = alert()
    made = [delivery(a, n, NOW + timedelta(seconds=n)) for n in range(5)]
    for each in made:
        deliveries.put(each, if_absent=True)
    with pytest.raises(ConcurrencyConflict):
        deliveries.put(made[0], if_absent=True)
    first = deliveries.of(a.alert_id, limit=3)
    assert [d.event_id for d in first] == [made[n].event_id for n in (4, 3, 2)]
    rest = deliveries.of(a.alert_id, after=first[-1].delivery_id, limit=3)
    assert [d.event_id for d in rest] == [made[n].event_id for n in (1, 0)]
    assert deliveries.get(a.alert_id, made[2].delivery_id) == made[2]
    assert deliveries.of(alert().alert_id) == []


def test_the_retry_queue_gives_what_is_due_earliest_first(store: DocumentStore) -> None:
    deliveries = DocumentDeliveries(store)
    a = alert()
    late = delivery(a, 1, status="retrying", next_attempt_at=NOW + timedelta(minutes=10))
    soon = delivery(a, 2, status="retrying", next_attempt_at=NOW + timedelta(seconds=30))
    done = delivery(a, 3, status="delivered")
    for each in (late, soon, done):
        deliveries.put(each, if_absent=True)
    assert deliveries.due(NOW) == [] and deliveries.any_waiting()
    assert [d.event_id for d in deliveries.due(NOW + timedelta(minutes=1))] == [soon.event_id]
    assert [d.event_id for d in deliveries.due(NOW + timedelta(hours=1))] == [soon.event_id, late.event_id]
    assert [d.event_id for d in deliveries.due(NOW + timedelta(hours=1), limit=1)] == [soon.event_id]

    # Delivered on its next attempt: out of the queue, and its old entry with it.
    delivered = domain.after_attempt(soon, Attempt(ok=True, status=200), NOW + timedelta(minutes=1))
    deliveries.put(delivered)
    assert [d.event_id for d in deliveries.due(NOW + timedelta(hours=1))] == [late.event_id]
    # Moved later: found at its new time only.
    later = late.model_copy(update={"next_attempt_at": NOW + timedelta(hours=2)})
    deliveries.put(later)
    assert deliveries.due(NOW + timedelta(hours=1)) == []
    assert [d.next_attempt_at for d in deliveries.due(NOW + timedelta(hours=3))] == [later.next_attempt_at]
    assert len(scan_all(store, kinds.ALERT_RETRIES)) == 1


def test_a_stale_queue_entry_is_dropped_when_read(store: DocumentStore) -> None:
    deliveries = DocumentDeliveries(store)
    a = alert()
    waiting = delivery(a, 1, status="retrying", next_attempt_at=NOW)
    deliveries.put(waiting, if_absent=True)
    # A crash between writing a new entry and the delivery leaves the delivery's old time queued
    # beside an entry its delivery does not name.
    store.put(kinds.ALERT_RETRIES, f"2026-12-06T14:00:00.000000Z#{a.alert_id}#{waiting.delivery_id}", {})
    store.put(kinds.ALERT_RETRIES, f"2026-12-06T14:00:01.000000Z#{a.alert_id}#gone", {})
    assert [d.event_id for d in deliveries.due(NOW)] == [waiting.event_id]
    assert len(scan_all(store, kinds.ALERT_RETRIES)) == 1


def test_a_deleted_alerts_deliveries_and_queue_entries_go_with_it(store: DocumentStore) -> None:
    deliveries = DocumentDeliveries(store)
    a, kept = alert(), alert()
    for n in range(3):
        deliveries.put(delivery(a, n, status="retrying", next_attempt_at=NOW), if_absent=True)
    deliveries.put(delivery(kept, 9, status="retrying", next_attempt_at=NOW), if_absent=True)
    deliveries.drop_all(a.alert_id)
    assert deliveries.of(a.alert_id) == []
    assert [d.alert_id for d in deliveries.due(NOW)] == [kept.alert_id]
    deliveries.drop_all(kept.alert_id)
    assert not deliveries.any_waiting()


MINUTE = domain.minute_of(NOW)


def test_an_alerts_rate_limit_admits_its_minutes_allowance_then_counts_the_throttled(
    store: DocumentStore,
) -> None:
    deliveries, a = DocumentDeliveries(store), alert()
    assert [deliveries.admit(a.alert_id, MINUTE, 3) for _ in range(5)] == [
        (True, 0),
        (True, 0),
        (True, 0),
        (False, 0),
        (False, 0),
    ]
    for n in ("d1", "d2", "d2"):  # noted once per delivery, however often
        deliveries.note_throttled(a.alert_id, MINUTE, n)
    assert deliveries.admit(alert().alert_id, MINUTE, 3) == (True, 0)  # another alert's own count
    # The next minute's first says how many were throttled since, and purges the earlier minute.
    assert deliveries.admit(a.alert_id, MINUTE + 1, 3) == (True, 2)
    assert deliveries.admit(a.alert_id, MINUTE + 1, 3) == (True, 0)
    kind = f"{kinds.ALERT_HITS}:{a.alert_id}"
    assert [key for key, _ in scan_all(store, kind)] == [f"{MINUTE + 1:012d}:000", f"{MINUTE + 1:012d}:001"]
    assert deliveries.admit(a.alert_id, MINUTE + 2, 3) == (True, 0)  # nothing throttled since


def test_racing_deliveries_take_each_slot_once(store: DocumentStore) -> None:
    deliveries, a = DocumentDeliveries(store), alert()
    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(lambda _: deliveries.admit(a.alert_id, MINUTE, 10)[0], range(24)))
    assert admitted.count(True) == 10


def test_a_deleted_alerts_rate_counts_go_with_it(store: DocumentStore) -> None:
    deliveries, a = DocumentDeliveries(store), alert()
    deliveries.admit(a.alert_id, MINUTE, 1)
    deliveries.note_throttled(a.alert_id, MINUTE, "d1")
    deliveries.drop_all(a.alert_id)
    assert scan_all(store, f"{kinds.ALERT_HITS}:{a.alert_id}") == []
