"""Alerts' domain: what a draft accepts, how a delivery moves through its attempts, what one
attempt sends (signed for a URL, as text for chat), and which addresses count as private."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from trading_system.alerts import domain
from trading_system.alerts.domain import (
    BACKOFF,
    MAX_ATTEMPTS,
    AlertDraft,
    Attempt,
    Topic,
    after_attempt,
    new_delivery,
    outgoing,
    private_address,
)
from trading_system.kernel.messages import Envelope
from trading_system.kernel.signing import signature_holds

NOW = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
FILL = {
    "order_id": "o1",
    "account_id": "paper",
    "symbol": "AAPL",
    "side": "buy",
    "qty": "10",
    "price": "187.2",
    "status": "filled",
}


def draft(**target: Any) -> AlertDraft:
    return AlertDraft(
        name="fills",
        topic=Topic.FILLS,
        source_id="paper",
        target=target or {"kind": "url", "url": "https://example.com/in"},
    )


def envelope(at: datetime = NOW, payload: dict[str, Any] | None = None, event_id: int = 1) -> Envelope:
    return Envelope(
        event_id=UUID(int=event_id),
        event_type="OrderFilled",
        version=1,
        occurred_at=at,
        correlation_id="c",
        producer="test",
        payload=payload or FILL,
    )


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ({"kind": "url", "url": "ftp://example.com/x"}, "http:// or https://"),
        ({"kind": "url", "url": "https://user:pw@example.com/x"}, "user name or password"),
        ({"kind": "slack", "url": "https:///nohost"}, "no host name"),
        ({"kind": "discord", "url": "https://example.com/a b"}, "white space"),
        ({"kind": "email", "address": "not-an-address"}, "pattern"),
        ({"kind": "sms", "url": "https://example.com"}, "kind"),
    ],
)
def test_a_draft_names_what_is_wrong_with_its_target(target: dict[str, str], why: str) -> None:
    with pytest.raises(ValidationError) as raised:
        AlertDraft(name="x", topic=Topic.FILLS, source_id="paper", target=target)
    assert why in str(raised.value)


def test_a_draft_refuses_unknown_topics_odd_source_ids_and_hidden_characters() -> None:
    target = {"kind": "url", "url": "https://example.com/in"}
    with pytest.raises(ValidationError, match="topic"):
        AlertDraft(name="x", topic="everything", source_id="paper", target=target)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="source_id"):
        AlertDraft(name="x", topic=Topic.FILLS, source_id="../paper", target=target)
    with pytest.raises(ValidationError, match="U\\+202E"):
        AlertDraft(name="x\u202e", topic=Topic.FILLS, source_id="paper", target=target)


def test_each_topic_names_its_event_and_source() -> None:
    assert {t.event_type: t.source_field for t in Topic} == {
        "SignalDetected": "scanner_id",
        "OrderFilled": "account_id",
        "OrderRejected": "account_id",
        "AccountHalted": "account_id",
        "DeploymentPaused": "deployment_id",
    }
    assert Topic.SIGNALS.source_kind == "scanner" and Topic.DEPLOYMENT_PAUSED.source_kind == "deployment"


def test_only_url_targets_get_a_signing_key() -> None:
    assert domain.create(draft(), "alice", "k1", NOW).signing_key is not None
    slack_target = draft(kind="slack", url="https://hooks.slack.com/services/T/B/x")
    slack = domain.create(slack_target, "alice", "k1", NOW)
    assert slack.signing_key is None and slack.alert_id.startswith("al_")


def test_a_delivery_is_delivered_at_once_when_the_receiver_answers() -> None:
    delivery = new_delivery(domain.create(draft(), "alice", "k1", NOW), envelope())
    done = after_attempt(delivery, Attempt(ok=True, status=204), NOW)
    assert (done.status, done.attempts, done.delivered_at) == ("delivered", 1, NOW)
    assert done.next_attempt_at is None
    assert done.last_status_code == 204 and done.last_error is None


def test_a_passing_failure_is_retried_after_each_wait_then_dead_lettered() -> None:
    delivery = new_delivery(domain.create(draft(), "alice", "k1", NOW), envelope())
    failing = Attempt(ok=False, status=503, error="HTTP 503", retryable=True)
    at = NOW
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        delivery = after_attempt(delivery, failing, at)
        assert delivery.status == "retrying" and delivery.next_attempt_at is not None
        waits.append(delivery.next_attempt_at - at)
        at = delivery.next_attempt_at
    assert waits == list(BACKOFF)
    delivery = after_attempt(delivery, failing, at)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    assert delivery.last_error == "HTTP 503" and delivery.last_status_code == 503


def test_a_lasting_failure_fails_at_once_and_a_retry_by_hand_starts_over() -> None:
    delivery = new_delivery(domain.create(draft(), "alice", "k1", NOW), envelope())
    gone = after_attempt(delivery, Attempt(ok=False, status=404, error="HTTP 404"), NOW)
    assert (gone.status, gone.attempts) == ("failed", 1)
    again = domain.retried_by_hand(gone)
    assert (again.status, again.attempts) == ("pending", 0)
    timed_out = Attempt(ok=False, error="timed out", retryable=True)
    assert after_attempt(again, timed_out, NOW).status == "retrying"


def test_delivery_ids_are_the_events_and_sort_newest_first() -> None:
    alert = domain.create(draft(), "alice", "k1", NOW)
    older, newer = envelope(NOW, event_id=1), envelope(NOW + timedelta(seconds=1), event_id=2)
    assert new_delivery(alert, older).delivery_id == new_delivery(alert, older).delivery_id
    assert new_delivery(alert, newer).delivery_id < new_delivery(alert, older).delivery_id


def test_a_url_target_gets_the_envelope_signed_the_way_webhooks_in_are_checked() -> None:
    alert = domain.create(draft(), "alice", "k1", NOW)
    sent = outgoing(alert, new_delivery(alert, envelope()), NOW)
    body = json.loads(sent.body)
    assert body["alert_id"] == alert.alert_id and body["topic"] == "fills"
    assert body["event"]["payload"] == FILL and body["event"]["event_id"] == str(UUID(int=1))
    assert sent.headers[domain.DELIVERY_HEADER] == body["delivery_id"]
    timestamp = sent.headers[domain.TIMESTAMP_HEADER]
    assert timestamp == str(int(NOW.timestamp()))
    assert alert.signing_key is not None
    signature = sent.headers[domain.SIGNATURE_HEADER]
    assert signature_holds(alert.signing_key, timestamp, sent.body, signature)
    assert not signature_holds(alert.signing_key, timestamp, sent.body + b" ", signature)


def test_chat_and_mail_get_a_line_a_trader_reads() -> None:
    alert = domain.create(draft(kind="discord", url="https://discord.com/api/webhooks/1/x"), "a", "k", NOW)
    sent = outgoing(alert, new_delivery(alert, envelope()), NOW)
    assert sent.subject == "fills: filled buy 10 AAPL @ 187.2 on paper"
    assert sent.text.startswith(sent.subject + "\naccount paper, at 2026-12-06T14:30:00")
    assert domain.SIGNATURE_HEADER not in sent.headers


LINES = [
    (
        Topic.SIGNALS,
        {"scanner_name": "oversold", "symbol": "MSFT", "timeframe": "1d"},
        "oversold signalled MSFT (1d)",
    ),
    (
        Topic.REJECTED_ORDERS,
        {"symbol": "TSLA", "account_id": "p", "reason": "buying power"},
        "order for TSLA on p rejected: buying power",
    ),
    (
        Topic.ACCOUNT_HALTED,
        {"account_id": "p", "equity": "90", "threshold": "95"},
        "account p halted: equity 90 below 95",
    ),
    (
        Topic.DEPLOYMENT_PAUSED,
        {"deployment_id": "d1", "reason": "strategy raised"},
        "deployment d1 paused: strategy raised",
    ),
]


@pytest.mark.parametrize(("topic", "payload", "line"), LINES)
def test_each_topic_reads_as_a_line(topic: Topic, payload: dict[str, Any], line: str) -> None:
    assert domain.describe(topic, payload) == line


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("169.254.169.254", True),  # the cloud's metadata service
        ("[::1]", True),
        ("fd00::1", True),
        ("localhost", True),
        ("api.localhost", True),
        ("0.0.0.0", True),
        ("8.8.8.8", False),
        ("hooks.slack.com", False),  # a name: resolved and checked when sending
    ],
)
def test_private_addresses(host: str, private: bool) -> None:
    assert private_address(host) is private


def test_the_rate_limit_defaults_to_30_a_minute_is_bounded_and_old_alerts_read_as_the_default() -> None:
    assert draft().rate_limit == domain.DEFAULT_RATE_LIMIT == 30
    assert AlertDraft(**{**draft().model_dump(), "rate_limit": 600}).rate_limit == 600
    for bad in (0, -1, 601, "many"):
        with pytest.raises(ValidationError) as raised:
            AlertDraft(**{**draft().model_dump(), "rate_limit": bad})
        assert raised.value.errors()[0]["loc"] == ("rate_limit",)
    stored = domain.create(draft(), "alice", "k1", NOW).model_dump(mode="json")
    del stored["draft"]["rate_limit"]  # as alerts were stored before the limit existed
    assert domain.Alert.model_validate(stored).draft.rate_limit == 30


def test_a_throttled_delivery_is_recorded_not_waiting_and_a_retry_by_hand_starts_over() -> None:
    delivery = new_delivery(domain.create(draft(), "alice", "k1", NOW), envelope())
    leased = delivery.model_copy(update={"next_attempt_at": NOW + timedelta(minutes=2)})
    throttled = domain.throttled(leased, NOW)
    assert (throttled.status, throttled.attempts, throttled.next_attempt_at) == ("throttled", 0, None)
    assert throttled.last_error is not None and "rate limit" in throttled.last_error
    again = domain.retried_by_hand(throttled)
    assert (again.status, again.attempts, again.last_error) == ("pending", 0, None)


def test_the_first_delivery_after_throttled_ones_says_how_many_were_suppressed() -> None:
    chat = domain.create(draft(kind="slack", url="https://hooks.slack.com/services/T/B/x"), "a", "k", NOW)
    plain = outgoing(chat, new_delivery(chat, envelope()), NOW)
    assert "suppressed" not in plain.text
    after = new_delivery(chat, envelope()).model_copy(update={"suppressed": 7})
    sent = outgoing(chat, after, NOW)
    assert sent.subject == (
        "fills: filled buy 10 AAPL @ 187.2 on paper "
        "(and 7 more alerts were suppressed by this alert's rate limit)"
    )
    one = outgoing(chat, after.model_copy(update={"suppressed": 1}), NOW)
    assert "and 1 more alert was suppressed" in one.text
    url = domain.create(draft(), "alice", "k1", NOW)
    body = json.loads(outgoing(url, after.model_copy(update={"alert_id": url.alert_id}), NOW).body)
    assert body["suppressed"] == 7 and body["text"].endswith("suppressed by this alert's rate limit)")
    assert "suppressed" not in json.loads(outgoing(url, new_delivery(url, envelope()), NOW).body)


def test_the_rate_limit_counts_in_minutes_since_the_epoch() -> None:
    assert domain.minute_of(NOW) == int(NOW.timestamp()) // 60
    assert domain.minute_of(NOW + timedelta(seconds=59)) == domain.minute_of(NOW)
    assert domain.minute_of(NOW + timedelta(seconds=60)) == domain.minute_of(NOW) + 1
