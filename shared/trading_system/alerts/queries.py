"""What Alerts answers."""

from __future__ import annotations

from pydantic import Field

from trading_system.alerts.commands import AlertId, DeliveryId
from trading_system.kernel.messages import Query


class ListAlerts(Query):
    pass


class GetAlert(Query):
    alert_id: AlertId


class ListDeliveries(Query):
    alert_id: AlertId
    after: DeliveryId | None = Field(default=None, description="the last delivery of the previous page")
    limit: int = Field(default=100, ge=1, le=500)
