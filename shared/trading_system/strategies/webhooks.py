"""Webhooks in: a TradingView alert (or any tool that can POST) places an order on a paper account.

A webhook is `POST /v1/hooks/<webhook id>?secret=<secret>` (or the secret as the body's `secret`
field: TradingView cannot set headers). Its secret is shown once and stored only as a hash, the
way API keys are (identity/domain.py: 256 random bits, so a plain SHA-256 and a constant-time
comparison). A signed webhook also needs `X-Webhook-Timestamp` (Unix seconds) and
`X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with its signing key,
within `SIGNATURE_WINDOW_S` of now: a captured request cannot be replayed later, and one replayed
inside the window is the same order again (its idempotency key), never a second one.

The payload is mapped to an order by a template: each order field is a literal, or text with
`{{field}}` placeholders (a dotted path into the JSON payload, `{{strategy.order.action}}`),
the names TradingView's own placeholders fill in. There is no logic, no expression and no code:
a placeholder is replaced by the payload's value, nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from trading_system.identity.domain import secret_digest
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.kernel.signing import signature_holds
from trading_system.kernel.text import PlainText, printable

SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
SIGNATURE_WINDOW_S = 300  # either side of now: senders' clocks drift
SECRET_FIELD = "secret"
# All a caller with a bad secret, an unknown webhook or a bad signature learns.
REFUSED = "the webhook secret is not valid"

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_PLACEHOLDER = re.compile(r"\{\{\s*(" + _PATH + r")\s*\}\}")
_WHOLE = re.compile(r"^\{\{\s*(" + _PATH + r")\s*\}\}$")
# What the unknown-webhook path compares a secret with, so that it takes as long as a known one.
_NO_DIGEST = "0" * 64


def _template_text(value: str) -> str:
    printable(value)
    rest = _PLACEHOLDER.sub("", value)
    if "{{" in rest or "}}" in rest:
        raise ValueError(
            "a placeholder is {{name}} or {{dotted.name}} (letters, digits, underscores): "
            f"{value!r} has another use of braces"
        )
    return value


TemplateText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_template_text)]


class OrderTemplate(BaseModel):
    """An order's fields (Trading's names), each a literal or text with `{{placeholders}}`. The
    account and the client_order_id are the webhook's to set, never the payload's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: TemplateText = Field(examples=["{{ticker}}"])
    side: TemplateText = Field(examples=["{{strategy.order.action}}"])
    type: TemplateText = "market"
    time_in_force: TemplateText = "day"
    qty: TemplateText | None = Field(default=None, examples=["{{strategy.order.contracts}}"])
    notional: TemplateText | None = None
    limit_price: TemplateText | None = None
    stop_price: TemplateText | None = None


class WebhookDraft(BaseModel):
    """The body of POST /v1/webhooks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PlainText = Field(min_length=1, max_length=100)
    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    order: OrderTemplate
    idempotency_key: TemplateText | None = Field(
        default=None,
        description="what makes two alerts the same order, e.g. `{{id}}` or `{{time}}-{{ticker}}`; "
        "default: the whole payload (an alert sent twice is one order)",
    )
    signed: bool = Field(
        default=False,
        description="also require an HMAC-SHA256 signature and a fresh timestamp (tools that set headers)",
    )


class Webhook(BaseModel):
    """As stored: the secret's hash, never the secret. The signing key is kept as it is, since an
    HMAC can only be checked with its key; it works only beside the secret, which it never reveals."""

    webhook_id: str
    draft: WebhookDraft
    secret_sha256: str
    signing_key: str | None = None
    created_at: datetime
    created_by: str  # the key, for the audit trail
    # The user whose webhook it is, and whose accounts its orders may go to. Webhooks stored
    # before users existed have none: the first admin's.
    owner: str = FIRST_ADMIN

    def verifies(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_sha256, secret_digest(secret))

    def client_order_id(self, idempotency_key: str) -> str:
        """Deterministic, at most 48 characters (Trading's limit): the same key, the same order."""
        digest = hashlib.sha256(f"{self.webhook_id}\n{idempotency_key}".encode()).hexdigest()
        return f"{self.webhook_id}-{digest[: 47 - len(self.webhook_id)]}"


def issue(draft: WebhookDraft, owner: str, created_by: str, now: datetime) -> tuple[Webhook, str]:
    """A new webhook of the user `owner`, made with the key `created_by`, and its secret (returned
    to the user once, never stored)."""
    secret = secrets.token_urlsafe(32)
    webhook = Webhook(
        webhook_id=f"wh_{secrets.token_hex(6)}",
        draft=draft,
        secret_sha256=secret_digest(secret),
        signing_key=secrets.token_urlsafe(32) if draft.signed else None,
        created_at=now,
        created_by=created_by,
        owner=owner,
    )
    return webhook, secret


def verifies(webhook: Webhook | None, secret: str | None) -> bool:
    """Whether the secret opens the webhook, in constant time whether the webhook exists or not."""
    if secret is None or webhook is None:
        hmac.compare_digest(_NO_DIGEST, secret_digest(secret or ""))
        return False
    return webhook.verifies(secret)


def signature_problem(
    signing_key: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> str | None:
    """Why the signature does not hold (for the logs only), or None when it does."""
    if not timestamp or not signature:
        return f"the {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header is missing"
    if not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} is not Unix seconds"
    age = now.timestamp() - int(timestamp)
    if abs(age) > SIGNATURE_WINDOW_S:
        return f"the timestamp is {age:.0f} s from now, outside the {SIGNATURE_WINDOW_S} s window"
    if not signature_holds(signing_key, timestamp, body, signature):
        return "the signature does not match"
    return None


def parse_payload(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _no_constant(literal: str) -> Any:
    raise ValueError(f"{literal} is not a JSON number")


def render(template: str, payload: dict[str, Any], field: str) -> str:
    """The template with each placeholder replaced by the payload's value; a 422 naming the
    payload's field when it is missing or not a plain value (an object or a list)."""
    whole = _WHOLE.match(template)
    if whole:
        return _text(_lookup(payload, whole.group(1), field), whole.group(1), field)
    return _PLACEHOLDER.sub(lambda m: _text(_lookup(payload, m.group(1), field), m.group(1), field), template)


def _lookup(payload: dict[str, Any], path: str, field: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise _malformed(f"the payload has no field {path} (the template's {field} needs it)", path)
        value = value[part]
    return value


def _text(value: Any, path: str, field: str) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise _malformed(f"the payload's {path} is not a text or a number (the template's {field})", path)
    return value if isinstance(value, str) else json.dumps(value)


def order_fields(webhook: Webhook, payload: dict[str, Any]) -> dict[str, str]:
    """The order's fields from the template and the payload (checked as an order by Trading)."""
    template = webhook.draft.order.model_dump(exclude_none=True)
    return {name: render(text, payload, name) for name, text in template.items()}


def idempotency_key(webhook: Webhook, payload: dict[str, Any]) -> str:
    if webhook.draft.idempotency_key is not None:
        return render(webhook.draft.idempotency_key, payload, "idempotency_key")
    # The whole payload, canonical (key order and spacing do not matter), without the secret.
    unsigned = {k: v for k, v in payload.items() if k != SECRET_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"))


def source_of(webhook: Webhook, field: str) -> str:
    """Where an order field came from, for a 422: the payload's field its template names, else
    the template's own field."""
    text = getattr(webhook.draft.order, field, None) or ""
    found = _PLACEHOLDER.search(text)
    return f"body.{found.group(1)}" if found else f"template.{field}"


def _malformed(reason: str, path: str) -> ValidationFailed:
    return ValidationFailed(reason, [Problem(reason, field=f"body.{path}")])
