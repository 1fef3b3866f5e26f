"""Whose accounts a caller may see: the ownership rule every Trading command and query applies.

An account belongs to the user who created it (or whom an admin created it for); an admin may
let other users read it. Its owner acts on it (orders, cancels, resets ...) and reads it; a
reader only reads it (its orders, positions, fills, P&L and history); an admin does both on every
account. An order is its account's. Anything else answers exactly what an unknown id answers,
so another user's ids do not leak. The platform's own work (fills, the close, loss limits) runs
as SYSTEM, an admin, and is never held back.
"""

from __future__ import annotations

from collections.abc import Callable

from trading_system.kernel.principal import Principal
from trading_system.trading.accounts import Account
from trading_system.trading.ledger import TradingLedger, no_account, no_order
from trading_system.trading.orders import Order

Rule = Callable[[Principal, Account], bool]


def may_act_on(principal: Principal, account: Account) -> bool:
    return principal.owns(account.owner)


def may_read(principal: Principal, account: Account) -> bool:
    return principal.reads(account.owner, account.readers)


def own_account(ledger: TradingLedger, requested: str | None, principal: Principal) -> Account:
    """The account a command names (the default one when it names none), if the caller owns it."""
    return _account(ledger, requested, principal, may_act_on)


def readable_account(ledger: TradingLedger, requested: str | None, principal: Principal) -> Account:
    """The account a query names (the default one when it names none), if the caller may read it."""
    return _account(ledger, requested, principal, may_read)


def own_order(ledger: TradingLedger, order_id: str, principal: Principal) -> Order:
    """An order the caller may act on: one of an account it owns."""
    return _order(ledger, order_id, principal, may_act_on)


def readable_order(ledger: TradingLedger, order_id: str, principal: Principal) -> Order:
    """An order the caller may read: one of an account it may read."""
    return _order(ledger, order_id, principal, may_read)


def _account(ledger: TradingLedger, requested: str | None, principal: Principal, rule: Rule) -> Account:
    account_id = ledger.account_id(requested)
    account = ledger.account(account_id)
    if account is None or not rule(principal, account):
        raise no_account(account_id)
    return account


def _order(ledger: TradingLedger, order_id: str, principal: Principal, rule: Rule) -> Order:
    order = ledger.order(order_id)
    account = ledger.account(order.account_id) if order else None
    if order is None or account is None or not rule(principal, account):
        raise no_order(order_id)
    return order
