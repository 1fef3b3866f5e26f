"""What a user can tell Trading to do."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from trading_system.kernel.messages import Command
from trading_system.kernel.principal import USER_PATTERN
from trading_system.kernel.text import PlainText
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.ids import AccountId, OrderId
from trading_system.trading.orders import OrderRequest

StartingCash = Annotated[Decimal, Field(gt=0, le=Decimal("1e12"), max_digits=20, decimal_places=2)]
User = Annotated[
    str, Field(pattern=USER_PATTERN, description="a user: an API key's owner or a bearer token's subject")
]


class PlaceOrder(Command):
    request: OrderRequest


class CancelOrder(Command):
    order_id: OrderId
    reason: str = "canceled by request"


class CreateAccount(Command):
    account_id: AccountId
    starting_cash: StartingCash
    settings: AccountSettings = Field(default_factory=AccountSettings)
    owner: User | None = Field(
        default=None,
        description="the user the account belongs to (an admin may name another user); "
        "the caller's own user when left out",
    )


class ResetAccount(Command):
    account_id: AccountId
    starting_cash: StartingCash | None = None  # default: the account's current starting cash
    settings: AccountSettings | None = None  # default: keep the current ones


class HaltTrading(Command):
    reason: PlainText = Field(min_length=1, max_length=500)
    cancel_open_orders: bool = False


class ResumeTrading(Command):
    pass


class CloseSession(Command):
    """Sessions' closes (trading/sessions.py): expire the day orders whose own session has closed
    (a 24/7 symbol's session is its UTC day), and at the market's close mark each account's
    equity for the next day's P&L.

    The schedule sends it every hour; the accounts are marked only by the run in the hour after
    an XNYS session closed, so once per session: at 13:00 New York on an early-close day, at 16:00
    on others, none on a holiday. `at_once` closes now, whatever the time, and expires every open
    day order (an operator ending a day by hand, tests)."""

    at_once: bool = False


class ResumeAccount(Command):
    """Lift an account's loss-limit halt (admin)."""

    account_id: AccountId


class GrantAccountReader(Command):
    """Let a user read an account (its orders, positions, fills and P&L), not trade on it (admin)."""

    account_id: AccountId
    user: User


class RevokeAccountReader(Command):
    """Take back a user's read access to an account (admin)."""

    account_id: AccountId
    user: User
