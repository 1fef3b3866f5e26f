"""Webhooks in: a TradingView alert (or any tool that can POST) places an order on a paper account,
or raises a signal of an external scanner (which alerts, the stream and live deployments then
follow as they follow any scanner's signals).

A webhook is `POST /v1/hooks/<webhook id>?secret=<secret>` (or the secret as the body's `secret`
field: TradingView cannot set headers). Its secret is shown once and stored only as a hash, the
way API keys are (identity/domain.py: 256 random bits, so a plain SHA-256 and a constant-time
comparison). A signed webhook also needs `X-Webhook-Timestamp` (Unix seconds) and
`X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with its signing key,
within `SIGNATURE_WINDOW_S` of now: a captured request cannot be replayed later, and one replayed
inside the window is the same order again (its idempotency key), never a second one.

The payload is mapped to an order (or a signal) by a template: each field is a literal, or text with
`{{field}}` placeholders (a dotted path into the JSON payload, `{{strategy.order.action}}`),
the names TradingView's own placeholders fill in. There is no logic, no expression and no code:
a placeholder is replaced by the payload's value, nothing more.

Each webhook takes at most `rate_limit` alerts a minute (counted once its secret is checked, so a
stranger cannot spend a webhook's allowance); beyond it, a 429 with Retry-After, and nothing done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from trading_system.identity.domain import secret_digest
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.kernel.signing import signature_holds
from trading_system.kernel.text import PlainText, printable
from trading_system.market_data.domain import parse_moment, utc_moment
from trading_system.scanning.domain import SignalValueName

SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
SIGNATURE_WINDOW_S = 300  # either side of now: senders' clocks drift
MAX_RATE_LIMIT = 100  # alerts a minute: one batch read counts a minute's (webhook_store.py)
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


class SignalTemplate(BaseModel):
    """A signal's fields, each a literal or text with `{{placeholders}}`. The scanner is the
    webhook's to set, never the payload's; the timeframe is the scanner's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: TemplateText = Field(default="{{ticker}}", examples=["{{ticker}}"])
    ts: TemplateText | None = Field(
        default=None,
        examples=["{{time}}"],
        description="a moment in the bar the signal is of: ISO 8601, or Unix seconds or milliseconds; "
        "default: when the alert arrives",
    )
    values: dict[SignalValueName, TemplateText] = Field(
        default_factory=dict,
        max_length=20,
        examples=[{"close": "{{close}}"}],
        description="numbers the signal carries, by name",
    )


class WebhookDraft(BaseModel):
    """The body of POST /v1/webhooks: an order template for an account, or a signal template for
    an external scanner."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PlainText = Field(min_length=1, max_length=100)
    account_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="with `order`"
    )
    order: OrderTemplate | None = None
    scanner_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="with `signal`: an external scanner of yours",
    )
    signal: SignalTemplate | None = None
    idempotency_key: TemplateText | None = Field(
        default=None,
        description="what makes two alerts the same order, e.g. `{{id}}` or `{{time}}-{{ticker}}`; "
        "default: the whole payload (an alert sent twice is one order). A signal is one per "
        "scanner, symbol and bar, so a signal webhook has none",
    )
    signed: bool = Field(
        default=False,
        description="also require an HMAC-SHA256 signature and a fresh timestamp (tools that set headers)",
    )
    rate_limit: int = Field(
        default=60, ge=1, le=MAX_RATE_LIMIT, description="alerts a minute it takes; beyond them, a 429"
    )

    @model_validator(mode="after")
    def _one_target(self) -> WebhookDraft:
        if (self.order is None) == (self.signal is None):
            raise ValueError(
                "a webhook has either `order` (with `account_id`) or `signal` (with `scanner_id`)"
            )
        if self.order is not None and (self.account_id is None or self.scanner_id is not None):
            raise ValueError(
                "an order webhook names `account_id` (the account its orders go to), not `scanner_id`"
            )
        if self.signal is not None:
            if self.scanner_id is None or self.account_id is not None:
                raise ValueError(
                    "a signal webhook names `scanner_id` (its external scanner), not `account_id`"
                )
            if self.idempotency_key is not None:
                raise ValueError(
                    "idempotency_key: a signal webhook has none (a signal is one per scanner, symbol and bar)"
                )
        return self


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

    @property
    def target(self) -> str:
        """What its alerts act on: `account:<id>` or `scanner:<id>`."""
        if self.draft.signal is not None:
            return f"scanner:{self.draft.scanner_id}"
        return f"account:{self.draft.account_id}"

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
    assert webhook.draft.order is not None
    template = webhook.draft.order.model_dump(exclude_none=True)
    return {name: render(text, payload, name) for name, text in template.items()}


class SignalFields(BaseModel):
    symbol: str
    ts: datetime | None
    values: dict[str, float]


def signal_fields(webhook: Webhook, payload: dict[str, Any]) -> SignalFields:
    """The signal's symbol, moment and values from the template and the payload; a 422 naming
    the payload's field a moment or a value that is not one came from."""
    template = webhook.draft.signal
    assert template is not None
    ts = None
    if template.ts is not None:
        ts = _moment(render(template.ts, payload, "ts"), _source(template.ts, "ts"))
    values = {
        name: _number(render(text, payload, f"values.{name}"), _source(text, f"values.{name}"))
        for name, text in template.values.items()
    }
    return SignalFields(symbol=render(template.symbol, payload, "symbol"), ts=ts, values=values)


def _moment(text: str, source: str) -> datetime:
    """The moment as Market Data reads one (ISO 8601, a date, Unix seconds or milliseconds), in
    UTC; a 422 naming the payload's field when it is none."""
    try:
        return utc_moment(parse_moment(text))
    except ValueError:
        reason = f"{source} is not a moment: {text[:40]!r} (ISO 8601, or Unix seconds or milliseconds)"
        raise _malformed_at(reason, source) from None


def _number(text: str, source: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise _malformed_at(f"{source} is not a number: {text[:40]!r}", source)
    return number


def _source(text: str, field: str) -> str:
    found = _PLACEHOLDER.search(text)
    return f"body.{found.group(1)}" if found else f"template.{field}"


def idempotency_key(webhook: Webhook, payload: dict[str, Any]) -> str:
    if webhook.draft.idempotency_key is not None:
        return render(webhook.draft.idempotency_key, payload, "idempotency_key")
    # The whole payload, canonical (key order and spacing do not matter), without the secret.
    unsigned = {k: v for k, v in payload.items() if k != SECRET_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"))


def source_of(webhook: Webhook, field: str) -> str:
    """Where an order field came from, for a 422: the payload's field its template names, else
    the template's own field."""
    return _source(getattr(webhook.draft.order, field, None) or "", field)


def source_of_signal(template: SignalTemplate, field: str) -> str:
    """Where a signal field came from, for a 422 (as `source_of` says for an order's)."""
    text = getattr(template, field, None)
    return _source(text if isinstance(text, str) else "", field)


def _malformed(reason: str, path: str) -> ValidationFailed:
    return _malformed_at(reason, f"body.{path}")


def _malformed_at(reason: str, field: str) -> ValidationFailed:
    return ValidationFailed(reason, [Problem(reason, field=field)])


def minute_of(now: datetime) -> int:
    """The rate limit's window: minutes since the epoch."""
    return int(now.timestamp()) // 60


def retry_after_s(now: datetime) -> int:
    """Seconds until the next window opens (1 to 60)."""
    return 60 - int(now.timestamp()) % 60
