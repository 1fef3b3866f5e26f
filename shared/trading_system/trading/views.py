"""The read side: what the queries return (accounts and positions marked to the latest price,
order pages, P&L reports) and the query handlers that compute it from the aggregates, never
stored. handlers.py registers these handlers in the context's table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from trading_system.kernel.bus import MessageContext
from trading_system.kernel.kinds import ACCOUNT_STREAMS, ORDER_STREAMS
from trading_system.trading.access import may_read, readable_account, readable_order
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account, AccountHalt
from trading_system.trading.broker import Quote
from trading_system.trading.execution import shown_fill
from trading_system.trading.ledger import TradingLedger, marks_of
from trading_system.trading.orders import Order, OrderStatus
from trading_system.trading.precision import (
    ACCOUNT_CURRENCY,
    PlainNumbers,
    decimal_text,
    money,
    plain,
    ratio,
)
from trading_system.trading.queries import (
    GetAccount,
    GetOrder,
    GetPnl,
    GetTradingStatus,
    ListAccountEvents,
    ListAccounts,
    ListFills,
    ListOrderEvents,
    ListOrders,
    ListPositions,
)

if TYPE_CHECKING:
    from trading_system.trading.ports import FillLog

T = TypeVar("T")

ZERO = Decimal(0)


class PositionView(PlainNumbers):
    """A position as Alpaca shows one: a short has side "short" and a negative qty, cost basis
    and market value; unrealized_plpc is of the cost basis' size."""

    symbol: str
    side: str = "long"
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None  # None until a bar of the symbol is known; then marked at cost
    price_time: datetime | None
    market_value: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal | None
    realized_pl: Decimal
    commission: Decimal


class AccountView(PlainNumbers):
    """An account marked to the latest prices; every money figure on its currency's minor unit
    (figures kept before money was rounded are rounded here)."""

    account_id: str
    owner: str  # the user it belongs to: who trades on it
    readers: list[str]  # the users an admin let read it
    status: str = "ACTIVE"
    currency: str = ACCOUNT_CURRENCY
    starting_cash: Decimal
    cash: Decimal
    reserved_cash: Decimal
    buying_power: Decimal  # cash - reserved_cash - short_margin
    long_market_value: Decimal
    short_market_value: Decimal  # negative: the shorts at the latest prices
    short_margin: Decimal  # held out of buying power: short_margin_pct of the shorts' value
    equity: Decimal
    last_equity: Decimal
    day_pl: Decimal  # equity - last_equity (equity at the last close)
    peak_equity: Decimal  # the drawdown limit's reference
    daily_loss_threshold: Decimal | None  # equity below which max_daily_loss halts the account
    drawdown_threshold: Decimal | None  # equity below which max_drawdown_pct halts it
    halted: bool  # a loss limit was crossed: only orders that reduce a position are accepted
    halt: AccountHalt | None  # which limit, at what equity and threshold, when
    halt_reason: str | None
    realized_pl: Decimal
    unrealized_pl: Decimal
    commission: Decimal
    open_orders: int
    epoch: int
    settings: AccountSettings
    created_at: datetime
    reset_at: datetime | None
    updated_at: datetime
    version: int


class OrderPage(BaseModel):
    orders: list[Order]
    next: str | None  # pass as `after` for the next page


class PnlReport(BaseModel):
    account_id: str
    by: str
    epoch: int | None
    rows: list[dict[str, Any]]


def position_views(account: Account, quotes: Mapping[str, Quote]) -> list[PositionView]:
    views = []
    for symbol in sorted(account.positions):
        position = account.positions[symbol]
        quote = quotes.get(symbol)
        value = position.market_value(quote.price if quote else None)
        cost_basis = money(position.cost_basis)
        unrealized = value - cost_basis
        views.append(
            PositionView(
                symbol=symbol,
                side=position.side,
                qty=plain(position.qty),
                avg_entry_price=position.avg_entry_price,
                cost_basis=cost_basis,
                current_price=plain(quote.price) if quote else None,
                price_time=quote.market_time if quote else None,
                market_value=value,
                unrealized_pl=unrealized,
                unrealized_plpc=ratio(unrealized / abs(cost_basis)) if cost_basis else None,
                realized_pl=money(position.realized_pl),
                commission=money(position.commission),
            )
        )
    return views


def account_view(account: Account, quotes: Mapping[str, Quote]) -> AccountView:
    positions = position_views(account, quotes)
    marks = marks_of(quotes)
    equity = account.equity(marks)
    halt = account.halt
    last_equity = money(account.last_equity)
    daily_loss_threshold = account.daily_loss_threshold
    return AccountView(
        account_id=account.account_id,
        owner=account.owner,
        readers=list(account.readers),
        starting_cash=money(account.starting_cash),
        cash=money(account.cash),
        reserved_cash=money(account.reserved_cash),
        buying_power=money(account.buying_power(marks)),
        long_market_value=money(sum((p.market_value for p in positions if p.qty > 0), ZERO)),
        short_market_value=money(sum((p.market_value for p in positions if p.qty < 0), ZERO)),
        short_margin=account.short_margin(marks),
        equity=equity,
        last_equity=last_equity,
        day_pl=equity - last_equity,
        peak_equity=money(account.peak_equity),
        daily_loss_threshold=money(daily_loss_threshold) if daily_loss_threshold is not None else None,
        drawdown_threshold=account.drawdown_threshold,
        halted=halt is not None,
        halt=halt,
        halt_reason=halt.reason if halt else None,
        realized_pl=money(account.realized_pl),
        unrealized_pl=money(sum((p.unrealized_pl for p in positions), ZERO)),
        commission=money(account.commission),
        open_orders=account.open_orders,
        epoch=account.epoch,
        settings=account.settings,
        created_at=account.created_at,
        reset_at=account.reset_at,
        updated_at=account.updated_at,
        version=account.version,
    )


# -- query handlers ---------------------------------------------------------------------------


def get_order(query: GetOrder, ledger: TradingLedger, context: MessageContext) -> Order:
    return readable_order(ledger, query.order_id, context.principal)


def list_orders(query: ListOrders, ledger: TradingLedger, context: MessageContext) -> OrderPage:
    account_id = readable_account(ledger, query.account_id, context.principal).account_id
    found, after = _filtered_page(
        lambda after, limit: ledger.order_page(account_id, after, limit),
        lambda order: _listed(order, query),
        query.after,
        query.limit,
    )
    return OrderPage(orders=found, next=after)


def _listed(order: Order, query: ListOrders) -> bool:
    if query.symbol and order.symbol != query.symbol:
        return False
    if query.status == "open":
        return order.status.is_open or order.status is OrderStatus.NEW
    if query.status == "closed":
        return order.status.is_terminal
    return True


def list_order_events(
    query: ListOrderEvents, ledger: TradingLedger, context: MessageContext
) -> list[dict[str, Any]]:
    readable_order(ledger, query.order_id, context.principal)
    return [_recorded(e) for e in ledger.history(f"{ORDER_STREAMS}{query.order_id}")]


def list_account_events(
    query: ListAccountEvents, ledger: TradingLedger, context: MessageContext
) -> list[dict[str, Any]]:
    account_id = readable_account(ledger, query.account_id, context.principal).account_id
    events = ledger.history(f"{ACCOUNT_STREAMS}{account_id}", query.after_version)
    return [_recorded(e) for e in events[: query.limit]]


def _recorded(event: Any) -> dict[str, Any]:
    return {
        "version": event.version,
        "type": event.type,
        "recorded_at": event.recorded_at.isoformat(),
        # events stored before users existed name no user
        "by": {
            "key_id": event.metadata.get("key_id"),
            "user": event.metadata.get("user"),
            "role": event.metadata.get("role"),
        },
        "command": event.metadata.get("command"),
        "correlation_id": event.metadata.get("correlation_id"),
        "data": event.data,
    }


def get_account(query: GetAccount, ledger: TradingLedger, context: MessageContext) -> AccountView:
    account = readable_account(ledger, query.account_id, context.principal)
    return account_view(account, ledger.quotes(account.positions))


def list_accounts(query: ListAccounts, ledger: TradingLedger, context: MessageContext) -> list[AccountView]:
    """The accounts the caller may read (an admin: every one)."""
    readable = [a for a in ledger.accounts() if may_read(context.principal, a)]
    return [account_view(a, ledger.quotes(a.positions)) for a in readable]


def list_positions(
    query: ListPositions, ledger: TradingLedger, context: MessageContext
) -> list[PositionView]:
    account = readable_account(ledger, query.account_id, context.principal)
    return position_views(account, ledger.quotes(account.positions))


def list_fills(query: ListFills, ledger: TradingLedger, context: MessageContext) -> dict[str, Any]:
    account_id = readable_account(ledger, query.account_id, context.principal).account_id
    found, after = _filtered_page(
        lambda after, limit: ledger.fill_page(account_id, after, limit),
        lambda fill: query.symbol is None or fill["symbol"] == query.symbol,
        query.after,
        query.limit,
    )
    return {"fills": [shown_fill(fill) for fill in found], "next": after}


def _filtered_page(
    fetch: Callable[[str | None, int], list[tuple[str, T]]],
    keep: Callable[[T], bool],
    after: str | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """Up to `limit` kept items from a keyed listing, and the cursor of the next page (None
    when nothing follows)."""
    found: list[T] = []
    while len(found) < limit:
        page = fetch(after, 500)
        if not page:
            return found, None
        for key, item in page:
            after = key
            if keep(item):
                found.append(item)
                if len(found) == limit:
                    break
    more = after is not None and bool(fetch(after, 1))
    return found, after if more else None


def get_pnl(query: GetPnl, ledger: TradingLedger, fill_log: FillLog, context: MessageContext) -> PnlReport:
    account = readable_account(ledger, query.account_id, context.principal)
    epoch = None if query.all_epochs else account.epoch
    rows = [_pnl_row(r) for r in fill_log.pnl(account.account_id, query.by, epoch, query.start, query.end)]
    return PnlReport(account_id=account.account_id, by=query.by, epoch=epoch, rows=rows)


PNL_MONEY = ("realized_pl", "commission", "net_pl", "traded_value")
PNL_QUANTITIES = ("bought_qty", "sold_qty")


def _pnl_row(row: dict[str, Any]) -> dict[str, Any]:
    """A P&L row with its money as money ("129.30", "0.00") and its quantities in plain
    notation, as the account, positions and fills show the same figures."""
    shown = dict(row)
    for name in PNL_MONEY:
        if row.get(name) is not None:
            shown[name] = decimal_text(money(Decimal(str(row[name]))))
    for name in PNL_QUANTITIES:
        if row.get(name) is not None:
            shown[name] = decimal_text(plain(Decimal(str(row[name]))))
    return shown


def get_trading_status(query: GetTradingStatus, ledger: TradingLedger) -> dict[str, Any]:
    return ledger.control_status()
