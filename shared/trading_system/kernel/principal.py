"""Who is asking: the caller's key id and role, carried with every command for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role


SYSTEM = Principal(key_id="system", role=Role.ADMIN)
"""The principal of work the platform does by itself: schedules, subscriptions, the CLI."""
