"""Alerts out: a user's subscription to chosen events, delivered to a URL, a Slack or Discord
incoming webhook, or an e-mail address.

An alert names a topic (what happens) and a source (whose: a scanner, an account, a deployment
of the user's). Each event of the topic from the source becomes one delivery, whose id comes
from the alert and the event: an event delivered twice by the bus is still one delivery. A
delivery is tried at once and, while it fails for a reason that may pass (a timeout, a 5xx, a
429), again after each wait of `BACKOFF`; then it is failed (dead-lettered) and stays listed with
its last error until a person retries it. An alert sends at most `rate_limit` deliveries a minute:
one beyond them is recorded `throttled`, not sent nor retried, and the next one sent says how many
were suppressed (`suppressed`). A URL target gets the event's envelope as JSON, signed
the way webhooks in are checked (kernel/signing.py); chat and e-mail targets get a line of text.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from trading_system.kernel.messages import Envelope
from trading_system.kernel.signing import sign
from trading_system.kernel.text import PlainText

# What a URL target's request carries beside its JSON body.
SIGNATURE_HEADER = "x-alert-signature"
TIMESTAMP_HEADER = "x-alert-timestamp"
DELIVERY_HEADER = "x-alert-delivery"  # the same on every attempt: receivers drop repeats by it
# The waits between attempts: the first is at once, the last after about 7 hours in all.
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# While any delivery waits, the retry schedule (the alerts' timetable, under this key) fires at
# this rate; the shortest wait is 30 s, so a retry is at most a minute late.
RETRY_QUEUE = "deliveries"
RETRY_SCHEDULE = "rate(1 minute)"
# Each alert sends at most `rate_limit` deliveries a minute (counted in the write store across
# concurrent invocations); beyond them a delivery is recorded as `throttled`, never sent nor
# retried on its own, and the alert's next delivery sent says how many were suppressed.
DEFAULT_RATE_LIMIT = 30
MAX_RATE_LIMIT = 600
SEND_TIMEOUT_S = 5.0  # each attempt's connect and read, so one slow receiver holds no one up long


class Topic(StrEnum):
    """What an alert is about, the event that raises it and the field naming its source."""

    SIGNALS = "signals"  # a scanner's signals
    FILLS = "fills"  # an account's fills
    REJECTED_ORDERS = "rejected_orders"  # an account's rejected orders
    ACCOUNT_HALTED = "account_halted"  # an account halted by its loss limit
    DEPLOYMENT_PAUSED = "deployment_paused"  # a live deployment paused (its strategy failed, ...)

    @property
    def event_type(self) -> str:
        return _EVENTS[self]

    @property
    def source_field(self) -> str:
        return _SOURCE_FIELDS[self]

    @property
    def source_kind(self) -> str:
        """What the source is, in words: `scanner`, `account`, `deployment`."""
        return self.source_field.removesuffix("_id")


_EVENTS = {
    Topic.SIGNALS: "SignalDetected",
    Topic.FILLS: "OrderFilled",
    Topic.REJECTED_ORDERS: "OrderRejected",
    Topic.ACCOUNT_HALTED: "AccountHalted",
    Topic.DEPLOYMENT_PAUSED: "DeploymentPaused",
}
_SOURCE_FIELDS = {
    Topic.SIGNALS: "scanner_id",
    Topic.FILLS: "account_id",
    Topic.REJECTED_ORDERS: "account_id",
    Topic.ACCOUNT_HALTED: "account_id",
    Topic.DEPLOYMENT_PAUSED: "deployment_id",
}
TOPICS_BY_EVENT: dict[str, Topic] = {topic.event_type: topic for topic in Topic}


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("has no host name")
    if parts.username or parts.password:
        raise ValueError("carries a user name or password: put a secret in the path or query instead")
    if any(ch.isspace() for ch in value):
        raise ValueError("contains white space")
    return value


WebUrl = Annotated[str, Field(min_length=8, max_length=2000), AfterValidator(_web_url)]
_EMAIL = r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class UrlTarget(BaseModel):
    """Your own endpoint: a POST of the event as JSON, signed with the alert's signing key."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["url"] = "url"
    url: WebUrl


class SlackTarget(BaseModel):
    """A Slack incoming webhook (`https://hooks.slack.com/services/...`): a line of text."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["slack"] = "slack"
    url: WebUrl


class DiscordTarget(BaseModel):
    """A Discord channel webhook (`https://discord.com/api/webhooks/...`): a line of text."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["discord"] = "discord"
    url: WebUrl


class EmailTarget(BaseModel):
    """An e-mail address, through an SNS topic in AWS: the address confirms the subscription from
    the message AWS sends it, and gets nothing before."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["email"] = "email"
    address: str = Field(max_length=254, pattern=_EMAIL)


Target = Annotated[UrlTarget | SlackTarget | DiscordTarget | EmailTarget, Field(discriminator="kind")]

SourceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class AlertDraft(BaseModel):
    """The body of POST /v1/alerts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PlainText = Field(min_length=1, max_length=100)
    topic: Topic
    source_id: SourceId = Field(
        description="whose events: the scanner's id for signals, the account's for fills, rejected "
        "orders and a halt, the deployment's for a pause"
    )
    target: Target
    rate_limit: int = Field(
        default=DEFAULT_RATE_LIMIT,
        ge=1,
        le=MAX_RATE_LIMIT,
        description="deliveries a minute it sends; beyond them a delivery is recorded as throttled, "
        "not sent, and the next one sent says how many were suppressed",
    )


class Alert(BaseModel):
    """As stored. The signing key is kept as it is, since an HMAC is made with it."""

    alert_id: str
    draft: AlertDraft
    owner: str
    created_at: datetime
    created_by: str  # the key, for the audit trail
    signing_key: str | None = None  # URL targets only
    # What the channel keeps for the alert (an e-mail target's SNS subscription), to undo it.
    channel_ref: str | None = None


def create(draft: AlertDraft, owner: str, created_by: str, now: datetime) -> Alert:
    return Alert(
        alert_id=f"al_{secrets.token_hex(6)}",
        draft=draft,
        owner=owner,
        created_at=now,
        created_by=created_by,
        signing_key=secrets.token_urlsafe(32) if isinstance(draft.target, UrlTarget) else None,
    )


Status = Literal["pending", "delivered", "retrying", "failed", "throttled"]


class Delivery(BaseModel):
    """One event sent to one alert's target, with what happened."""

    delivery_id: str
    alert_id: str
    event_id: str
    event_type: str
    occurred_at: datetime
    status: Status = "pending"
    attempts: int = 0
    last_error: str | None = None
    last_status_code: int | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    # Deliveries of the alert throttled since the one sent before this (said in what this sends).
    suppressed: int = 0
    # The event itself, so that a retry hours later sends what happened, not what is now.
    envelope: dict[str, Any]


def delivery_id(envelope: Envelope) -> str:
    """Newest first in key order (the time is inverted), unique per event (and so per alert and
    event among an alert's deliveries)."""
    inverted = 10**13 - int(envelope.occurred_at.timestamp() * 1000)
    return f"{inverted:013d}-{envelope.event_id.hex}"


def new_delivery(alert: Alert, envelope: Envelope) -> Delivery:
    return Delivery(
        delivery_id=delivery_id(envelope),
        alert_id=alert.alert_id,
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        occurred_at=envelope.occurred_at,
        envelope=envelope.model_dump(mode="json"),
    )


def minute_of(at: datetime) -> int:
    """The minute a rate limit counts in: minutes since the epoch."""
    return int(at.timestamp()) // 60


def throttled(delivery: Delivery, now: datetime) -> Delivery:
    """A delivery beyond its alert's rate limit: recorded, not sent, never retried on its own (a
    person may still retry it, within the limit)."""
    return delivery.model_copy(
        update={
            "status": "throttled",
            "last_error": "throttled: beyond the alert's rate limit of deliveries a minute",
            "next_attempt_at": None,
        }
    )


def suppressed_note(count: int) -> str:
    plural = "alert was" if count == 1 else "alerts were"
    return f"and {count} more {plural} suppressed by this alert's rate limit"


@dataclass(frozen=True)
class Attempt:
    """What one try at sending answered."""

    ok: bool
    status: int | None = None  # the receiver's HTTP status, when it answered
    error: str | None = None  # short, for the delivery list: "HTTP 503", "timed out after 5 s"
    retryable: bool = False  # whether trying again may work (a timeout, a 5xx, a 429)


# Why an e-mail alert subscribed on the shared topic of old sends nothing until it is moved.
NOT_MOVED = (
    "this e-mail alert predates one topic per owner: an operator runs `trading alerts move-email`, "
    "then its address confirms again"
)


def after_attempt(delivery: Delivery, attempt: Attempt, now: datetime) -> Delivery:
    """The delivery once an attempt has answered: delivered, retrying at its next time, or failed
    when the error will not pass or its attempts are spent."""
    attempts = delivery.attempts + 1
    if attempt.ok:
        return delivery.model_copy(
            update={
                "status": "delivered",
                "attempts": attempts,
                "last_error": None,
                "last_status_code": attempt.status,
                "next_attempt_at": None,
                "delivered_at": now,
            }
        )
    retrying = attempt.retryable and attempts < MAX_ATTEMPTS
    return delivery.model_copy(
        update={
            "status": "retrying" if retrying else "failed",
            "attempts": attempts,
            "last_error": attempt.error or "failed",
            "last_status_code": attempt.status,
            "next_attempt_at": now + BACKOFF[attempts - 1] if retrying else None,
        }
    )


def retried_by_hand(delivery: Delivery) -> Delivery:
    """A failed (or throttled) delivery a person asked to try again: a new round of attempts."""
    return delivery.model_copy(
        update={"status": "pending", "attempts": 0, "next_attempt_at": None, "last_error": None}
    )


@dataclass(frozen=True)
class Outgoing:
    """What one attempt sends: the JSON document and its signature for a URL, the text for chat
    and e-mail."""

    alert_id: str
    delivery_id: str
    target: UrlTarget | SlackTarget | DiscordTarget | EmailTarget
    subject: str
    text: str
    body: bytes  # the JSON document a URL target gets
    headers: dict[str, str]  # a URL target's signature headers
    # The alert's owner: e-mail goes out on that owner's own topic, whose addresses confirmed for them.
    owner: str


def outgoing(alert: Alert, delivery: Delivery, now: datetime) -> Outgoing:
    topic = alert.draft.topic
    payload = delivery.envelope.get("payload", {})
    subject = f"{alert.draft.name}: {describe(topic, payload)}"
    document: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "alert": alert.draft.name,
        "delivery_id": delivery.delivery_id,
        "topic": topic.value,
        "text": subject,
        "event": delivery.envelope,
    }
    if delivery.suppressed:
        subject = f"{subject} ({suppressed_note(delivery.suppressed)})"
        document["text"] = subject
        document["suppressed"] = delivery.suppressed
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {DELIVERY_HEADER: delivery.delivery_id}
    if alert.signing_key is not None:
        timestamp = str(int(now.timestamp()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(alert.signing_key, timestamp, body)
    source = payload.get(topic.source_field, "?")
    text = f"{subject}\n{topic.source_kind} {source}, at {delivery.occurred_at.isoformat()}"
    return Outgoing(
        alert.alert_id, delivery.delivery_id, alert.draft.target, subject, text, body, headers, alert.owner
    )


def describe(topic: Topic, payload: dict[str, Any]) -> str:
    """One line a trader reads on a phone."""
    get = payload.get
    if topic is Topic.SIGNALS:
        return f"{get('scanner_name', get('scanner_id'))} signalled {get('symbol')} ({get('timeframe')})"
    if topic is Topic.FILLS:
        what = "filled" if get("status") == "filled" else "partly filled"
        return f"{what} {get('side')} {get('qty')} {get('symbol')} @ {get('price')} on {get('account_id')}"
    if topic is Topic.REJECTED_ORDERS:
        return f"order for {get('symbol')} on {get('account_id')} rejected: {get('reason')}"
    if topic is Topic.ACCOUNT_HALTED:
        return f"account {get('account_id')} halted: equity {get('equity')} below {get('threshold')}"
    return f"deployment {get('deployment_id')} paused: {get('reason')}"


def private_address(host: str) -> bool:
    """Whether an address is one an alert must not reach from a shared deployment: loopback,
    private networks, link-local (the cloud's metadata service at 169.254.169.254) and the like."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower() in ("localhost",) or host.lower().endswith(".localhost")
    return not address.is_global
