"""Webhooks routes: managing webhooks (a trader's), and the public route their alerts come in on.

The catalog files them under Strategies (the context that owns webhooks), so the routes look for
the endpoints in entrypoints/http/strategies.py, which imports this module when asked for one
(`routes.kept_apart`).
"""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from trading_system.entrypoints.http.dependencies import CORRELATION_HEADER, Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.principal import Principal, Role
from trading_system.strategies.webhooking import (
    CreateWebhook,
    DeleteWebhook,
    IssuedWebhook,
    ListWebhooks,
    ReceiveWebhook,
    WebhookReceipt,
    WebhookView,
)
from trading_system.strategies.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookDraft

# Who a request on the public route is until its webhook's secret is checked: no one.
_ANONYMOUS = Principal(key_id="anonymous", role=Role.VIEWER)

_ALERT_BODY = {
    "requestBody": {
        "description": "the alert: a JSON object whose fields the webhook's template names; the "
        "secret may be its `secret` field instead of the query string (TradingView sets no headers)",
        "required": False,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    "parameters": [
        {
            "name": TIMESTAMP_HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "a signed webhook's Unix seconds, within 5 minutes of now",
        },
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "a signed webhook's `sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>'>`",
        },
    ],
}


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


@route(status_code=201, openapi_extra=_ALERT_BODY)
async def receive_webhook(
    webhook_id: Annotated[str, like(ReceiveWebhook, "webhook_id", in_path=True)],
    request: Request,
    response: Response,
    bus: Bus,
    secret: Annotated[str | None, Query(max_length=200, description="the webhook's secret")] = None,
) -> WebhookReceipt:
    # The raw bytes, as a signature covers them; the route reads them within the JSON body limit.
    body = await request.body()
    correlation_id = getattr(request.state, "correlation_id", None) or request.headers.get(
        CORRELATION_HEADER, str(uuid4())
    )
    command = ReceiveWebhook(
        webhook_id=webhook_id,
        body=body,
        secret=secret,
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        signature=request.headers.get(SIGNATURE_HEADER),
    )
    context = MessageContext(principal=_ANONYMOUS, correlation_id=correlation_id)
    # The handler places an order (blocking I/O): off the event loop, as sync endpoints run.
    receipt: WebhookReceipt = await run_in_threadpool(bus.execute, command, context)
    if receipt.order is not None:
        response.headers["Location"] = f"/v1/orders/{receipt.order.id}"
    return receipt
