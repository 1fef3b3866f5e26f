"""Facts Alerts publishes (source `trading.alerts`)."""

from __future__ import annotations

from trading_system.kernel.messages import Event


class AlertsEvent(Event):
    context = "alerts"


class AlertDeliveryFailed(AlertsEvent):
    """A delivery ran out of attempts, or its target refused it for good: it is dead-lettered and
    listed as failed until a person retries it."""

    alert_id: str
    delivery_id: str
    owner: str
    alerted: str  # the type of the event the delivery carried
    attempts: int
    error: str


class AlertRetriesWaiting(AlertsEvent):
    """The retry run removed its schedule, finding nothing waiting, and then found a delivery
    queued meanwhile. The run may only remove its schedule (making one targets the function
    itself), so it asks the sender, which may make it, to start it again."""
