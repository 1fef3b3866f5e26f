"""Receiving webhooks' alerts (strategies/webhooks.py holds the rules, webhooking.py the
webhooks themselves): an alert becomes an order through Trading's own PlaceOrder, or a signal
through Scanning's own RaiseSignal. Its own handler table (bootstrap.TABLES_APART): only the
public alert route loads what placing an order or raising a signal imports.

Receiving checks, in this order, and writes nothing until all of them pass: the secret (a 401
that says nothing more), the signature of a signed webhook (the same 401), the webhook's rate (a
429 with Retry-After), the payload and its mapping to an order or a signal (a 422 naming the
payload's field). A re-sent alert maps to the same client_order_id, so Trading answers with the
order it already placed; or to the same scanner, symbol and bar, so Scanning raises no second
signal.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from trading_system.kernel.bus import Handled, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import Problem, RateLimited, Unauthorized, ValidationFailed
from trading_system.kernel.messages import Command
from trading_system.kernel.principal import Principal, Role
from trading_system.scanning.commands import RaiseSignal
from trading_system.scanning.domain import ExternalSignal, RaisedSignal
from trading_system.strategies import webhooks as domain
from trading_system.strategies.webhooking import WebhookId, Webhooks
from trading_system.strategies.webhooks import Webhook
from trading_system.trading.commands import PlaceOrder
from trading_system.trading.orders import Order, OrderRequest

log = logging.getLogger(__name__)


class ReceiveWebhook(Command):
    """An inbound alert as it came: the raw body (a signature covers its bytes), the secret from
    the query string if it was there, and the signature headers if any."""

    webhook_id: WebhookId
    body: bytes = Field(max_length=1_000_000)
    secret: str | None = Field(default=None, max_length=200)
    timestamp: str | None = Field(default=None, max_length=32)
    signature: str | None = Field(default=None, max_length=200)


class WebhookReceipt(BaseModel):
    webhook_id: str
    order: Order | None = Field(default=None, description="an order webhook's order")
    signal: RaisedSignal | None = Field(default=None, description="a signal webhook's signal")
    replayed: bool = Field(
        description="the alert was received before: this is the order it placed, or the signal it raised"
    )


def receive_webhook(
    cmd: ReceiveWebhook, webhooks: Webhooks, bus: MessageBus, clock: Clock, context: MessageContext
) -> Handled[WebhookReceipt]:
    webhook = webhooks.get(cmd.webhook_id)
    payload = domain.parse_payload(cmd.body)
    secret = cmd.secret
    if secret is None and payload is not None and isinstance(payload.get(domain.SECRET_FIELD), str):
        secret = payload[domain.SECRET_FIELD]
    if not domain.verifies(webhook, secret):
        raise Unauthorized(domain.REFUSED)
    assert webhook is not None  # verifies() holds only for a webhook that exists
    if webhook.signing_key is not None:
        why = domain.signature_problem(
            webhook.signing_key, cmd.timestamp, cmd.signature, cmd.body, clock.now()
        )
        if why is not None:
            log.warning("webhook %s refused: %s", webhook.webhook_id, why)  # the caller learns no more
            raise Unauthorized(domain.REFUSED)
    # Counted once the caller is known to hold the secret: a stranger cannot spend the allowance.
    now = clock.now()
    if not webhooks.admit(webhook.webhook_id, domain.minute_of(now), webhook.draft.rate_limit):
        raise RateLimited(
            f"webhook {webhook.webhook_id} takes {webhook.draft.rate_limit} alerts a minute: "
            "this one was not acted on, send it again after Retry-After",
            domain.retry_after_s(now),
        )
    if payload is None:
        reason = "the body is not a JSON object"
        raise ValidationFailed(reason, [Problem(reason, field="body")])
    # The secret is no field to map: a template naming it would copy it into the order's records.
    payload = {k: v for k, v in payload.items() if k != domain.SECRET_FIELD}
    # What the alert does is the webhook's doing: its own principal in the audit trail, acting
    # for its owner, so that an account or scanner the owner does not (or no longer does) own is
    # refused.
    acting = MessageContext(
        principal=Principal(key_id=f"webhook:{webhook.webhook_id}", role=Role.TRADER, user=webhook.owner),
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
    )
    if webhook.draft.signal is not None:
        return Handled(_raise_signal(webhook, payload, bus, acting))
    fields = domain.order_fields(webhook, payload)
    client_order_id = webhook.client_order_id(domain.idempotency_key(webhook, payload))
    request = _order_request(webhook, fields, client_order_id)
    placed = bus.execute(PlaceOrder(request=request), acting)
    order: Order = placed.order
    return Handled(WebhookReceipt(webhook_id=webhook.webhook_id, order=order, replayed=placed.replayed))


def _raise_signal(
    webhook: Webhook, payload: dict[str, Any], bus: MessageBus, acting: MessageContext
) -> WebhookReceipt:
    template, scanner_id = webhook.draft.signal, webhook.draft.scanner_id
    assert template is not None and scanner_id is not None  # a signal webhook's draft has both
    fields = domain.signal_fields(webhook, payload)
    try:
        signal = ExternalSignal(symbol=fields.symbol, ts=fields.ts, values=fields.values)
    except ValidationError as error:
        sources = functools.partial(domain.source_of_signal, template)
        raise _mapping_failed("signal", _problems(error, sources)) from None
    try:
        raised: RaisedSignal = bus.execute(RaiseSignal(scanner_id=scanner_id, signal=signal), acting)
    except ValidationFailed as error:
        # Scanning names its own fields (a symbol it does not know, a moment in the future): name
        # the payload's field each came from instead, which is the one a sender can fix.
        problems = [
            replace(p, field=domain.source_of_signal(template, p.field)) if p.field in ("symbol", "ts") else p
            for p in error.problems
        ]
        raise ValidationFailed(error.detail, problems) from None
    return WebhookReceipt(webhook_id=webhook.webhook_id, signal=raised, replayed=not raised.new)


def _order_request(webhook: Webhook, fields: dict[str, Any], client_order_id: str) -> OrderRequest:
    """The order, checked here so that a 422 names the payload's field each order field came from
    (Trading checks it again, with the symbol's quantity step)."""
    try:
        request = OrderRequest(**fields, account_id=webhook.draft.account_id, client_order_id=client_order_id)
    except ValidationError as error:
        raise _mapping_failed(
            "order", _problems(error, functools.partial(domain.source_of, webhook))
        ) from None
    found = request.problems()
    if found:
        raise _mapping_failed(
            "order",
            [
                Problem(
                    f"{p.field}: {p.reason}", field=domain.source_of(webhook, p.field or ""), value=p.value
                )
                for p in found
            ],
        )
    return request


def _problems(error: ValidationError, source: Callable[[str], str]) -> list[Problem]:
    """What a model refused of the mapped fields, each at the payload's field it came from."""
    return [
        Problem(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}",
            field=source(str(e["loc"][0])) if e["loc"] else "body",
            value=e.get("input"),
        )
        for e in error.errors(include_url=False)
    ]


def _mapping_failed(what: str, problems: list[Problem]) -> ValidationFailed:
    return ValidationFailed(f"the alert does not map to a valid {what}: {problems[0].reason}", problems)


HANDLERS = HandlerTable(commands={ReceiveWebhook: receive_webhook})
