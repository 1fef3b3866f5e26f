"""Small builders the Trading domain tests share: an account created with settings, and a
market order placed on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.events import AccountCreated, OrderPlaced

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
ACCOUNT = "acct"


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def created(cash: str = "100000", **terms: Any) -> AccountCreated:
    return AccountCreated(account_id=ACCOUNT, starting_cash=D(cash), settings=AccountSettings(**terms), at=T0)


def market_order_placed(
    side: str,
    qty: str | None,
    order_id: str = "ord-1",
    *,
    notional: str | None = None,
    symbol: str = "AAPL",
    time_in_force: str = "gtc",
    as_of: datetime | None = None,
    qty_step: str | None = None,
) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        account_id=ACCOUNT,
        symbol=symbol,
        client_order_id=f"c-{order_id.removeprefix('ord-')}",
        side=side,  # type: ignore[arg-type]
        type="market",
        time_in_force=time_in_force,  # type: ignore[arg-type]
        qty=None if qty is None else D(qty),
        notional=None if notional is None else D(notional),
        limit_price=None,
        stop_price=None,
        as_of=as_of,
        fingerprint="fp",
        qty_step=None if qty_step is None else D(qty_step),
        at=T0,
    )
