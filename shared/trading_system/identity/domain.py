"""API keys. The secret is shown once and stored only as a hash.

A key reads `tsk_<key id>_<secret>`. The secret carries 256 random bits, so a plain SHA-256 is
enough (slow password hashes exist for low-entropy human passwords, not for random tokens) and
keeps the authorizer fast.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from pydantic import BaseModel, Field

from trading_system.kernel.principal import Principal, Role

PREFIX = "tsk"


class ApiKey(BaseModel):
    key_id: str
    role: Role
    label: str = Field(default="", max_length=100)
    secret_sha256: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def verifies(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_sha256, _digest(secret))

    def principal(self) -> Principal:
        return Principal(key_id=self.key_id, role=self.role)


def issue(role: Role, label: str, created_by: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key and its full token (returned to the user once, never stored)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        role=role,
        label=label,
        secret_sha256=_digest(secret),
        created_at=now,
        created_by=created_by,
    )
    return key, f"{PREFIX}_{key_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
