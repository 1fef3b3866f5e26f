"""The public route webhooks' alerts come in on (managing webhooks is webhooks.py). Filed under
Strategies in the catalog, as the webhooks are: entrypoints/http/strategies.py imports this
module when asked for its endpoint (`routes.kept_apart`).
"""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from trading_system.entrypoints.http.dependencies import CORRELATION_HEADER, Bus
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.principal import Principal, Role
from trading_system.strategies.webhook_alerts import ReceiveWebhook, WebhookReceipt
from trading_system.strategies.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER

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
