"""Creating, listing and deleting webhooks (strategies/webhooks.py); receiving their alerts is
strategies/webhook_alerts.py, with a handler table of its own (bootstrap.TABLES_APART), so that
managing webhooks loads neither Trading's order commands nor Scanning's.

Webhooks live in Strategies because, like a live deployment, a webhook turns something outside
Trading into orders through Trading's own PlaceOrder (risk checks, idempotency, audit trail), or
into signals through Scanning's own RaiseSignal; Identity owns the way secrets are hashed, which
webhooks reuse.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from pydantic import BaseModel, Field

from trading_system.kernel.bus import Handled, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import NotFound, Problem, ValidationFailed
from trading_system.kernel.messages import Command, Query
from trading_system.kernel.principal import require_visible
from trading_system.scanning.queries import GetScanner
from trading_system.strategies import webhooks as domain
from trading_system.strategies.webhooks import Webhook, WebhookDraft
from trading_system.trading.queries import GetAccount

WebhookId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Webhooks(Protocol):
    """Webhooks in the write store, by id."""

    def get(self, webhook_id: str) -> Webhook | None: ...

    def add(self, webhook: Webhook) -> None: ...

    def delete(self, webhook_id: str) -> None: ...

    def list(self) -> list[Webhook]: ...

    def admit(self, webhook_id: str, minute: int, limit: int) -> bool:
        """Count one alert of the webhook in the minute (minutes since the epoch); False, and
        nothing counted, when it has taken `limit` in that minute already."""


class CreateWebhook(Command):
    draft: WebhookDraft


class DeleteWebhook(Command):
    webhook_id: WebhookId


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


def create_webhook(
    cmd: CreateWebhook, webhooks: Webhooks, bus: MessageBus, clock: Clock, context: MessageContext
) -> Handled[IssuedWebhook]:
    owner = _target_owner(cmd.draft, bus, context)
    webhook, secret = domain.issue(cmd.draft, owner, context.principal.key_id, clock.now())
    webhooks.add(webhook)
    view = WebhookView.of(webhook)
    return Handled(IssuedWebhook(**view.model_dump(), secret=secret, signing_key=webhook.signing_key))


def _target_owner(draft: WebhookDraft, bus: MessageBus, context: MessageContext) -> str:
    """Whose account or scanner the webhook acts on, who then owns the webhook: the caller's own
    user, but for an admin setting one up on a user's, whose alerts then act as that user.

    Asked as the caller, so another user's account or scanner answers as an unknown one; an
    account the caller only reads too, since its alerts' orders would all be refused."""
    if draft.scanner_id is not None:
        try:
            scanner = bus.ask(GetScanner(scanner_id=draft.scanner_id), context)
        except NotFound:
            scanner = None
        if scanner is None or not context.principal.owns(scanner.owner):
            raise _unknown("scanner_id", draft.scanner_id, f"scanner {draft.scanner_id} does not exist")
        if not scanner.is_external:
            raise _unknown(
                "scanner_id",
                draft.scanner_id,
                f"scanner {draft.scanner_id} runs rules: a webhook raises signals of an external "
                "scanner (create one with kind 'external')",
            )
        owner: str = scanner.owner
        return owner
    assert draft.account_id is not None  # the draft has one or the other
    try:
        found: str | None = bus.ask(GetAccount(account_id=draft.account_id), context).owner
    except NotFound:
        found = None
    if found is None or not context.principal.owns(found):
        reason = f"account {draft.account_id} does not exist (an admin creates it: POST /v1/accounts)"
        raise _unknown("account_id", draft.account_id, reason)
    return found


def _unknown(field: str, value: str, reason: str) -> ValidationFailed:
    return ValidationFailed(reason, [Problem(reason, field=field, value=value)])


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


HANDLERS = HandlerTable(
    commands={CreateWebhook: create_webhook, DeleteWebhook: delete_webhook},
    queries={ListWebhooks: list_webhooks},
)
