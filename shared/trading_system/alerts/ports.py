"""What Alerts needs from outside: where alerts and their deliveries are kept, and the channels
that carry a delivery to its target (HTTP for URLs and chat webhooks, SNS for e-mail)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from trading_system.alerts.domain import Alert, Attempt, Delivery, Outgoing, Target, Topic


class Alerts(Protocol):
    """Alerts by id, and by the (topic, source) whose events they want."""

    def get(self, alert_id: str) -> Alert | None: ...

    def add(self, alert: Alert) -> None: ...

    def delete(self, alert: Alert) -> None: ...

    def replace(self, alert: Alert) -> None:
        """The alert stored again whole, in one write (its topic and source, which its route is
        filed under, unchanged); ConcurrencyConflict when it was deleted meanwhile."""

    def subscribed(self, topic: Topic, source_id: str) -> list[Alert]: ...

    def list(self) -> list[Alert]: ...


class Deliveries(Protocol):
    """Each alert's deliveries, newest first, and those due for another attempt."""

    def get(self, alert_id: str, delivery_id: str) -> Delivery | None: ...

    def put(self, delivery: Delivery, *, if_absent: bool = False) -> None:
        """With if_absent, raise ConcurrencyConflict when the delivery exists (the same event again)."""

    def of(self, alert_id: str, *, after: str | None = None, limit: int = 100) -> list[Delivery]: ...

    def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Deliveries waiting to be retried whose time has come, earliest first."""

    def any_waiting(self) -> bool:
        """Whether any delivery waits for an attempt, however far off."""

    def discard(self, delivery: Delivery) -> None:
        """One delivery gone, and its place in the retry queue."""

    def drop_all(self, alert_id: str) -> None:
        """An alert's deliveries, gone with it (and its rate limit's counts)."""

    def admit(self, alert_id: str, minute: int, limit: int) -> tuple[bool, int]:
        """Whether the alert may send one more delivery in the minute, counted atomically across
        concurrent invocations, and (the minute's first) how many were throttled before it."""

    def note_throttled(self, alert_id: str, minute: int, delivery_id: str) -> None:
        """Counts a delivery refused by the rate limit (once per delivery), for the next one sent."""


class AlertChannels(Protocol):
    """Carries deliveries to their targets."""

    def refusal(self, target: Target) -> str | None:
        """Why the target cannot be used here (a URL to a private address in a shared deployment,
        e-mail with no topic configured), or None when it can."""

    def register(self, alert_id: str, target: Target, owner: str) -> str | None:
        """Prepares the target for the alert (e-mail: subscribes the address to its owner's
        topic, for this alert's messages only; the address confirms for that owner) and answers
        what `unregister` needs later, if anything."""

    def unregister(self, channel_ref: str | None, target: Target) -> None: ...

    def registered_for(self, channel_ref: str | None, target: Target, owner: str) -> bool:
        """Whether what `register` made (`channel_ref`) is what it makes today for the owner's
        alert: False for an e-mail alert subscribed on the shared topic of old, to be moved."""

    def send(self, outgoing: Outgoing) -> Attempt:
        """One attempt, within the domain's SEND_TIMEOUT_S; never raises for the target's failure."""
