"""Alerts out: `trading alerts create|list|show|delete|deliveries|retry|retry-due`, and the
e-mail topics' upkeep: `move-email` and `remove-topics`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trading_system.entrypoints.cli.common import ask, echo_json, execute, fail, make, run

alerts_app = typer.Typer(
    help="Alerts out: signals, fills, rejections, halts and pauses sent to URLs, chat and e-mail.",
    no_args_is_help=True,
)


@alerts_app.command("create")
def alerts_create(
    name: Annotated[str, typer.Option(help="what the alert is for")],
    topic: Annotated[
        str, typer.Option(help="signals, fills, rejected_orders, account_halted or deployment_paused")
    ],
    source: Annotated[str, typer.Option(help="the scanner, account or deployment whose events it sends")],
    url: Annotated[str | None, typer.Option(help="your endpoint: signed JSON POSTs")] = None,
    slack: Annotated[str | None, typer.Option(help="a Slack incoming webhook URL")] = None,
    discord: Annotated[str | None, typer.Option(help="a Discord channel webhook URL")] = None,
    email: Annotated[str | None, typer.Option(help="an e-mail address (AWS: through SNS)")] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option(help="deliveries a minute it sends (default 30, at most 600); beyond them, throttled"),
    ] = None,
) -> None:
    """Create an alert with one target; a URL target's signing key is printed once."""
    from trading_system.alerts.commands import CreateAlert
    from trading_system.alerts.domain import AlertDraft

    chosen = {k: v for k, v in {"url": url, "slack": slack, "discord": discord, "email": email}.items() if v}
    if len(chosen) != 1:
        fail("error: give exactly one target: --url, --slack, --discord or --email")
    (kind, where), *_ = chosen.items()
    target: dict[str, Any] = {"kind": kind, "address" if kind == "email" else "url": where}
    limit = {} if rate_limit is None else {"rate_limit": rate_limit}
    draft = make(AlertDraft, name=name, topic=topic, source_id=source, target=target, **limit)
    echo_json(execute(CreateAlert(draft=draft)))


@alerts_app.command("list")
def alerts_list() -> None:
    """Every alert, its target masked."""
    from trading_system.alerts.queries import ListAlerts

    echo_json(ask(ListAlerts()))


@alerts_app.command("show")
def alerts_show(alert_id: str) -> None:
    """One alert."""
    from trading_system.alerts.queries import GetAlert

    echo_json(ask(make(GetAlert, alert_id=alert_id)))


@alerts_app.command("delete")
def alerts_delete(alert_id: str) -> None:
    """Delete an alert and its deliveries' records."""
    from trading_system.alerts.commands import DeleteAlert

    execute(make(DeleteAlert, alert_id=alert_id))
    typer.echo(f"deleted {alert_id}")


@alerts_app.command("deliveries")
def alerts_deliveries(
    alert_id: str,
    after: Annotated[str | None, typer.Option(help="the last delivery of the previous page")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
) -> None:
    """An alert's deliveries, newest first, with status, attempts and last error."""
    from trading_system.alerts.queries import ListDeliveries

    echo_json(ask(make(ListDeliveries, alert_id=alert_id, after=after, limit=limit)))


@alerts_app.command("retry")
def alerts_retry(alert_id: str, delivery_id: str) -> None:
    """Send one delivery again now (a failed one gets a new round of attempts)."""
    from trading_system.alerts.commands import RetryDelivery

    echo_json(execute(make(RetryDelivery, alert_id=alert_id, delivery_id=delivery_id)))


@alerts_app.command("retry-due")
def alerts_retry_due() -> None:
    """Try again now every delivery whose wait is over (what the schedule does each minute)."""
    from trading_system.alerts.commands import RetryDueDeliveries

    echo_json(execute(RetryDueDeliveries()))


@alerts_app.command("move-email")
def alerts_move_email() -> None:
    """Move every e-mail alert still on the shared SNS topic to its owner's topic (once, after
    upgrading): each address is mailed a new confirmation, for that owner, and gets the alert's
    messages again only once it confirms."""
    from trading_system.alerts.commands import MoveEmailAlerts

    echo_json(execute(MoveEmailAlerts()))


@alerts_app.command("remove-topics")
def alerts_remove_topics(
    yes: Annotated[bool, typer.Option("--yes", help="delete them; without it, only list them")] = False,
) -> None:
    """The owners' e-mail topics made at run time (`<alerts topic name>-<hash>`, tagged so), which
    `cdk destroy` leaves behind: listed, or with --yes deleted with their subscriptions. Needs
    TRADING_ALERTS_TOPIC_ARN set to the stack's alerts topic (it may be gone already)."""
    from trading_system.adapters.alert_channels import TOPIC_SETTING, SnsEmailChannel
    from trading_system.config import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error))
    if not settings.alerts_topic_arn:
        fail(f"error: set {TOPIC_SETTING} to the stack's alerts topic ARN")
    channel = SnsEmailChannel.from_settings(settings)
    topics = run(channel.remove_owner_topics if yes else channel.owner_topics)
    echo_json({"removed" if yes else "found": topics})
