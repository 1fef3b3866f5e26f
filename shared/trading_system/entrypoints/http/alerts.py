"""Alerts routes: a trader's alerts and their deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from trading_system.alerts.commands import CreateAlert, DeleteAlert, RetryDelivery
from trading_system.alerts.domain import AlertDraft
from trading_system.alerts.handlers import AlertView, DeliveryPage, DeliveryView, IssuedAlert
from trading_system.alerts.queries import GetAlert, ListAlerts, ListDeliveries
from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route

AlertPath = Annotated[str, like(GetAlert, "alert_id", in_path=True)]


@route(status_code=201)
def create_alert(body: AlertDraft, response: Response, bus: Bus, context: Context) -> IssuedAlert:
    issued: IssuedAlert = bus.execute(CreateAlert(draft=body), context)
    response.headers["Location"] = f"/v1/alerts/{issued.alert_id}"
    return issued


def list_alerts(bus: Bus, context: Context) -> list[AlertView]:
    found: list[AlertView] = bus.ask(ListAlerts(), context)
    return found


def get_alert(alert_id: AlertPath, bus: Bus, context: Context) -> AlertView:
    found: AlertView = bus.ask(GetAlert(alert_id=alert_id), context)
    return found


@route(status_code=204)
def delete_alert(alert_id: AlertPath, bus: Bus, context: Context) -> Response:
    bus.execute(DeleteAlert(alert_id=alert_id), context)
    return Response(status_code=204)


def list_alert_deliveries(
    alert_id: AlertPath,
    bus: Bus,
    context: Context,
    after: str | None = like(ListDeliveries, "after"),
    limit: int = like(ListDeliveries, "limit"),
) -> DeliveryPage:
    page: DeliveryPage = bus.ask(ListDeliveries(alert_id=alert_id, after=after, limit=limit), context)
    return page


def retry_alert_delivery(
    alert_id: AlertPath,
    delivery_id: Annotated[str, like(RetryDelivery, "delivery_id", in_path=True)],
    bus: Bus,
    context: Context,
) -> DeliveryView:
    view: DeliveryView = bus.execute(RetryDelivery(alert_id=alert_id, delivery_id=delivery_id), context)
    return view
