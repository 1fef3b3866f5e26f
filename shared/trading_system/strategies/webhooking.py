"""Creating, listing and deleting webhooks, and receiving their alerts (strategies/webhooks.py).

Webhooks live in Strategies because, like a live deployment, a webhook turns something outside
Trading into orders through Trading's own PlaceOrder (risk checks, idempotency, audit trail);
Identity owns the way secrets are hashed, which webhooks reuse.

Receiving checks, in this order, and writes nothing until all of them pass: the secret (a 401
that says nothing more), the signature of a signed webhook (the same 401), the payload and its
mapping to an order (a 422 naming the payload's field). A re-sent alert maps to the same
client_order_id, so Trading answers with the order it already placed.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from trading_system.kernel.bus import Handled, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import NotFound, Problem, Unauthorized, ValidationFailed
from trading_system.kernel.messages import Command, Query
from trading_system.kernel.principal import Principal, Role, require_visible
from trading_system.strategies import webhooks as domain
from trading_system.strategies.webhooks import Webhook, WebhookDraft
from trading_system.trading.commands import PlaceOrder
from trading_system.trading.orders import Order, OrderRequest
from trading_system.trading.queries import GetAccount

log = logging.getLogger(__name__)

WebhookId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Webhooks(Protocol):
    """Webhooks in the write store, by id."""

    def get(self, webhook_id: str) -> Webhook | None: ...

    def add(self, webhook: Webhook) -> None: ...

    def delete(self, webhook_id: str) -> None: ...

    def list(self) -> list[Webhook]: ...


class CreateWebhook(Command):
    draft: WebhookDraft


class DeleteWebhook(Command):
    webhook_id: WebhookId


class ReceiveWebhook(Command):
    """An inbound alert as it came: the raw body (a signature covers its bytes), the secret from
    the query string if it was there, and the signature headers if any."""

    webhook_id: WebhookId
    body: bytes = Field(max_length=1_000_000)
    secret: str | None = Field(default=None, max_length=200)
    timestamp: str | None = Field(default=None, max_length=32)
    signature: str | None = Field(default=None, max_length=200)


class ListWebhooks(Query):
    pass


class WebhookView(BaseModel):
    """A webhook as listed: never its secret's hash or its signing key."""

    webhook_id: str
    url: str
    draft: WebhookDraft
    created_at: str
    created_by: str
    owner: str

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookView:
        return cls(
            webhook_id=webhook.webhook_id,
            url=f"/v1/hooks/{webhook.webhook_id}",
            draft=webhook.draft,
            created_at=webhook.created_at.isoformat(),
            created_by=webhook.created_by,
            owner=webhook.owner,
        )


class IssuedWebhook(WebhookView):
    """What creating a webhook answers, once: its secret (and signing key) are not kept."""

    secret: str
    signing_key: str | None = None


class WebhookReceipt(BaseModel):
    webhook_id: str
    order: Order
    replayed: bool = Field(description="the alert was received before: this is the order it placed")


def create_webhook(
    cmd: CreateWebhook, webhooks: Webhooks, bus: MessageBus, clock: Clock, context: MessageContext
) -> Handled[IssuedWebhook]:
    # Asked as the caller, so another user's account answers as an unknown one (Trading's
    # ownership); one the caller only reads too, since its alerts' orders would all be refused.
    # The webhook is the account owner's: the caller's own user, but for an admin setting one up
    # on a user's account, whose alerts then trade as that user (a webhook acts as a trader).
    owner: str | None
    try:
        owner = bus.ask(GetAccount(account_id=cmd.draft.account_id), context).owner
    except NotFound:
        owner = None
    if owner is None or not context.principal.owns(owner):
        reason = f"account {cmd.draft.account_id} does not exist (an admin creates it: POST /v1/accounts)"
        raise ValidationFailed(reason, [Problem(reason, field="account_id", value=cmd.draft.account_id)])
    webhook, secret = domain.issue(cmd.draft, owner, context.principal.key_id, clock.now())
    webhooks.add(webhook)
    view = WebhookView.of(webhook)
    return Handled(IssuedWebhook(**view.model_dump(), secret=secret, signing_key=webhook.signing_key))


def list_webhooks(query: ListWebhooks, webhooks: Webhooks, context: MessageContext) -> list[WebhookView]:
    return [WebhookView.of(w) for w in webhooks.list() if context.principal.owns(w.owner)]


def delete_webhook(cmd: DeleteWebhook, webhooks: Webhooks, context: MessageContext) -> Handled[None]:
    webhook = webhooks.get(cmd.webhook_id)
    require_visible(
        context.principal,
        None if webhook is None else webhook.owner,
        f"no webhook {cmd.webhook_id}",
        "webhook_id",
    )
    webhooks.delete(cmd.webhook_id)
    return Handled(None)


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
    if payload is None:
        reason = "the body is not a JSON object"
        raise ValidationFailed(reason, [Problem(reason, field="body")])
    # The secret is no field to map: a template naming it would copy it into the order's records.
    payload = {k: v for k, v in payload.items() if k != domain.SECRET_FIELD}
    fields = domain.order_fields(webhook, payload)
    client_order_id = webhook.client_order_id(domain.idempotency_key(webhook, payload))
    request = _order_request(webhook, fields, client_order_id)
    # The order is the webhook's doing: its own principal in Trading's audit trail, acting for its
    # owner, so that Trading refuses an account the owner does not (or no longer does) own.
    acting = MessageContext(
        principal=Principal(key_id=f"webhook:{webhook.webhook_id}", role=Role.TRADER, user=webhook.owner),
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
    )
    placed = bus.execute(PlaceOrder(request=request), acting)
    order: Order = placed.order
    return Handled(WebhookReceipt(webhook_id=webhook.webhook_id, order=order, replayed=placed.replayed))


def _order_request(webhook: Webhook, fields: dict[str, Any], client_order_id: str) -> OrderRequest:
    """The order, checked here so that a 422 names the payload's field each order field came from
    (Trading checks it again, with the symbol's quantity step)."""
    try:
        request = OrderRequest(**fields, account_id=webhook.draft.account_id, client_order_id=client_order_id)
    except ValidationError as error:
        problems = [
            Problem(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}",
                field=domain.source_of(webhook, str(e["loc"][0])) if e["loc"] else "body",
                value=e.get("input"),
            )
            for e in error.errors(include_url=False)
        ]
        raise _mapping_failed(problems) from None
    found = request.problems()
    if found:
        raise _mapping_failed(
            [
                Problem(
                    f"{p.field}: {p.reason}", field=domain.source_of(webhook, p.field or ""), value=p.value
                )
                for p in found
            ]
        )
    return request


def _mapping_failed(problems: list[Problem]) -> ValidationFailed:
    return ValidationFailed(f"the alert does not map to a valid order: {problems[0].reason}", problems)


HANDLERS = HandlerTable(
    commands={
        CreateWebhook: create_webhook,
        DeleteWebhook: delete_webhook,
        ReceiveWebhook: receive_webhook,
    },
    queries={ListWebhooks: list_webhooks},
)
