"""Webhooks in: `trading webhooks create|list|delete` (the secret is printed once, at creation)."""

from __future__ import annotations

from typing import Annotated

import typer

from trading_system.entrypoints.cli.common import ask, echo_json, execute, make

webhooks_app = typer.Typer(
    help="Inbound webhooks: TradingView alerts that place orders or raise an external scanner's signals.",
    no_args_is_help=True,
)

_FIELD = "a literal or {{placeholders}} naming the alert's fields"


@webhooks_app.command("create")
def webhooks_create(
    name: Annotated[str, typer.Option(help="what the webhook is for")],
    account: Annotated[str | None, typer.Option(help="the paper account its orders go to")] = None,
    scanner: Annotated[
        str | None, typer.Option(help="instead of --account: the external scanner whose signals it raises")
    ] = None,
    ts: Annotated[str | None, typer.Option(help=f"a signal's moment: {_FIELD}; default: on arrival")] = None,
    value: Annotated[
        list[str] | None, typer.Option(help="a signal's value, name={{placeholder}}, repeatable")
    ] = None,
    # The defaults are the placeholders a TradingView strategy alert fills in.
    symbol: Annotated[str, typer.Option(help=_FIELD)] = "{{ticker}}",
    side: Annotated[str, typer.Option(help=_FIELD)] = "{{strategy.order.action}}",
    qty: Annotated[str | None, typer.Option(help=_FIELD)] = "{{strategy.order.contracts}}",
    notional: Annotated[str | None, typer.Option(help=f"instead of qty: {_FIELD}")] = None,
    order_type: Annotated[str, typer.Option("--type", help=_FIELD)] = "market",
    time_in_force: Annotated[str, typer.Option(help=_FIELD)] = "day",
    limit_price: Annotated[str | None, typer.Option(help=_FIELD)] = None,
    stop_price: Annotated[str | None, typer.Option(help=_FIELD)] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="what makes two alerts one order, e.g. {{time}}-{{ticker}}")
    ] = None,
    signed: Annotated[bool, typer.Option(help="also require an HMAC-SHA256 signature")] = False,
    rate_limit: Annotated[int, typer.Option(help="alerts a minute it takes; beyond them, a 429")] = 60,
) -> None:
    """Create a webhook; its URL, secret (and signing key) are printed once. With --account its
    alerts place orders; with --scanner they raise signals of that external scanner."""
    from trading_system.strategies.webhooking import CreateWebhook
    from trading_system.strategies.webhooks import OrderTemplate, SignalTemplate, WebhookDraft

    if scanner is not None:
        values = dict(v.partition("=")[::2] for v in value or [])
        signal = make(SignalTemplate, symbol=symbol, ts=ts, values=values)
        draft = make(
            WebhookDraft, name=name, scanner_id=scanner, signal=signal, signed=signed, rate_limit=rate_limit
        )
        echo_json(execute(CreateWebhook(draft=draft)))
        return
    order = make(
        OrderTemplate,
        symbol=symbol,
        side=side,
        qty=None if notional is not None else qty,
        notional=notional,
        type=order_type,
        time_in_force=time_in_force,
        limit_price=limit_price,
        stop_price=stop_price,
    )
    draft = make(
        WebhookDraft,
        name=name,
        account_id=account,
        order=order,
        idempotency_key=idempotency_key,
        signed=signed,
        rate_limit=rate_limit,
    )
    echo_json(execute(CreateWebhook(draft=draft)))


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Every webhook, without its secret."""
    from trading_system.strategies.webhooking import ListWebhooks

    echo_json(ask(ListWebhooks()))


@webhooks_app.command("delete")
def webhooks_delete(webhook_id: str) -> None:
    """Delete a webhook: its URL stops working at once."""
    from trading_system.strategies.webhooking import DeleteWebhook

    execute(make(DeleteWebhook, webhook_id=webhook_id))
    typer.echo(f"deleted {webhook_id}")
