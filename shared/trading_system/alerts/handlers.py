"""Creating, listing and deleting alerts; sending their deliveries and trying again.

A failing receiver is the alert's business, not the bus's: `send_alerts` records each delivery's
outcome and never raises for a target's failure, or the bus would redeliver the event to every
alert, the working ones included. A delivery is written, with the time of its next attempt,
before it is sent, so a crash between the two leaves it for the schedule, never lost.

The retry schedule runs only while something waits: whoever leaves a delivery waiting (a failed
attempt, or an event redelivered after a crash mid-send) makes sure it exists, and the run that
finds nothing waiting removes it, then looks once more: a delivery queued in between gets the
schedule back through the sender (AlertRetriesWaiting), so it is not stranded.

Each alert's rate limit counts the deliveries first sent (and those retried by hand) in each
minute, in the write store, so it holds across concurrent invocations; a delivery beyond it is
recorded as `throttled` and not sent, and the alert's next delivery sent carries how many were
throttled since the last one (domain.suppressed_note). Automatic retries of a delivery already
counted are not counted again. A throttled delivery retried by hand counts against the limit: when
the minute's allowance is spent, the retry answers 429 and the delivery stays throttled.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from trading_system.alerts import domain
from trading_system.alerts.commands import (
    CreateAlert,
    DeleteAlert,
    MoveEmailAlerts,
    RetryDelivery,
    RetryDueDeliveries,
)
from trading_system.alerts.domain import Alert, Delivery, Target, Topic
from trading_system.alerts.events import AlertDeliveryFailed, AlertRetriesWaiting
from trading_system.alerts.ports import AlertChannels, Alerts, Deliveries
from trading_system.alerts.queries import GetAlert, ListAlerts, ListDeliveries
from trading_system.kernel.bus import Handled, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import (
    ConcurrencyConflict,
    DomainError,
    NotFound,
    Problem,
    RateLimited,
    ValidationFailed,
)
from trading_system.kernel.messages import Event
from trading_system.kernel.principal import visible
from trading_system.kernel.timetable import Timetable

if TYPE_CHECKING:  # the bus hands `send_alerts` envelopes by name: only the checker needs these
    from trading_system.scanning.events import SignalDetected
    from trading_system.strategies.events import DeploymentPaused
    from trading_system.trading.events import AccountHalted, OrderFilled, OrderRejected

log = logging.getLogger(__name__)

# How long an attempt under way keeps others off its delivery: a crash mid-send is retried then.
LEASE = timedelta(minutes=2)


class AlertView(BaseModel):
    """An alert as listed: its target's secrets (a chat webhook's path is its key) masked, and
    never its signing key."""

    alert_id: str
    name: str
    topic: Topic
    source_id: str
    target: dict[str, str]
    owner: str
    created_at: str
    created_by: str
    signed: bool = Field(description="URL targets: each request carries an HMAC signature")
    rate_limit: int = Field(description="deliveries a minute it sends; beyond them, throttled")

    @classmethod
    def of(cls, alert: Alert) -> AlertView:
        return cls(
            alert_id=alert.alert_id,
            name=alert.draft.name,
            topic=alert.draft.topic,
            source_id=alert.draft.source_id,
            target=_masked(alert.draft.target),
            owner=alert.owner,
            created_at=alert.created_at.isoformat(),
            created_by=alert.created_by,
            signed=alert.signing_key is not None,
            rate_limit=alert.draft.rate_limit,
        )


class IssuedAlert(AlertView):
    """What creating an alert answers, once."""

    signing_key: str | None = Field(
        default=None,
        description="URL targets: the key of the `x-alert-signature` HMAC; shown only now",
    )


class DeliveryView(BaseModel):
    delivery_id: str
    alert_id: str
    event_id: str
    event_type: str
    occurred_at: str
    summary: str
    status: domain.Status
    attempts: int
    last_error: str | None
    last_status_code: int | None
    next_attempt_at: str | None
    delivered_at: str | None
    suppressed: int = Field(description="deliveries throttled before this one, which it mentions")

    @classmethod
    def of(cls, alert: Alert, delivery: Delivery) -> DeliveryView:
        return cls(
            delivery_id=delivery.delivery_id,
            alert_id=delivery.alert_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            occurred_at=delivery.occurred_at.isoformat(),
            summary=domain.describe(alert.draft.topic, delivery.envelope.get("payload", {})),
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            last_status_code=delivery.last_status_code,
            next_attempt_at=delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
            delivered_at=delivery.delivered_at.isoformat() if delivery.delivered_at else None,
            suppressed=delivery.suppressed,
        )


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryView]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last")


class RetryReport(BaseModel):
    attempted: int
    delivered: int
    failed: int


def _masked(target: Target) -> dict[str, str]:
    if isinstance(target, domain.EmailTarget):
        return {"kind": target.kind, "address": target.address}
    scheme, _, rest = target.url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return {"kind": target.kind, "url": f"{scheme}://{host}/…"}


def create_alert(
    cmd: CreateAlert,
    alerts: Alerts,
    alert_channels: AlertChannels,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
) -> Handled[IssuedAlert]:
    draft = cmd.draft
    _require_own_source(draft.topic, draft.source_id, bus, context)
    refused = alert_channels.refusal(draft.target)
    if refused is not None:
        field = "target.address" if isinstance(draft.target, domain.EmailTarget) else "target.url"
        raise ValidationFailed(refused, [Problem(refused, field=field)])
    alert = domain.create(draft, context.principal.user, context.principal.key_id, clock.now())
    alert = alert.model_copy(
        update={"channel_ref": alert_channels.register(alert.alert_id, draft.target, alert.owner)}
    )
    try:
        alerts.add(alert)
    except Exception:
        alert_channels.unregister(alert.channel_ref, draft.target)  # nothing half-made
        raise
    return Handled(IssuedAlert(**AlertView.of(alert).model_dump(), signing_key=alert.signing_key))


def _require_own_source(topic: Topic, source_id: str, bus: MessageBus, context: MessageContext) -> None:
    """The source is the caller's (an admin's: anyone's); another user's answers as an unknown one.
    Reading an account is not enough: an alert outlives a reader's grant."""
    # Imported here: only creating an alert asks another context, and their query modules (and
    # what those import) were a fifth of every Alerts function's cold import.
    from trading_system.scanning.queries import GetScanner
    from trading_system.strategies.queries import GetDeployment
    from trading_system.trading.queries import GetAccount

    question: Any
    if topic is Topic.SIGNALS:
        question = GetScanner(scanner_id=source_id)
    elif topic is Topic.DEPLOYMENT_PAUSED:
        question = GetDeployment(deployment_id=source_id)
    else:
        question = GetAccount(account_id=source_id)
    try:
        owner: str | None = bus.ask(question, context).owner
    except NotFound:
        owner = None
    if owner is None or not context.principal.owns(owner):
        reason = (
            f"{topic.source_kind} {source_id} does not exist ({topic.value} come from a {topic.source_kind})"
        )
        raise ValidationFailed(reason, [Problem(reason, field="source_id", value=source_id)])


def _visible_alert(alerts: Alerts, alert_id: str, context: MessageContext) -> Alert:
    return visible(context.principal, alerts.get(alert_id), f"no alert {alert_id}", "alert_id")


def list_alerts(query: ListAlerts, alerts: Alerts, context: MessageContext) -> list[AlertView]:
    mine = [a for a in alerts.list() if context.principal.owns(a.owner)]
    return [AlertView.of(a) for a in sorted(mine, key=lambda a: a.created_at, reverse=True)]


def get_alert(query: GetAlert, alerts: Alerts, context: MessageContext) -> AlertView:
    return AlertView.of(_visible_alert(alerts, query.alert_id, context))


def delete_alert(
    cmd: DeleteAlert,
    alerts: Alerts,
    deliveries: Deliveries,
    alert_channels: AlertChannels,
    context: MessageContext,
) -> Handled[None]:
    alert = _visible_alert(alerts, cmd.alert_id, context)
    alerts.delete(alert)  # first: no event finds it any more
    deliveries.drop_all(alert.alert_id)
    try:
        alert_channels.unregister(alert.channel_ref, alert.draft.target)
    except DomainError as error:
        # Nothing is published for a deleted alert, so a subscription left behind receives nothing:
        # the delete stands, and the leftover is logged for an operator.
        log.warning("alert %s deleted, but its channel was not undone: %s", alert.alert_id, error)
    return Handled(None)


class MovedEmailAlerts(BaseModel):
    """The e-mail alerts moved to their owner's topic (their addresses asked to confirm there),
    and those that could not be, with why (moving them again tries those only)."""

    moved: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


def move_email_alerts(
    cmd: MoveEmailAlerts, alerts: Alerts, alert_channels: AlertChannels, context: MessageContext
) -> Handled[MovedEmailAlerts]:
    """Until moved, an alert of the shared topic sends nothing: its owner's topic is where its
    messages go, and its address has not confirmed there (consent is per owner, so never carried
    over). The alert is stored again with its new channel ref, in one write (an event meanwhile
    finds it, old or new), then its old subscription is undone. An alert deleted while it was
    being moved stays deleted, and its new subscription is undone."""
    result = MovedEmailAlerts()
    for alert in alerts.list():
        target = alert.draft.target
        if not isinstance(target, domain.EmailTarget) or not context.principal.owns(alert.owner):
            continue
        if alert_channels.registered_for(alert.channel_ref, target, alert.owner):
            continue
        try:
            ref = alert_channels.register(alert.alert_id, target, alert.owner)
        except DomainError as error:
            result.failed[alert.alert_id] = str(error)
            continue
        try:
            alerts.replace(alert.model_copy(update={"channel_ref": ref}))
        except ConcurrencyConflict:
            alert_channels.unregister(ref, target)
            result.failed[alert.alert_id] = "deleted while it was being moved"
            continue
        except Exception:
            alert_channels.unregister(ref, target)  # the alert as it was, its old subscription in place
            raise
        try:
            alert_channels.unregister(alert.channel_ref, target)
        except DomainError as error:
            # Nothing is published on the shared topic any more: a leftover subscription gets nothing.
            log.warning("alert %s moved, but its old subscription was not undone: %s", alert.alert_id, error)
        result.moved.append(alert.alert_id)
    return Handled(result)


def list_alert_deliveries(
    query: ListDeliveries, alerts: Alerts, deliveries: Deliveries, context: MessageContext
) -> DeliveryPage:
    alert = _visible_alert(alerts, query.alert_id, context)
    page = deliveries.of(alert.alert_id, after=query.after, limit=query.limit + 1)
    more = len(page) > query.limit
    page = page[: query.limit]
    return DeliveryPage(
        deliveries=[DeliveryView.of(alert, d) for d in page],
        next_after=page[-1].delivery_id if more else None,
    )


def send_alerts(
    event: SignalDetected
    | OrderFilled
    | OrderRejected
    | AccountHalted
    | DeploymentPaused
    | AlertRetriesWaiting,
    alerts: Alerts,
    deliveries: Deliveries,
    alert_channels: AlertChannels,
    alert_timetable: Timetable,
    clock: Clock,
    context: MessageContext,
) -> Handled[None]:
    if isinstance(event, AlertRetriesWaiting):
        _schedule_retries(alert_timetable)
        return Handled(None)
    envelope = context.envelope
    if envelope is None:  # its id makes the deliveries: inventing one would send the event twice
        raise ValueError("send_alerts runs on the bus (bus.deliver), which hands it the envelope")
    topic = domain.TOPICS_BY_EVENT[envelope.event_type]
    source_id = str(envelope.payload.get(topic.source_field, ""))
    failed: list[Event] = []
    for alert in alerts.subscribed(topic, source_id):
        now = clock.now()
        delivery = domain.new_delivery(alert, envelope).model_copy(update={"next_attempt_at": now + LEASE})
        try:
            deliveries.put(delivery, if_absent=True)
        except ConcurrencyConflict:
            # The event came again (a crash mid-send, a redelivery): its delivery is made; if it
            # still waits, the schedule tries it.
            _schedule_retries(alert_timetable)
            continue
        admitted = _admitted(alert, delivery, deliveries, now)
        if admitted is None:
            deliveries.note_throttled(alert.alert_id, domain.minute_of(now), delivery.delivery_id)
            deliveries.put(domain.throttled(delivery, now))
            continue
        delivery = admitted
        failed += _attempt(alert, delivery, deliveries, alert_channels, alert_timetable, clock)
    return Handled(None, tuple(failed))


def retry_delivery(
    cmd: RetryDelivery,
    alerts: Alerts,
    deliveries: Deliveries,
    alert_channels: AlertChannels,
    alert_timetable: Timetable,
    clock: Clock,
    context: MessageContext,
) -> Handled[DeliveryView]:
    alert = _visible_alert(alerts, cmd.alert_id, context)
    found = deliveries.get(alert.alert_id, cmd.delivery_id)
    if found is None:
        raise NotFound(f"alert {alert.alert_id} has no delivery {cmd.delivery_id}", field="delivery_id")
    now = clock.now()
    delivery = domain.retried_by_hand(found).model_copy(update={"next_attempt_at": now + LEASE})
    if found.status == "throttled":
        admitted = _admitted(alert, delivery, deliveries, now, save=False)
        if admitted is None:
            raise RateLimited(
                f"alert {alert.alert_id} has sent its {alert.draft.rate_limit} deliveries this minute",
                retry_after_s=60 - now.second,
            )
        delivery = admitted
    deliveries.put(delivery)
    events = _attempt(alert, delivery, deliveries, alert_channels, alert_timetable, clock)
    latest = deliveries.get(alert.alert_id, cmd.delivery_id) or delivery
    return Handled(DeliveryView.of(alert, latest), tuple(events))


def retry_due_deliveries(
    cmd: RetryDueDeliveries,
    alerts: Alerts,
    deliveries: Deliveries,
    alert_channels: AlertChannels,
    alert_timetable: Timetable,
    clock: Clock,
) -> Handled[RetryReport]:
    attempted = delivered = failed = 0
    events: list[Event] = []
    found: dict[str, Alert | None] = {}
    for due in deliveries.due(clock.now(), cmd.limit):
        if due.alert_id not in found:
            found[due.alert_id] = alerts.get(due.alert_id)
        alert = found[due.alert_id]
        if alert is None:  # deleted while this delivery was being made: it goes the way of the rest
            deliveries.discard(due)
            continue
        leased = due.model_copy(update={"next_attempt_at": clock.now() + LEASE})
        deliveries.put(leased)
        outcome = _attempt(alert, leased, deliveries, alert_channels, alert_timetable, clock)
        attempted += 1
        events += outcome
        after = deliveries.get(alert.alert_id, due.delivery_id)
        delivered += after is not None and after.status == "delivered"
        failed += bool(outcome)
    if not deliveries.any_waiting():
        alert_timetable.remove(domain.RETRY_QUEUE)
        if deliveries.any_waiting():  # queued between the look and the removal: start it again
            events.append(AlertRetriesWaiting())
    return Handled(RetryReport(attempted=attempted, delivered=delivered, failed=failed), tuple(events))


def _admitted(
    alert: Alert, delivery: Delivery, deliveries: Deliveries, now: datetime, *, save: bool = True
) -> Delivery | None:
    """The delivery, when the alert's rate limit lets it go this minute (carrying, and saved with,
    how many were throttled before it), or None when the minute's allowance is spent."""
    admitted, suppressed = deliveries.admit(alert.alert_id, domain.minute_of(now), alert.draft.rate_limit)
    if not admitted:
        return None
    if suppressed:
        delivery = delivery.model_copy(update={"suppressed": suppressed})
        if save:
            deliveries.put(delivery)
    return delivery


def _schedule_retries(timetable: Timetable) -> None:
    if timetable.expression(domain.RETRY_QUEUE) != domain.RETRY_SCHEDULE:
        timetable.set(domain.RETRY_QUEUE, domain.RETRY_SCHEDULE)


def _attempt(
    alert: Alert,
    delivery: Delivery,
    deliveries: Deliveries,
    channels: AlertChannels,
    timetable: Timetable,
    clock: Clock,
) -> list[Event]:
    """One try, its outcome recorded; the failure event when the delivery is dead-lettered."""
    if channels.registered_for(alert.channel_ref, alert.draft.target, alert.owner):
        outcome = channels.send(domain.outgoing(alert, delivery, clock.now()))
    else:  # published on its owner's topic, it would reach nobody and still read "delivered"
        outcome = domain.Attempt(ok=False, error=domain.NOT_MOVED, retryable=False)
    after = domain.after_attempt(delivery, outcome, clock.now())
    deliveries.put(after)
    if after.status == "retrying":
        _schedule_retries(timetable)
    if after.status != "failed":
        return []
    log.warning("alert %s delivery %s failed: %s", alert.alert_id, delivery.delivery_id, after.last_error)
    return [
        AlertDeliveryFailed(
            alert_id=alert.alert_id,
            delivery_id=after.delivery_id,
            owner=alert.owner,
            alerted=after.event_type,
            attempts=after.attempts,
            error=after.last_error or "failed",
        )
    ]


HANDLERS = HandlerTable(
    commands={
        CreateAlert: create_alert,
        DeleteAlert: delete_alert,
        RetryDelivery: retry_delivery,
        RetryDueDeliveries: retry_due_deliveries,
        MoveEmailAlerts: move_email_alerts,
    },
    queries={
        ListAlerts: list_alerts,
        GetAlert: get_alert,
        ListDeliveries: list_alert_deliveries,
    },
)
