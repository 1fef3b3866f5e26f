"""Alerts out through the HTTP API of the local app, delivered for real over loopback to a
receiver: a fill reaches a URL signed, a scanner's signals reach Slack and Discord as text, a
failing receiver is retried on the backoff until the delivery is dead-lettered (an event says
so), and a person retries it; another user's sources and alerts answer as unknown ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys, user_key
from tests.fakes.clock import MovableClock
from tests.fakes.receiver import Receiver
from tests.integration.test_analytics_scanning_api import daily
from trading_system.alerts import domain
from trading_system.alerts.commands import RetryDueDeliveries
from trading_system.alerts.events import AlertRetriesWaiting
from trading_system.alerts.handlers import retry_due_deliveries, send_alerts
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import Settings
from trading_system.kernel import kinds
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.documents import scan_all
from trading_system.kernel.messages import Envelope
from trading_system.kernel.principal import FIRST_ADMIN, Role
from trading_system.kernel.signing import signature_holds


@dataclass(frozen=True)
class Users:
    admin: dict[str, str]
    alice: dict[str, str]
    bob: dict[str, str]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def container(settings: Settings, clock: MovableClock) -> Container:
    return bootstrap(settings, clock=clock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def users(client: TestClient, container: Container) -> Users:
    users = Users(
        admin=user_key(container, Role.ADMIN, FIRST_ADMIN),
        alice=user_key(container, Role.TRADER, "alice"),
        bob=user_key(container, Role.TRADER, "bob"),
    )
    ok(client.post("/v1/symbols", json={"symbol": "MSFT", "tags": ["test"]}, headers=users.admin), 201)
    for owner in ("alice", "bob"):
        body = {"account_id": f"{owner}-acct", "starting_cash": "10000", "owner": owner}
        ok(client.post("/v1/accounts", json=body, headers=users.admin), 201)
    bars = {"timeframe": "1d", "symbol": "MSFT", "bars": daily(30, 1)}
    ok(client.post("/v1/bars", json=bars, headers=users.admin), 201)
    return users


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def create_alert(client: TestClient, headers: dict[str, str], target: dict[str, str], **draft: Any) -> Any:
    body = {"name": "my fills", "topic": "fills", "source_id": "alice-acct", "target": target, **draft}
    response = client.post("/v1/alerts", json=body, headers=headers)
    created = ok(response, 201)
    assert response.headers["location"] == f"/v1/alerts/{created['alert_id']}"
    return created


def buy(client: TestClient, headers: dict[str, str], qty: int = 1, account: str = "alice-acct") -> Any:
    order = {"account_id": account, "symbol": "MSFT", "side": "buy", "type": "market", "qty": qty}
    return ok(client.post("/v1/orders", json=order, headers=headers), 201)


def deliveries(client: TestClient, headers: dict[str, str], alert_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(f"/v1/alerts/{alert_id}/deliveries", headers=headers))[
        "deliveries"
    ]
    return found


def test_a_fill_reaches_its_url_signed_and_is_listed_delivered(
    client: TestClient, users: Users, receiver: Receiver, container: Container
) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url("/fills?token=abc")})
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) is None
    key = alert["signing_key"]
    assert key and alert["signed"] is True and alert["owner"] == "alice"
    # Listed without the key, the URL's path and query (often a secret) masked.
    listed = ok(client.get("/v1/alerts", headers=users.alice))
    assert listed == [{k: v for k, v in alert.items() if k != "signing_key"}]
    assert listed[0]["target"] == {"kind": "url", "url": f"http://{receiver.url('').split('//')[1]}/…"}

    order = buy(client, users.alice, qty=3)
    assert order["status"] == "filled"
    [sent] = receiver.received
    assert sent.path == "/fills?token=abc" and sent.headers["content-type"] == "application/json"
    signature, timestamp = sent.headers[domain.SIGNATURE_HEADER], sent.headers[domain.TIMESTAMP_HEADER]
    assert signature_holds(key, timestamp, sent.body, signature)
    body = json.loads(sent.body)
    assert (
        body["event"]["event_type"] == "OrderFilled" and body["event"]["payload"]["order_id"] == order["id"]
    )
    assert body["text"].startswith("my fills: filled buy 3 MSFT @ ")

    [listed_delivery] = deliveries(client, users.alice, alert["alert_id"])
    assert listed_delivery["status"] == "delivered" and listed_delivery["attempts"] == 1
    assert listed_delivery["delivery_id"] == body["delivery_id"] == sent.headers[domain.DELIVERY_HEADER]
    assert listed_delivery["last_status_code"] == 200 and listed_delivery["summary"] == body["text"][10:]

    # Another account's fills are not this alert's; delivered at once, nothing needs a schedule.
    buy(client, users.bob, account="bob-acct")
    assert len(receiver.received) == 1
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) is None


def test_a_failing_receiver_is_retried_on_the_backoff_then_dead_lettered_then_retried_by_hand(
    client: TestClient, users: Users, receiver: Receiver, container: Container, clock: MovableClock
) -> None:
    published: list[Envelope] = []
    container.bus.observers.append(published.append)
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()})
    receiver.answer(*[503] * domain.MAX_ATTEMPTS)
    buy(client, users.alice)  # the order is filled whatever the receiver says
    [delivery] = deliveries(client, users.alice, alert["alert_id"])
    assert (delivery["status"], delivery["attempts"]) == ("retrying", 1)
    assert delivery["last_error"].startswith("HTTP 503") and delivery["last_status_code"] == 503

    # A delivery waits: the retry schedule exists (and only then: nothing polls when all is well).
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) == domain.RETRY_SCHEDULE
    # Nothing is due before the first wait is over; each wait longer than the last.
    assert container.bus.execute(RetryDueDeliveries()).attempted == 0
    for wait in domain.BACKOFF:
        clock.move(wait - timedelta(seconds=1))
        assert container.bus.execute(RetryDueDeliveries()).attempted == 0
        clock.move(timedelta(seconds=1))
        assert container.bus.execute(RetryDueDeliveries()).attempted == 1
    [delivery] = deliveries(client, users.alice, alert["alert_id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", domain.MAX_ATTEMPTS)
    assert delivery["next_attempt_at"] is None and len(receiver.received) == domain.MAX_ATTEMPTS
    [failed] = [e for e in published if e.event_type == "AlertDeliveryFailed"]
    assert failed.payload["delivery_id"] == delivery["delivery_id"] and failed.payload["owner"] == "alice"
    clock.move(timedelta(days=1))
    assert container.bus.execute(RetryDueDeliveries()).attempted == 0  # dead: only a person retries
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) is None  # nothing waits: no schedule

    # The receiver is back: a person retries, and the same event goes out once more, same id.
    retried = ok(
        client.post(
            f"/v1/alerts/{alert['alert_id']}/deliveries/{delivery['delivery_id']}/retry", headers=users.alice
        )
    )
    assert (retried["status"], retried["attempts"]) == ("delivered", 1)
    first, last = receiver.received[0], receiver.received[-1]
    assert json.loads(first.body)["event"] == json.loads(last.body)["event"]
    assert last.headers[domain.DELIVERY_HEADER] == delivery["delivery_id"]


def test_a_receiver_that_is_gone_fails_at_once(client: TestClient, users: Users, receiver: Receiver) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()})
    receiver.answer(404)
    buy(client, users.alice)
    [delivery] = deliveries(client, users.alice, alert["alert_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 1, 404)


def test_a_scanners_signals_reach_slack_and_discord_as_text(
    client: TestClient, users: Users, receiver: Receiver
) -> None:
    scanner = {"name": "above zero", "rules": ["close > 0"], "universe": {"type": "tag", "tag": "test"}}
    scanner_id = ok(client.post("/v1/scanners", json=scanner, headers=users.alice), 201)["scanner_id"]
    for kind in ("slack", "discord"):
        target = {"kind": kind, "url": receiver.url(f"/{kind}")}
        created = create_alert(client, users.alice, target, topic="signals", source_id=scanner_id)
        assert created["signing_key"] is None and created["signed"] is False
    ok(client.post(f"/v1/scanners/{scanner_id}/runs", headers=users.alice), 201)
    by_path = {r.path: json.loads(r.body) for r in receiver.received}
    assert set(by_path) == {"/slack", "/discord"}
    assert by_path["/slack"]["text"].startswith("my fills: above zero signalled MSFT (1d)")
    assert by_path["/discord"]["content"] == by_path["/slack"]["text"]


def test_another_users_sources_and_alerts_answer_as_unknown_ones(
    client: TestClient, users: Users, receiver: Receiver, keys: Keys
) -> None:
    target = {"kind": "url", "url": receiver.url()}
    mine = create_alert(client, users.alice, target)

    def refused(source_id: str, topic: str = "fills") -> Any:
        body = {"name": "x", "topic": topic, "source_id": source_id, "target": target}
        return ok(client.post("/v1/alerts", json=body, headers=users.bob), 422)

    theirs, unknown = refused("alice-acct"), refused("no-such-acct")
    assert theirs["errors"][0]["field"] == "source_id"
    assert theirs["detail"].replace("alice-acct", "?") == unknown["detail"].replace("no-such-acct", "?")
    assert "account alice-acct does not exist" in theirs["detail"]
    assert "scanner s1 does not exist" in refused("s1", "signals")["detail"]
    assert "deployment d1 does not exist" in refused("d1", "deployment_paused")["detail"]

    alert_path = f"/v1/alerts/{mine['alert_id']}"
    delivery_path = f"{alert_path}/deliveries/0000000000000-{'0' * 32}/retry"
    for method, path in [
        ("GET", alert_path),
        ("GET", f"{alert_path}/deliveries"),
        ("DELETE", alert_path),
        ("POST", delivery_path),
    ]:
        other = client.request(method, path, headers=users.bob)
        missing = client.request(method, path.replace(mine["alert_id"], "al_000000000000"), headers=users.bob)
        assert other.status_code == missing.status_code == 404, (path, other.text)
        assert other.json()["detail"].replace(mine["alert_id"], "?") == missing.json()["detail"].replace(
            "al_000000000000", "?"
        )
    assert ok(client.get("/v1/alerts", headers=users.bob)) == []
    assert [a["alert_id"] for a in ok(client.get("/v1/alerts", headers=users.admin))] == [mine["alert_id"]]
    assert client.post("/v1/alerts", json={}, headers=keys.header("viewer")).status_code == 403


def test_bad_targets_are_refused_naming_the_field_and_nothing_is_kept(
    client: TestClient, users: Users, container: Container
) -> None:
    for target, field, words in [
        ({"kind": "email", "address": "me@example.com"}, "target.address", "TRADING_ALERTS_TOPIC_ARN"),
        ({"kind": "url", "url": "ftp://example.com"}, "target.url.url", "http:// or https://"),
        ({"kind": "pager", "url": "https://example.com"}, "target", "kind"),
    ]:
        body = {"name": "x", "topic": "fills", "source_id": "alice-acct", "target": target}
        problem = ok(client.post("/v1/alerts", json=body, headers=users.alice), 422)
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
        assert words in json.dumps(problem), problem
    assert scan_all(container.store, kinds.ALERTS) == []


def test_the_same_event_twice_is_one_delivery(
    client: TestClient, users: Users, receiver: Receiver, container: Container
) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()})
    buy(client, users.alice)
    [sent] = receiver.received
    envelope = Envelope.model_validate(json.loads(sent.body)["event"])
    # The bus's inbox stops most repeats; the delivery's own id stops the rest (another process).
    send_alerts(
        envelope.open(),  # type: ignore[arg-type]
        alerts=container.alerts,
        deliveries=container.deliveries,
        alert_channels=container.alert_channels,
        alert_timetable=container.alert_timetable,
        clock=container.clock,
        context=MessageContext(envelope=envelope),
    )
    assert len(receiver.received) == 1 and len(deliveries(client, users.alice, alert["alert_id"])) == 1


def test_a_deleted_alert_sends_nothing_more_and_leaves_nothing(
    client: TestClient, users: Users, receiver: Receiver, container: Container
) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()})
    receiver.answer(503)
    buy(client, users.alice)
    assert client.delete(f"/v1/alerts/{alert['alert_id']}", headers=users.alice).status_code == 204
    buy(client, users.alice)
    assert len(receiver.received) == 1
    assert client.get(f"/v1/alerts/{alert['alert_id']}/deliveries", headers=users.alice).status_code == 404
    for kind in (kinds.ALERTS, kinds.ALERT_RETRIES, f"{kinds.ALERT_DELIVERIES}:{alert['alert_id']}"):
        assert scan_all(container.store, kind) == [], kind


def test_a_delivery_queued_as_the_retry_run_removes_its_schedule_gets_it_back(
    container: Container, clock: MovableClock
) -> None:
    class Racing:
        """The store, but a delivery is queued between the run's look and its removal."""

        def __init__(self) -> None:
            self.looks = iter([False, True])

        def due(self, now: Any, limit: int = 100) -> list[Any]:
            return []

        def any_waiting(self) -> bool:
            return next(self.looks)

    container.alert_timetable.set(domain.RETRY_QUEUE, domain.RETRY_SCHEDULE)
    handled = retry_due_deliveries(
        RetryDueDeliveries(),
        alerts=container.alerts,
        deliveries=Racing(),  # type: ignore[arg-type]
        alert_channels=container.alert_channels,
        alert_timetable=container.alert_timetable,
        clock=clock,
    )
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) is None
    [asked] = handled.events
    assert isinstance(asked, AlertRetriesWaiting)
    # Published, it reaches the sender, which may make the schedule (the run may only remove it).
    assert container.bus.deliver("send_alerts", Envelope.wrap(asked, producer="test", correlation_id="c"))
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) == domain.RETRY_SCHEDULE


def test_a_delivery_made_as_its_alert_was_deleted_is_dropped_by_the_retry_run(
    client: TestClient, users: Users, receiver: Receiver, container: Container, clock: MovableClock
) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()})
    receiver.answer(503)
    buy(client, users.alice)
    # As when a sender read the alert just before the delete and wrote its delivery just after.
    stored = container.alerts.get(alert["alert_id"])
    assert stored is not None
    container.alerts.delete(stored)
    clock.move(domain.BACKOFF[0])
    assert container.bus.execute(RetryDueDeliveries()).attempted == 0
    assert len(receiver.received) == 1
    for kind in (kinds.ALERT_RETRIES, f"{kinds.ALERT_DELIVERIES}:{alert['alert_id']}"):
        assert scan_all(container.store, kind) == [], kind
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) is None


def test_beyond_its_rate_limit_an_alert_throttles_and_its_next_minute_says_how_many(
    client: TestClient, users: Users, receiver: Receiver, container: Container, clock: MovableClock
) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()}, rate_limit=3)
    assert alert["rate_limit"] == 3
    assert ok(client.get(f"/v1/alerts/{alert['alert_id']}", headers=users.alice))["rate_limit"] == 3
    for _ in range(5):  # one minute (the clock stands still): 3 sent, 2 throttled
        buy(client, users.alice)
    assert len(receiver.received) == 3
    listed = deliveries(client, users.alice, alert["alert_id"])
    assert sorted(d["status"] for d in listed) == ["delivered"] * 3 + ["throttled"] * 2
    throttled = [d for d in listed if d["status"] == "throttled"]
    assert all(d["attempts"] == 0 and d["next_attempt_at"] is None for d in throttled)
    assert all(json.loads(r.body).get("suppressed") is None for r in receiver.received)
    # Never retried by the schedule: nothing waits.
    assert container.alert_timetable.expression(domain.RETRY_QUEUE) is None
    assert not container.deliveries.any_waiting()

    clock.move(timedelta(minutes=1))
    buy(client, users.alice)
    body = json.loads(receiver.received[-1].body)
    assert body["suppressed"] == 2
    assert body["text"].endswith("(and 2 more alerts were suppressed by this alert's rate limit)")
    newest = deliveries(client, users.alice, alert["alert_id"])[0]
    assert (newest["status"], newest["suppressed"]) == ("delivered", 2)
    buy(client, users.alice)  # the stretch is told once
    assert "suppressed" not in json.loads(receiver.received[-1].body)

    # A throttled delivery retried by hand counts against the limit: the third of this minute goes,
    # a fourth is refused with a 429 and stays throttled.
    first, second = throttled
    path = f"/v1/alerts/{alert['alert_id']}/deliveries"
    retried = ok(client.post(f"{path}/{first['delivery_id']}/retry", headers=users.alice))
    assert retried["status"] == "delivered" and len(receiver.received) == 6
    refused = client.post(f"{path}/{second['delivery_id']}/retry", headers=users.alice)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1, refused.text
    still = [
        d
        for d in deliveries(client, users.alice, alert["alert_id"])
        if d["delivery_id"] == second["delivery_id"]
    ]
    assert still[0]["status"] == "throttled" and len(receiver.received) == 6


def test_the_rate_limit_holds_across_containers_sharing_one_store(
    client: TestClient, users: Users, receiver: Receiver, settings: Settings, clock: MovableClock
) -> None:
    alert = create_alert(client, users.alice, {"kind": "url", "url": receiver.url()}, rate_limit=4)
    buy(client, users.alice)  # one of the minute's 4, and an event to copy
    event = Envelope.model_validate(json.loads(receiver.received[0].body)["event"])
    # Two processes (two Lambda invocations) on the same store, each sent its own events at once.
    containers = [bootstrap(settings, clock=clock) for _ in range(2)]

    def send(n: int) -> None:
        container = containers[n % 2]
        copy = event.model_copy(update={"event_id": UUID(int=n + 1)})
        send_alerts(
            copy.open(),  # type: ignore[arg-type]
            alerts=container.alerts,
            deliveries=container.deliveries,
            alert_channels=container.alert_channels,
            alert_timetable=container.alert_timetable,
            clock=container.clock,
            context=MessageContext(envelope=copy),
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, range(12)))
    assert len(receiver.received) == 4
    statuses = [d["status"] for d in deliveries(client, users.alice, alert["alert_id"])]
    assert sorted(statuses) == ["delivered"] * 4 + ["throttled"] * 9


def test_a_bad_rate_limit_is_a_422_naming_it(client: TestClient, users: Users, container: Container) -> None:
    for bad in (0, 601, "fast"):
        body = {
            "name": "x",
            "topic": "fills",
            "source_id": "alice-acct",
            "target": {"kind": "url", "url": "https://example.com/in"},
            "rate_limit": bad,
        }
        problem = ok(client.post("/v1/alerts", json=body, headers=users.alice), 422)
        assert [e["field"] for e in problem["errors"]] == ["rate_limit"], problem
    assert scan_all(container.store, kinds.ALERTS) == []
