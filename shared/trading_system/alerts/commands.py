"""What Alerts is asked to do."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from trading_system.alerts.domain import RETRY_QUEUE, AlertDraft
from trading_system.kernel.messages import Command

AlertId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
DeliveryId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-f-]+$")]


class CreateAlert(Command):
    draft: AlertDraft


class DeleteAlert(Command):
    alert_id: AlertId


class RetryDelivery(Command):
    """A person asks for one delivery to be sent again now."""

    alert_id: AlertId
    delivery_id: DeliveryId


class RetryDueDeliveries(Command):
    """The retry schedule's (catalog: retry_alert_deliveries): try again every delivery whose
    wait is over. `queue` is the schedule's key in the alerts' timetable (there is one queue)."""

    queue: str = Field(default=RETRY_QUEUE, pattern=f"^{RETRY_QUEUE}$")
    limit: int = Field(default=500, ge=1, le=5_000)


class MoveEmailAlerts(Command):
    """An operator's, once after e-mail moved to one topic per owner: each e-mail alert still
    subscribed on the platform's shared topic is subscribed on its owner's instead (its address
    asked to confirm again, for that owner) and taken off the shared one. The caller's alerts only
    (an admin's: everyone's); alerts already on their owner's topic are left as they are."""
