"""Webhooks routes: managing webhooks (a trader's); the public route their alerts come in on is
webhook_alerts.py, so that these load none of what placing an order or raising a signal imports.

The catalog files them under Strategies (the context that owns webhooks), so the routes look for
the endpoints in entrypoints/http/strategies.py, which imports this module when asked for one
(`routes.kept_apart`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route
from trading_system.strategies.webhooking import (
    CreateWebhook,
    DeleteWebhook,
    IssuedWebhook,
    ListWebhooks,
    WebhookView,
)
from trading_system.strategies.webhooks import WebhookDraft


@route(status_code=201)
def create_webhook(body: WebhookDraft, response: Response, bus: Bus, context: Context) -> IssuedWebhook:
    issued: IssuedWebhook = bus.execute(CreateWebhook(draft=body), context)
    response.headers["Location"] = f"/v1/webhooks/{issued.webhook_id}"
    return issued


def list_webhooks(bus: Bus, context: Context) -> list[WebhookView]:
    found: list[WebhookView] = bus.ask(ListWebhooks(), context)
    return found


@route(status_code=204)
def delete_webhook(
    webhook_id: Annotated[str, like(DeleteWebhook, "webhook_id", in_path=True)], bus: Bus, context: Context
) -> Response:
    bus.execute(DeleteWebhook(webhook_id=webhook_id), context)
    return Response(status_code=204)
