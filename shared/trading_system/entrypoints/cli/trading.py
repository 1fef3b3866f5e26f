"""Trading's commands: orders, accounts, positions, fills, P&L and the kill switch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel

from trading_system.entrypoints.cli.common import (
    Listing,
    ListingOption,
    Shown,
    ask,
    build_container,
    cell,
    echo_fields,
    echo_json,
    echo_one,
    echo_rows,
    execute,
    fail,
    make,
    more_rows,
)
from trading_system.trading.orders import OrderSide, OrderStatus, OrderType, TimeInForce

if TYPE_CHECKING:
    from trading_system.trading.orders import Order

commands = typer.Typer()
order_app = typer.Typer(help="Place an order (buy, sell) or look at one (show).", no_args_is_help=True)
accounts_app = typer.Typer(help="Paper accounts.", no_args_is_help=True)

AccountOption = Annotated[
    str | None, typer.Option("--account", help="default: the settings' default account")
]
ShownOption = Annotated[Shown, typer.Option("--format", help="text or json")]
OutsideHoursOption = Annotated[
    str | None,
    typer.Option(
        "--outside-hours",
        help="a market order placed while its market is closed: queue (fill at the next "
        "session's first bar; the default) or refuse",
    ),
]
AfterOption = Annotated[str | None, typer.Option(help="cursor from the previous page")]


def _decimal(text: str | None, name: str) -> Decimal | None:
    """A number from the command line, exactly as typed (never through float)."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        fail(f"error: {name}: {text!r} is not a number")
    if not value.is_finite():
        fail(f"error: {name}: {text!r} is not a finite number")
    return value


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"error: {name}: {text!r} is not a date (YYYY-MM-DD)")


def _settings_text(settings: BaseModel) -> str:
    """An account's settings that differ from the defaults, on one line."""
    # Compared by hand: exclude_defaults keeps every field of a model with a wildcard field
    # serializer (PlainNumbers), so it listed them all.
    defaults = type(settings)().model_dump()
    changed = {k: v for k, v in settings.model_dump().items() if v != defaults.get(k)}
    return ", ".join(f"{k}={cell(v)}" for k, v in changed.items()) or "defaults"


# -- orders -----------------------------------------------------------------------------------


def _request_text(order: Order) -> str:
    size = f"{cell(order.qty)}" if order.qty is not None else f"${cell(order.notional)} of"
    text = f"{order.side.value} {size} {order.symbol} {order.type.value}"
    if order.type is OrderType.STOP_LIMIT:
        text += f" stop {cell(order.stop_price)} limit {cell(order.limit_price)}"
    elif order.type is not OrderType.MARKET:
        text += f" {cell(order.limit_price if order.limit_price is not None else order.stop_price)}"
    return f"{text} {order.time_in_force.value}"


def _order_summary(order: Order) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "order": order.id,
        "client_order_id": order.client_order_id,
        "account": order.account_id,
        "request": _request_text(order),
        "status": order.status,
        "filled": f"{cell(order.filled_qty)} @ {cell(order.filled_avg_price)}" if order.filled_qty else "0",
        "commission": order.commission if order.commission else None,
        "reason": order.reject_reason or order.cancel_reason,
        # a market order placed while its market was closed waits for the next session's open
        "queued_until": order.queued_until if order.queued_until and order.status.is_open else None,
    }
    return summary


def _echo_order(order: Order, output: Shown, replayed: bool = False) -> None:
    echo_one(output, {**order.model_dump(mode="json"), "replayed": replayed}, _order_summary(order))
    if replayed and output is Shown.TEXT:
        typer.secho("(this client_order_id was placed before: that order is shown)", err=True)


ORDER_COLUMNS = [
    "id",
    "submitted_at",
    "symbol",
    "side",
    "type",
    "time_in_force",
    "qty",
    "notional",
    "limit_price",
    "stop_price",
    "status",
    "filled_qty",
    "filled_avg_price",
]


def _place(
    side: OrderSide,
    symbol: str,
    qty: str | None,
    notional: str | None,
    limit_price: str | None,
    stop_price: str | None,
    order_type: OrderType | None,
    tif: TimeInForce,
    client_order_id: str | None,
    account: str | None,
    output: Shown,
) -> None:
    from trading_system.trading.commands import PlaceOrder
    from trading_system.trading.handlers import PlacedOrder
    from trading_system.trading.orders import OrderRequest

    limit, stop = _decimal(limit_price, "--limit"), _decimal(stop_price, "--stop")
    if order_type is None:
        inferred = {(False, False): OrderType.MARKET, (True, False): OrderType.LIMIT}
        inferred |= {(False, True): OrderType.STOP, (True, True): OrderType.STOP_LIMIT}
        order_type = inferred[(limit is not None, stop is not None)]
    request = make(
        OrderRequest,
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=tif,
        qty=_decimal(qty, "QTY"),
        notional=_decimal(notional, "--notional"),
        limit_price=limit,
        stop_price=stop,
        client_order_id=client_order_id,
        account_id=account,
    )
    placed: PlacedOrder = execute(PlaceOrder(request=request))
    _echo_order(placed.order, output, placed.replayed)
    if placed.order.status is OrderStatus.REJECTED:
        typer.secho(f"rejected: {placed.order.reject_reason}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _order_command(side: OrderSide) -> Callable[..., None]:
    def command(
        symbol: str,
        qty: Annotated[
            str | None, typer.Argument(help="shares, fractions allowed; omit it with --notional")
        ] = None,
        notional: Annotated[
            str | None, typer.Option(help="an amount of money instead of QTY (market day orders)")
        ] = None,
        limit_price: Annotated[str | None, typer.Option("--limit", help="limit price")] = None,
        stop_price: Annotated[str | None, typer.Option("--stop", help="stop price")] = None,
        order_type: Annotated[
            OrderType | None,
            typer.Option(
                "--type", help="default: market, limit with --limit, stop with --stop, both: stop_limit"
            ),
        ] = None,
        tif: Annotated[TimeInForce, typer.Option("--tif", help="time in force")] = TimeInForce.DAY,
        client_order_id: Annotated[
            str | None, typer.Option(help="idempotency key: placing it again returns the same order")
        ] = None,
        account: AccountOption = None,
        output: ShownOption = Shown.TEXT,
    ) -> None:
        _place(
            side,
            symbol,
            qty,
            notional,
            limit_price,
            stop_price,
            order_type,
            tif,
            client_order_id,
            account,
            output,
        )

    command.__doc__ = (
        f"Place a {side.value} order and print its id, status and fills; "
        "a rejected order prints its reason and exits 1."
    )
    return command


order_app.command("buy")(_order_command(OrderSide.BUY))
order_app.command("sell")(_order_command(OrderSide.SELL))


def _event_detail(kind: str, data: Mapping[str, Any]) -> str:
    if kind == "OrderPlaced":
        size = data["qty"] if data.get("qty") is not None else f"${data.get('notional')} of"
        prices = [f"{k} {data[k + '_price']}" for k in ("stop", "limit") if data.get(k + "_price")]
        return " ".join([data["side"], size, data["symbol"], data["type"], *prices, data["time_in_force"]])
    if data.get("reason"):
        return str(data["reason"])
    if "fill_id" in data:
        return f"{data['qty']} @ {data['price']} (filled {data['filled_qty']} @ {data['filled_avg_price']})"
    if "session" in data:
        return f"session {data['session']}"
    return ""


@order_app.command("show")
def order_show(order_id: str, output: ShownOption = Shown.TEXT) -> None:
    """One order, and its event history with who did what and when."""
    from trading_system.trading.queries import GetOrder, ListOrderEvents

    container = build_container()
    order: Order = ask(make(GetOrder, order_id=order_id), container)
    events: list[dict[str, Any]] = ask(make(ListOrderEvents, order_id=order_id), container)
    if output is Shown.JSON:
        echo_json({"order": order, "events": events})
        return
    echo_fields(
        {
            **_order_summary(order),
            "submitted_at": order.submitted_at,
            "filled_at": order.filled_at,
            "canceled_at": order.canceled_at,
            "expired_at": order.expired_at,
            "rejected_at": order.rejected_at,
        }
    )
    typer.echo("")
    rows = [
        {
            "version": e["version"],
            "recorded_at": e["recorded_at"],
            "type": e["type"],
            "by": f"{e['by'].get('key_id')} ({e['by'].get('role')})",
            "command": e["command"],
            "detail": _event_detail(e["type"], e["data"]),
        }
        for e in events
    ]
    echo_rows(rows, ["version", "recorded_at", "type", "by", "command", "detail"], Listing.TABLE)


@commands.command("orders")
def orders_list(
    status: Annotated[str, typer.Option(help="open, closed or all")] = "open",
    symbol: str | None = None,
    account: AccountOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    after: AfterOption = None,
    output: ListingOption = Listing.TABLE,
) -> None:
    """An account's orders, newest first."""
    from trading_system.trading.queries import ListOrders

    page = ask(make(ListOrders, status=status, symbol=symbol, account_id=account, limit=limit, after=after))
    echo_rows(page.orders, ORDER_COLUMNS, output)
    more_rows("--after", page.next)


@commands.command("cancel")
def cancel(
    order_id: str,
    reason: Annotated[str, typer.Option(help="recorded on the order")] = "canceled by request",
    output: ShownOption = Shown.TEXT,
) -> None:
    """Cancel an open order."""
    from trading_system.trading.commands import CancelOrder

    order: Order = execute(make(CancelOrder, order_id=order_id, reason=reason))
    _echo_order(order, output)


# -- accounts, positions, fills, P&L ---------------------------------------------------------

POSITION_COLUMNS = [
    "symbol",
    "qty",
    "avg_entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "realized_pl",
    "commission",
]


@commands.command()
def positions(account: AccountOption = None, output: ListingOption = Listing.TABLE) -> None:
    """Positions marked to the latest price."""
    from trading_system.trading.queries import ListPositions

    echo_rows(ask(make(ListPositions, account_id=account)), POSITION_COLUMNS, output)


@commands.command("account")
def account_show(account: AccountOption = None, output: ShownOption = Shown.TEXT) -> None:
    """Cash, buying power, equity and P&L of an account."""
    from trading_system.trading.queries import GetAccount

    view = ask(make(GetAccount, account_id=account))
    fields = view.model_dump(exclude={"settings"})
    fields["settings"] = _settings_text(view.settings)
    echo_one(output, view, fields)


FILL_COLUMNS = [
    "market_time",
    "symbol",
    "side",
    "qty",
    "price",
    "commission",
    "realized_pl",
    "order_id",
    "fill_id",
]


@commands.command()
def fills(
    symbol: str | None = None,
    account: AccountOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    after: AfterOption = None,
    output: ListingOption = Listing.TABLE,
) -> None:
    """An account's fills (since its last reset)."""
    from trading_system.trading.queries import ListFills

    page = ask(make(ListFills, symbol=symbol, account_id=account, limit=limit, after=after))
    echo_rows(page["fills"], FILL_COLUMNS, output)
    more_rows("--after", page.get("next"))


PNL_COLUMNS = ["realized_pl", "commission", "net_pl", "fills", "bought_qty", "sold_qty", "traded_value"]


@commands.command()
def pnl(
    by: Annotated[str, typer.Option(help="day or symbol")] = "day",
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (market time, UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (inclusive)")] = None,
    account: AccountOption = None,
    all_epochs: Annotated[bool, typer.Option(help="include fills from before the last reset")] = False,
    output: ListingOption = Listing.TABLE,
) -> None:
    """Realized P&L and commissions from the fills, by day or by symbol."""
    from trading_system.trading.queries import GetPnl

    query = make(
        GetPnl,
        by=by,
        start=_day(start, "--start"),
        end=_day(end, "--end"),
        account_id=account,
        all_epochs=all_epochs,
    )
    report = ask(query)
    columns = list(report.rows[0]) if report.rows else [report.by, *PNL_COLUMNS]
    echo_rows(report.rows, columns, output)


ACCOUNT_COLUMNS = [
    "account_id",
    "owner",
    "cash",
    "buying_power",
    "equity",
    "day_pl",
    "realized_pl",
    "unrealized_pl",
    "commission",
    "open_orders",
    "epoch",
]


@accounts_app.command("list")
def accounts_list(output: ListingOption = Listing.TABLE) -> None:
    """Every paper account, marked to the latest prices."""
    from trading_system.trading.queries import ListAccounts

    echo_rows(ask(ListAccounts()), ACCOUNT_COLUMNS, output)


def _echo_account(account: Any, output: Shown) -> None:
    fields = {
        "account": account.account_id,
        "owner": account.owner,
        "readers": ", ".join(account.readers) or "-",
        "starting_cash": account.starting_cash,
        "cash": account.cash,
        "epoch": account.epoch,
        "settings": _settings_text(account.settings),
    }
    echo_one(output, account, fields)


@accounts_app.command("create")
def accounts_create(
    account_id: str,
    cash: Annotated[str, typer.Option(help="starting cash")],
    commission_per_share: Annotated[str | None, typer.Option()] = None,
    commission_min: Annotated[
        str | None, typer.Option(help="per fill, when a per-share charge applies")
    ] = None,
    commission_bps: Annotated[str | None, typer.Option(help="of the fill's notional")] = None,
    slippage_bps: Annotated[
        str | None, typer.Option(help="against the trader on market and stop fills")
    ] = None,
    participation_cap: Annotated[str | None, typer.Option(help="share of a bar's volume, 0..1")] = None,
    max_order_notional: Annotated[str | None, typer.Option()] = None,
    max_position_notional: Annotated[str | None, typer.Option(help="per symbol")] = None,
    restrict: Annotated[list[str] | None, typer.Option(help="a symbol not to trade; repeatable")] = None,
    outside_hours: OutsideHoursOption = None,
    owner: Annotated[
        str | None, typer.Option(help="the user it belongs to (default: the first admin)")
    ] = None,
    output: ShownOption = Shown.TEXT,
) -> None:
    """Create a paper account with its commission, slippage and risk limits."""
    from trading_system.trading.account_settings import AccountSettings
    from trading_system.trading.commands import CreateAccount

    given = {
        "commission_per_share": _decimal(commission_per_share, "--commission-per-share"),
        "commission_min": _decimal(commission_min, "--commission-min"),
        "commission_bps": _decimal(commission_bps, "--commission-bps"),
        "slippage_bps": _decimal(slippage_bps, "--slippage-bps"),
        "participation_cap": _decimal(participation_cap, "--participation-cap"),
        "max_order_notional": _decimal(max_order_notional, "--max-order-notional"),
        "max_position_notional": _decimal(max_position_notional, "--max-position-notional"),
        "restricted_symbols": restrict,
        "outside_hours": outside_hours,
    }
    settings = make(AccountSettings, **{k: v for k, v in given.items() if v is not None})
    command = make(
        CreateAccount,
        account_id=account_id,
        starting_cash=_decimal(cash, "--cash"),
        settings=settings,
        owner=owner,
    )
    _echo_account(execute(command), output)


@accounts_app.command("grant")
def accounts_grant(account_id: str, user: str, output: ShownOption = Shown.TEXT) -> None:
    """Let a user read an account (its orders, positions, fills and P&L), not trade on it."""
    from trading_system.trading.commands import GrantAccountReader

    _echo_account(execute(make(GrantAccountReader, account_id=account_id, user=user)), output)


@accounts_app.command("revoke")
def accounts_revoke(account_id: str, user: str, output: ShownOption = Shown.TEXT) -> None:
    """Take back a user's read access to an account."""
    from trading_system.trading.commands import RevokeAccountReader

    _echo_account(execute(make(RevokeAccountReader, account_id=account_id, user=user)), output)


@accounts_app.command("reset")
def accounts_reset(
    account_id: str,
    cash: Annotated[str | None, typer.Option(help="new starting cash (default: the current one)")] = None,
    outside_hours: OutsideHoursOption = None,
    output: ShownOption = Shown.TEXT,
) -> None:
    """Reset an account: open orders are canceled, positions and P&L cleared, cash restored.
    A setting given here changes with the reset (the others stay as they are)."""
    from trading_system.trading.account_settings import AccountSettings
    from trading_system.trading.commands import ResetAccount
    from trading_system.trading.queries import GetAccount

    settings = None
    if outside_hours is not None:
        # settings change with a reset, whole: the current ones with this one changed
        current = ask(make(GetAccount, account_id=account_id)).settings
        settings = make(AccountSettings, **{**current.model_dump(), "outside_hours": outside_hours})
    command = make(
        ResetAccount, account_id=account_id, starting_cash=_decimal(cash, "--cash"), settings=settings
    )
    _echo_account(execute(command), output)


# -- the kill switch --------------------------------------------------------------------------


def _echo_status(status: Mapping[str, Any]) -> None:
    if status.get("halted"):
        typer.echo(f"trading is HALTED: {status.get('reason')}")
    else:
        typer.echo("trading is running")
    echo_fields({"since": status.get("since"), "by": status.get("by")})


@commands.command()
def halt(
    reason: str,
    cancel_open: Annotated[bool, typer.Option(help="also cancel every open order")] = False,
) -> None:
    """The kill switch: refuse new orders on every account until `trading resume`."""
    from trading_system.trading.commands import HaltTrading

    _echo_status(execute(make(HaltTrading, reason=reason, cancel_open_orders=cancel_open)))


@commands.command()
def resume() -> None:
    """Lift the kill switch."""
    from trading_system.trading.commands import ResumeTrading

    _echo_status(execute(ResumeTrading()))
