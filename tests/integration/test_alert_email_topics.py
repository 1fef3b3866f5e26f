"""E-mail alerts made before owners had topics, moved to their owner's (`trading alerts
move-email`), and the owners' topics removed after the stack (`trading alerts remove-topics`):
SNS on moto's server, the alerts in memory."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.aws_fixtures import aws_env, boto_client, moto_url, unique_name
from trading_system.adapters.alert_channels import Channels, HttpChannel, SnsEmailChannel, owner_topic_arn
from trading_system.alerts.commands import MoveEmailAlerts
from trading_system.alerts.domain import Alert, AlertDraft, EmailTarget, Topic, UrlTarget, create
from trading_system.alerts.handlers import move_email_alerts
from trading_system.config import Settings
from trading_system.entrypoints.cli import app
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.principal import Principal, Role

__all__ = ["aws_env", "moto_url"]  # fixtures this module uses

NOW = dt.datetime(2026, 12, 6, 14, 30, tzinfo=dt.UTC)
ADMIN = MessageContext(principal=Principal(key_id="k_admin", role=Role.ADMIN, user="u_admin"))


class MemoryAlerts:
    """The Alerts port, in a dict (the store's own behaviour is tests/contract/test_alert_store.py's)."""

    def __init__(self) -> None:
        self.by_id: dict[str, Alert] = {}

    def get(self, alert_id: str) -> Alert | None:
        return self.by_id.get(alert_id)

    def add(self, alert: Alert) -> None:
        assert alert.alert_id not in self.by_id
        self.by_id[alert.alert_id] = alert

    def delete(self, alert: Alert) -> None:
        self.by_id.pop(alert.alert_id, None)

    def replace(self, alert: Alert) -> None:
        if alert.alert_id not in self.by_id:
            raise ConcurrencyConflict(f"alert {alert.alert_id} does not exist")
        self.by_id[alert.alert_id] = alert

    def subscribed(self, topic: Topic, source_id: str) -> list[Alert]:
        return [a for a in self.by_id.values() if (a.draft.topic, a.draft.source_id) == (topic, source_id)]

    def list(self) -> list[Alert]:
        return list(self.by_id.values())


@pytest.fixture
def sns(moto_url: str) -> Any:
    return boto_client("sns", moto_url)


@pytest.fixture
def topic(sns: Any) -> str:
    return str(sns.create_topic(Name=unique_name("alerts"))["TopicArn"])


@pytest.fixture
def channels(moto_url: str, topic: str) -> Channels:
    settings = Settings(runtime="aws", aws_endpoint_url=moto_url, alerts_topic_arn=topic)
    return Channels(HttpChannel(allow_private=False), SnsEmailChannel.from_settings(settings))


def legacy_alert(sns: Any, topic: str, owner: str, address: str, alert_ids: list[str]) -> Alert:
    """An e-mail alert as the shared topic had them: the address's one subscription on the
    platform topic, its filter listing every owner's alerts to it."""
    arn = sns.subscribe(
        TopicArn=topic,
        Protocol="email",
        Endpoint=address,
        Attributes={"FilterPolicy": json.dumps({"alert_id": alert_ids})},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    draft = AlertDraft(name="Dip", topic=Topic.SIGNALS, source_id="sc_1", target=EmailTarget(address=address))
    alert = create(draft, owner=owner, created_by="k_1", now=NOW)
    return alert.model_copy(update={"channel_ref": f"{arn}#{alert.alert_id}"})


def email_subscriptions(sns: Any, topic: str) -> list[dict[str, Any]]:
    return [
        s
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if s["Protocol"] == "email"
    ]


def filter_of(sns: Any, arn: str) -> Any:
    return json.loads(sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicy"])


def test_shared_topic_alerts_move_to_their_owners_topics_and_ask_again(
    sns: Any, topic: str, channels: Channels
) -> None:
    alerts = MemoryAlerts()
    a = legacy_alert(sns, topic, "u_a", "shared@example.com", [])
    b = legacy_alert(sns, topic, "u_b", "shared@example.com", [])
    # The shared subscription lists both owners' alerts: the defect being undone.
    [shared] = email_subscriptions(sns, topic)
    sns.set_subscription_attributes(
        SubscriptionArn=shared["SubscriptionArn"],
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"alert_id": [a.alert_id, b.alert_id]}),
    )
    url_draft = AlertDraft(
        name="Hook", topic=Topic.FILLS, source_id="acc", target=UrlTarget(url="https://x.example/")
    )
    hook = create(url_draft, owner="u_a", created_by="k_1", now=NOW)
    for alert in (a, b, hook):
        alerts.add(alert)

    result = move_email_alerts(MoveEmailAlerts(), alerts, channels, ADMIN).result

    assert sorted(result.moved) == sorted([a.alert_id, b.alert_id]) and result.failed == {}
    assert email_subscriptions(sns, topic) == []  # the shared subscription is gone
    for old, owner in ((a, "u_a"), (b, "u_b")):
        moved = alerts.get(old.alert_id)
        assert moved is not None and moved.model_copy(update={"channel_ref": old.channel_ref}) == old
        [subscription] = email_subscriptions(sns, owner_topic_arn(topic, owner))  # a new one: confirmed anew
        assert moved.channel_ref == f"{subscription['SubscriptionArn']}#{old.alert_id}"
        assert filter_of(sns, subscription["SubscriptionArn"]) == {"alert_id": [old.alert_id]}
    assert alerts.get(hook.alert_id) == hook

    again = move_email_alerts(MoveEmailAlerts(), alerts, channels, ADMIN).result
    assert again.moved == [] and again.failed == {}  # moved already: left as they are


def test_a_user_moves_only_their_own_alerts(sns: Any, topic: str, channels: Channels) -> None:
    alerts = MemoryAlerts()
    mine = legacy_alert(sns, topic, "u_a", "a@example.com", [])
    theirs = legacy_alert(sns, topic, "u_b", "b@example.com", [])
    alerts.add(mine)
    alerts.add(theirs)
    user = MessageContext(principal=Principal(key_id="k_a", role=Role.TRADER, user="u_a"))

    result = move_email_alerts(MoveEmailAlerts(), alerts, channels, user).result

    assert result.moved == [mine.alert_id]
    assert alerts.get(theirs.alert_id) == theirs


def test_an_alert_deleted_while_it_is_moved_stays_deleted(sns: Any, topic: str, channels: Channels) -> None:
    alerts = MemoryAlerts()
    doomed = legacy_alert(sns, topic, "u_a", "a@example.com", [])
    alerts.add(doomed)
    subscribe = channels.register

    def register_while_deleted(alert_id: str, target: Any, owner: str) -> str:
        ref = subscribe(alert_id, target, owner)
        alerts.delete(doomed)  # its owner deletes it between the subscribe and the write
        return ref

    channels.register = register_while_deleted  # type: ignore[method-assign]
    result = move_email_alerts(MoveEmailAlerts(), alerts, channels, ADMIN).result

    assert result.moved == [] and result.failed == {doomed.alert_id: "deleted while it was being moved"}
    assert alerts.get(doomed.alert_id) is None
    assert email_subscriptions(sns, owner_topic_arn(topic, "u_a")) == []  # the new subscription undone


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def aws_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_url: str, topic: str) -> None:
    monkeypatch.chdir(tmp_path)  # no trading.toml from the working directory
    for variable in [v for v in os.environ if v.startswith("TRADING_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("TRADING_ALERTS_TOPIC_ARN", topic)


def trading(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_remove_topics_lists_then_deletes_the_owners_topics(
    aws_cli: None, sns: Any, topic: str, channels: Channels
) -> None:
    for owner in ("u_a", "u_b"):
        channels.register(f"al_{owner}", EmailTarget(address="t@example.com"), owner)
    made = sorted(owner_topic_arn(topic, owner) for owner in ("u_a", "u_b"))

    assert sorted(json.loads(trading("alerts", "remove-topics"))["found"]) == made
    assert {t["TopicArn"] for t in sns.list_topics()["Topics"]} >= set(made)  # listing deletes nothing

    assert sorted(json.loads(trading("alerts", "remove-topics", "--yes"))["removed"]) == made
    listed = {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert not listed & set(made) and topic in listed


def test_remove_topics_needs_the_alerts_topic(aws_cli: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADING_ALERTS_TOPIC_ARN")

    assert "TRADING_ALERTS_TOPIC_ARN" in trading("alerts", "remove-topics", code=2)


def test_move_email_answers_what_it_moved(aws_cli: None) -> None:
    assert json.loads(trading("alerts", "move-email")) == {"moved": [], "failed": {}}


class RecordedDeliveries:
    def __init__(self) -> None:
        self.put_ones: list[Any] = []

    def put(self, delivery: Any) -> None:
        self.put_ones.append(delivery)


class StillClock:
    def now(self) -> dt.datetime:
        return NOW


def test_an_alert_not_moved_fails_its_delivery_saying_why_and_publishes_nothing(
    sns: Any, topic: str, channels: Channels
) -> None:
    from trading_system.alerts import handlers
    from trading_system.alerts.domain import NOT_MOVED, new_delivery
    from trading_system.kernel.messages import Envelope

    alert = legacy_alert(sns, topic, "u_a", "a@example.com", [])
    signal = Envelope(
        event_type="SignalDetected",
        version=1,
        correlation_id="c",
        producer="test",
        payload={"scanner_id": "sc_1", "symbol": "AAPL"},
    )
    channels.register("al_other", EmailTarget(address="b@example.com"), "u_a")  # u_a's topic exists
    published: list[dict[str, Any]] = []
    real_publish = channels._email().client.publish
    channels._email().client.publish = lambda **kw: published.append(kw) or real_publish(**kw)
    recorded = RecordedDeliveries()

    handlers._attempt(alert, new_delivery(alert, signal), recorded, channels, None, StillClock())  # type: ignore[arg-type]

    [failed] = recorded.put_ones
    assert (failed.status, failed.last_error) == ("failed", NOT_MOVED)
    assert published == []  # on u_a's topic it would have reached nobody, yet read "delivered"
