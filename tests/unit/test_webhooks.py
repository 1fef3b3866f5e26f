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


def signal_hook(**template: Any) -> Webhook:
    draft = WebhookDraft.model_validate({"name": "tv", "scanner_id": "scn_1", "signal": template})
    webhook, _ = issue(draft, "alice", "k1", NOW)
    return webhook


def test_a_webhook_acts_on_an_account_or_on_a_scanner_never_both() -> None:
    order = {"symbol": "{{ticker}}", "side": "buy"}
    cases = [
        ({"account_id": "paper"}, "either `order`"),
        ({"account_id": "paper", "order": order, "scanner_id": "s", "signal": {}}, "either `order`"),
        ({"order": order}, "names `account_id`"),
        ({"account_id": "paper", "order": order, "scanner_id": "s"}, "names `account_id`"),
        ({"signal": {}}, "names `scanner_id`"),
        ({"scanner_id": "s", "signal": {}, "account_id": "paper"}, "names `scanner_id`"),
        ({"scanner_id": "s", "signal": {}, "idempotency_key": "{{id}}"}, "a signal webhook has none"),
    ]
    for body, words in cases:
        with pytest.raises(ValidationError, match=words):
            WebhookDraft.model_validate({"name": "tv", **body})
    with pytest.raises(ValidationError, match="rate_limit"):
        WebhookDraft.model_validate({"name": "tv", "scanner_id": "s", "signal": {}, "rate_limit": 101})
    draft = WebhookDraft.model_validate({"name": "tv", "scanner_id": "s", "signal": {}})
    assert draft.signal is not None and draft.signal.symbol == "{{ticker}}" and draft.rate_limit == 60
    assert issue(draft, "alice", "k1", NOW)[0].target == "scanner:s"
    assert hook().target == "account:paper"


def test_a_signal_takes_its_symbol_moment_and_numbers_from_the_payload() -> None:
    webhook = signal_hook(ts="{{time}}", values={"close": "{{close}}", "volume": "{{volume}}", "k": "2.5"})
    payload = {**PAYLOAD, "time": "2026-12-04T15:30:00Z"}
    fields = webhooks.signal_fields(webhook, payload)
    assert fields.symbol == "AAPL"
    assert fields.ts == datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    assert fields.values == {"close": 101.5, "volume": 1200.0, "k": 2.5}
    # No ts in the template: the moment is the receiver's (now).
    assert webhooks.signal_fields(signal_hook(), PAYLOAD).ts is None


@pytest.mark.parametrize(
    ("time", "moment"),
    [
        ("2026-12-04T15:30:00Z", datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),
        ("2026-12-04T10:30:00-05:00", datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),
        ("2026-12-04T15:30:00", datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),  # no zone: UTC
        ("1796398200", datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),  # Unix seconds
        ("1796398200000", datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),  # Unix milliseconds
        (1796398200, datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),  # a JSON number
    ],
)
def test_a_signals_moment_may_be_iso_or_unix(time: Any, moment: datetime) -> None:
    fields = webhooks.signal_fields(signal_hook(ts="{{time}}"), {"ticker": "AAPL", "time": time})
    assert fields.ts == moment


@pytest.mark.parametrize(
    ("template", "payload", "field"),
    [
        ({"ts": "{{time}}"}, {"ticker": "AAPL", "time": "yesterday"}, "body.time"),
        ({"ts": "{{time}}"}, {"ticker": "AAPL", "time": "99999999999999999999"}, "body.time"),
        ({"ts": "{{time}}"}, {"ticker": "AAPL"}, "body.time"),
        ({"values": {"close": "{{close}}"}}, {"ticker": "AAPL", "close": "n/a"}, "body.close"),
        ({"values": {"close": "{{close}}"}}, {"ticker": "AAPL", "close": "NaN"}, "body.close"),
        ({"values": {"close": "{{close}}"}}, {"ticker": "AAPL", "close": "inf"}, "body.close"),
        ({"values": {"close": "cheap"}}, {"ticker": "AAPL"}, "template.values.close"),
        ({}, {"symbol": "AAPL"}, "body.ticker"),
    ],
)
def test_a_payload_that_maps_to_no_signal_names_its_field(
    template: dict[str, Any], payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as failed:
        webhooks.signal_fields(signal_hook(**template), payload)
    assert failed.value.problems[0].field == field, failed.value


def test_the_rate_limits_window_is_the_minute() -> None:
    assert webhooks.minute_of(NOW) == int(NOW.timestamp()) // 60
    assert webhooks.retry_after_s(NOW) == 60  # 15:30:00: a whole minute to wait
    assert webhooks.retry_after_s(NOW + timedelta(seconds=59)) == 1
    assert webhooks.minute_of(NOW + timedelta(seconds=60)) == webhooks.minute_of(NOW) + 1
