"""Alerts and their deliveries in the write store (SQLite locally, DynamoDB in AWS).

Five kinds (kernel/kinds.py): each alert; per (topic, source) the ids of the alerts that want its
events, so an event reads one partition, not every alert; per alert its deliveries, keyed newest
first; the retry queue, keyed by the time of the next attempt, so the schedule reads only what is
due; and per alert the deliveries it sent (or throttled) each minute, for its rate limit, in the
slots of adapters/minute_slots.py that webhooks in use too. Writes come in the order that leaves
nothing lost after a crash: a queue entry before its delivery (an entry whose delivery says
otherwise is stale and dropped when read); an alert's route before the alert when adding, and
first when deleting (a route without its alert is skipped).
"""

from __future__ import annotations

from datetime import UTC, datetime

from trading_system.adapters.minute_slots import MinuteSlots
from trading_system.alerts.domain import Alert, Delivery, Topic
from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.kinds import ALERT_DELIVERIES, ALERT_HITS, ALERT_RETRIES, ALERT_ROUTES, ALERTS

_WAITING = ("pending", "retrying")


def _route_kind(topic: Topic, source_id: str) -> str:
    return f"{ALERT_ROUTES}:{topic.value}:{source_id}"


def _deliveries_kind(alert_id: str) -> str:
    return f"{ALERT_DELIVERIES}:{alert_id}"


def _stamp(at: datetime) -> str:
    """Sorts as the time does: fixed width, UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _queue_key(delivery: Delivery) -> str | None:
    if delivery.status not in _WAITING or delivery.next_attempt_at is None:
        return None
    return f"{_stamp(delivery.next_attempt_at)}#{delivery.alert_id}#{delivery.delivery_id}"


class DocumentAlerts:
    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, alert_id: str) -> Alert | None:
        doc = self.store.get(ALERTS, alert_id)
        return Alert.model_validate(doc) if doc else None

    def add(self, alert: Alert) -> None:
        self.store.put(_route_kind(alert.draft.topic, alert.draft.source_id), alert.alert_id, {})
        self.store.put(ALERTS, alert.alert_id, alert.model_dump(mode="json"), if_absent=True)

    def delete(self, alert: Alert) -> None:
        self.store.delete(_route_kind(alert.draft.topic, alert.draft.source_id), alert.alert_id)
        self.store.delete(ALERTS, alert.alert_id)

    def replace(self, alert: Alert) -> None:
        self.store.put(ALERTS, alert.alert_id, alert.model_dump(mode="json"), if_present=True)

    def subscribed(self, topic: Topic, source_id: str) -> list[Alert]:
        ids = [key for key, _ in scan_all(self.store, _route_kind(topic, source_id))]
        found = self.store.get_many(ALERTS, ids) if ids else {}
        return [Alert.model_validate(found[i]) for i in ids if i in found]

    def list(self) -> list[Alert]:
        return [Alert.model_validate(doc) for _, doc in scan_all(self.store, ALERTS)]


class DocumentDeliveries:
    def __init__(self, store: DocumentStore):
        self.store = store
        self.hits = MinuteSlots(store, ALERT_HITS)

    def admit(self, alert_id: str, minute: int, limit: int) -> tuple[bool, int]:
        admission = self.hits.claim(alert_id, minute, limit)
        return admission.admitted, admission.suppressed

    def note_throttled(self, alert_id: str, minute: int, delivery_id: str) -> None:
        self.hits.note_refused(alert_id, minute, delivery_id)

    def get(self, alert_id: str, delivery_id: str) -> Delivery | None:
        doc = self.store.get(_deliveries_kind(alert_id), delivery_id)
        return Delivery.model_validate(doc) if doc else None

    def put(self, delivery: Delivery, *, if_absent: bool = False) -> None:
        before = None if if_absent else self.get(delivery.alert_id, delivery.delivery_id)
        queued = _queue_key(delivery)
        if queued is not None:
            self.store.put(ALERT_RETRIES, queued, {})
        try:
            self.store.put(
                _deliveries_kind(delivery.alert_id),
                delivery.delivery_id,
                delivery.model_dump(mode="json"),
                if_absent=if_absent,
            )
        except ConcurrencyConflict:
            if queued is not None:
                self.store.delete(ALERT_RETRIES, queued)
            raise
        previous = None if before is None else _queue_key(before)
        if previous is not None and previous != queued:
            self.store.delete(ALERT_RETRIES, previous)

    def of(self, alert_id: str, *, after: str | None = None, limit: int = 100) -> list[Delivery]:
        page = self.store.scan(_deliveries_kind(alert_id), after=after, limit=limit)
        return [Delivery.model_validate(doc) for _, doc in page]

    def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        cutoff = _stamp(now)
        found: list[Delivery] = []
        after = None
        while len(found) < limit and (page := self.store.scan(ALERT_RETRIES, after=after, limit=limit)):
            for key, _ in page:
                if key[: len(cutoff)] > cutoff:
                    return found
                delivery = self._queued(key)
                if delivery is None:
                    self.store.delete(ALERT_RETRIES, key)  # stale: its delivery moved on or is gone
                    continue
                found.append(delivery)
                if len(found) == limit:
                    return found
            after = page[-1][0]
        return found

    def any_waiting(self) -> bool:
        return bool(self.due(datetime.max.replace(tzinfo=UTC), limit=1))

    def _queued(self, key: str) -> Delivery | None:
        _, alert_id, delivery_id = key.split("#", 2)
        delivery = self.get(alert_id, delivery_id)
        return delivery if delivery is not None and _queue_key(delivery) == key else None

    def discard(self, delivery: Delivery) -> None:
        queued = _queue_key(delivery)
        if queued is not None:
            self.store.delete(ALERT_RETRIES, queued)
        self.store.delete(_deliveries_kind(delivery.alert_id), delivery.delivery_id)

    def drop_all(self, alert_id: str) -> None:
        while page := self.store.scan(_deliveries_kind(alert_id), limit=500):
            for _, doc in page:
                self.discard(Delivery.model_validate(doc))
        self.hits.purge(alert_id, before=None)
