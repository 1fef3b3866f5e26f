"""Webhooks' domain: templates map a payload with no logic, secrets are checked by hash in
constant time, signatures hold only fresh and exact, and an alert's order id is deterministic."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from trading_system.kernel.errors import ValidationFailed
from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.kernel.signing import sign
from trading_system.strategies import webhooks
from trading_system.strategies.webhooks import (
    SIGNATURE_WINDOW_S,
    OrderTemplate,
    Webhook,
    WebhookDraft,
    idempotency_key,
    issue,
    order_fields,
    render,
    signature_problem,
    verifies,
)

NOW = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
PAYLOAD: dict[str, Any] = {
    "ticker": "AAPL",
    "close": 101.5,
    "volume": 1200,
    "strategy": {"order": {"action": "sell", "contracts": "2"}},
}


def hook(**order: str) -> Webhook:
    template = OrderTemplate(**{"symbol": "{{ticker}}", "side": "{{strategy.order.action}}", **order})
    webhook, _ = issue(WebhookDraft(name="tv", account_id="paper", order=template), "alice", "k1", NOW)
    return webhook


def test_placeholders_take_the_payload_values_as_text() -> None:
    assert render("{{ticker}}", PAYLOAD, "symbol") == "AAPL"
    assert render("{{ close }}", PAYLOAD, "limit_price") == "101.5"
    assert render("{{volume}}", PAYLOAD, "qty") == "1200"
    assert render("{{ticker}}-{{strategy.order.action}}", PAYLOAD, "idempotency_key") == "AAPL-sell"
    assert render("market", PAYLOAD, "type") == "market"  # a literal stays as it is


@pytest.mark.parametrize(
    ("template", "payload", "field"),
    [
        ("{{price}}", PAYLOAD, "body.price"),  # missing
        ("{{strategy.order.size}}", PAYLOAD, "body.strategy.order.size"),  # missing, nested
        ("{{ticker.name}}", PAYLOAD, "body.ticker.name"),  # a path through a text
        ("{{strategy}}", PAYLOAD, "body.strategy"),  # an object is not a value
        ("{{flag}}", {"flag": True}, "body.flag"),  # nor is a boolean
        ("{{empty}}", {"empty": None}, "body.empty"),
    ],
)
def test_a_missing_or_unfit_payload_field_is_a_422_naming_it(
    template: str, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        render(template, payload, "qty")
    assert [p.field for p in refused.value.problems] == [field]


@pytest.mark.parametrize(
    "text",
    ["{{ 1 + 1 }}", "{{ticker}", "{{__import__('os')}}", "{{a..b}}", "}}{{", "{{a|upper}}"],
)
def test_a_template_has_placeholders_and_nothing_else(text: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        OrderTemplate(symbol=text, side="buy")


def test_the_account_and_order_id_are_not_the_templates_to_set() -> None:
    with pytest.raises(ValidationError, match="account_id"):
        OrderTemplate(symbol="AAPL", side="buy", account_id="other")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="client_order_id"):
        OrderTemplate(symbol="AAPL", side="buy", client_order_id="x")  # type: ignore[call-arg]


def test_order_fields_follow_the_template() -> None:
    webhook = hook(qty="{{strategy.order.contracts}}", type="limit", limit_price="{{close}}")
    assert order_fields(webhook, PAYLOAD) == {
        "symbol": "AAPL",
        "side": "sell",
        "qty": "2",
        "type": "limit",
        "time_in_force": "day",
        "limit_price": "101.5",
    }


def test_the_secret_is_kept_hashed_and_checked() -> None:
    webhook, secret = issue(
        WebhookDraft(name="tv", account_id="paper", order=OrderTemplate(symbol="AAPL", side="buy")),
        "alice",
        "k1",
        NOW,
    )
    assert len(secret) >= 40 and secret not in webhook.model_dump_json()
    assert webhook.verifies(secret) and verifies(webhook, secret)
    assert not verifies(webhook, secret + "x") and not verifies(webhook, "") and not verifies(webhook, None)
    assert not verifies(None, secret)  # no such webhook: refused the same way


def test_a_webhook_is_its_creators_users_and_one_stored_before_users_the_first_admins() -> None:
    webhook = hook()
    assert (webhook.owner, webhook.created_by) == ("alice", "k1")
    stored = webhook.model_dump(mode="json")
    del stored["owner"]
    assert Webhook.model_validate(stored).owner == FIRST_ADMIN


def test_secrets_and_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    webhook, _ = issue(
        WebhookDraft(
            name="tv", account_id="paper", order=OrderTemplate(symbol="AAPL", side="buy"), signed=True
        ),
        "alice",
        "k1",
        NOW,
    )
    assert webhook.verifies("wrong") is False and len(compared) == 1
    assert verifies(None, "wrong") is False and len(compared) == 2  # an unknown id costs the same
    assert webhook.signing_key is not None
    ts = str(int(NOW.timestamp()))
    assert (
        signature_problem(webhook.signing_key, ts, "sha256=00", b"{}", NOW) == "the signature does not match"
    )
    assert len(compared) == 3


def test_a_signature_holds_only_exact_and_within_the_window() -> None:
    key, body = "k" * 43, b'{"ticker":"AAPL"}'
    ts = str(int(NOW.timestamp()))
    assert signature_problem(key, ts, sign(key, ts, body), body, NOW) is None
    assert signature_problem(key, ts, sign(key, ts, body), body + b" ", NOW) == "the signature does not match"
    assert signature_problem(key, ts, sign("other", ts, body), body, NOW) == "the signature does not match"
    # the timestamp is signed: moving it breaks the signature
    later = str(int(NOW.timestamp()) + 1)
    assert signature_problem(key, later, sign(key, ts, body), body, NOW) == "the signature does not match"
    # a replay outside the window is refused, even with its valid signature
    old = str(int((NOW - timedelta(seconds=SIGNATURE_WINDOW_S + 1)).timestamp()))
    assert "window" in (signature_problem(key, old, sign(key, old, body), body, NOW) or "")
    ahead = str(int((NOW + timedelta(seconds=SIGNATURE_WINDOW_S + 1)).timestamp()))
    assert "window" in (signature_problem(key, ahead, sign(key, ahead, body), body, NOW) or "")
    edge = str(int((NOW - timedelta(seconds=SIGNATURE_WINDOW_S)).timestamp()))
    assert signature_problem(key, edge, sign(key, edge, body), body, NOW) is None
    assert "missing" in (signature_problem(key, None, None, body, NOW) or "")
    assert "Unix seconds" in (signature_problem(key, "2026-12-04", "sha256=x", body, NOW) or "")


def test_the_client_order_id_is_deterministic_and_fits() -> None:
    webhook = hook(qty="1")
    key = idempotency_key(webhook, PAYLOAD)
    # key order and the secret field do not make another alert
    reordered = {"secret": "s", **dict(reversed(list(PAYLOAD.items())))}
    assert idempotency_key(webhook, reordered) == key
    first = webhook.client_order_id(key)
    assert first == webhook.client_order_id(key) and first.startswith(f"{webhook.webhook_id}-")
    assert len(first) == 48  # Trading's limit, used in full
    assert webhook.client_order_id(idempotency_key(webhook, {**PAYLOAD, "close": 1})) != first
    other = hook(qty="1")
    assert other.client_order_id(key) != first  # two webhooks never share an order
