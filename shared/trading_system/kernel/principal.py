"""Who is asking: the caller's key id, role and user, carried with every command.

The key id is for the audit trail; the user is who owns what the caller creates (accounts,
scanners, strategies, backtests, sweeps, deployments, webhooks) and whose things the caller may
see. An API key belongs to a user (ApiKey.owner); a bearer token's user is its subject.

Ownership answers 404, never 403, for another user's things, so ids do not leak: `visible`
is the one rule every context applies.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from trading_system.kernel.errors import NotFound


class Role(StrEnum):
    """Roles are ordered: each one may do everything the ones before it may."""

    VIEWER = "viewer"
    TRADER = "trader"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


FIRST_ADMIN = "admin"
"""The user that owns everything stored before users existed (keys, accounts, scanners,
strategies ...), and the default owner of keys made by the CLI: stored records without an owner
are read as this user's, so nothing needs rewriting."""

USER_PATTERN = r"^[A-Za-z0-9_.@+:-]{1,128}$"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    user: str = FIRST_ADMIN

    @property
    def sees_all(self) -> bool:
        """An admin sees and acts on every user's things."""
        return self.role.allows(Role.ADMIN)

    def owns(self, owner: str) -> bool:
        return self.sees_all or owner == self.user

    def reads(self, owner: str, readers: Collection[str] = ()) -> bool:
        """May read a thing of `owner` that an admin shared with `readers` (users)."""
        return self.owns(owner) or self.user in readers


def require_visible(principal: Principal, owner: str | None, not_found: str, field: str) -> None:
    """Raise the NotFound a missing thing raises when `principal` does not own it (owner None:
    it does not exist), so another user's id answers exactly as an unknown one."""
    if owner is None or not principal.owns(owner):
        raise NotFound(not_found, field=field)


class Owned(Protocol):
    @property
    def owner(self) -> str: ...


O = TypeVar("O", bound=Owned)  # noqa: E741 - not an ambiguous name in a type parameter


def visible(principal: Principal, found: O | None, not_found: str, field: str) -> O:
    """`found` if the principal may see it; else the NotFound an unknown id raises."""
    require_visible(principal, None if found is None else found.owner, not_found, field)
    assert found is not None  # require_visible raised otherwise
    return found


SYSTEM = Principal(key_id="system", role=Role.ADMIN, user=FIRST_ADMIN)
"""The principal of work the platform does by itself (schedules, subscriptions, the CLI): what it
creates belongs to the first admin."""
