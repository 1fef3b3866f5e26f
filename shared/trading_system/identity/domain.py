"""API keys and what a verified bearer token (JWT) carries. A key's secret is shown once and
stored only as a hash.

A key reads `tsk_<key id>_<secret>`. The secret carries 256 random bits, so a plain SHA-256 is
enough (slow password hashes exist for low-entropy human passwords, not for random tokens) and
keeps the authorizer fast.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from trading_system.kernel.errors import Forbidden
from trading_system.kernel.principal import FIRST_ADMIN, Principal, Role

PREFIX = "tsk"


class ApiKey(BaseModel):
    key_id: str
    role: Role
    label: str = Field(default="", max_length=100)
    secret_sha256: str
    created_at: datetime
    created_by: str
    # The user the key acts for. Keys stored before users existed have none: the first admin's.
    owner: str = FIRST_ADMIN
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def verifies(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_sha256, secret_digest(secret))

    def principal(self) -> Principal:
        return Principal(key_id=self.key_id, role=self.role, user=self.owner)


def issue(role: Role, label: str, owner: str, created_by: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key of `owner` and its full token (returned to the user once, never stored)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        role=role,
        label=label,
        secret_sha256=secret_digest(secret),
        created_at=now,
        created_by=created_by,
        owner=owner,
    )
    return key, f"{PREFIX}_{key_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_digest(secret: str) -> str:
    """How a secret (an API key's, a webhook's) is kept: its SHA-256, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


# -- Bearer tokens (JWT) ----------------------------------------------------------------------
# What a verified token says, kept free of any JWT library: the adapter (adapters/jwt_tokens.py)
# checks signature, expiry, issuer, audience and algorithm, and hands over only this.

TOKEN_PRINCIPAL_PREFIX = "jwt:"


class TokenRefused(Exception):
    """A bearer token failed a check. The reason goes to the logs only: the client is told
    no more than that the token is not valid, so a prober learns nothing about which check failed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class VerifiedToken(BaseModel):
    subject: str
    role: Role
    issuer: str
    token_id: str | None = None
    expires_at: datetime

    def principal(self) -> Principal:
        # The key id is prefixed so that a subject can never pass for an API key's id in the audit
        # trail; the user is the subject itself, so a key made for that user (owner = subject)
        # and the user's tokens see the same things.
        return Principal(key_id=f"{TOKEN_PRINCIPAL_PREFIX}{self.subject}", role=self.role, user=self.subject)


def looks_like_jwt(token: str) -> bool:
    """A compact JWS has three dot-separated parts; an API key (tsk_<id>_<secret>) has no dot."""
    return token.count(".") == 2 and not token.startswith(f"{PREFIX}_")


def role_from_claim(value: object) -> Role | None:
    """The highest role named by a roles claim: a list of names (Cognito's `cognito:groups`,
    an OIDC `roles` claim) or one string of names separated by spaces or commas. Names that are
    not roles (other groups of the user pool) are ignored; None when no name is a role."""
    if isinstance(value, str):
        names = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        names = [v for v in value if isinstance(v, str)]
    else:
        return None
    known = {role.value for role in Role}
    roles = [Role(name.lower()) for name in names if name.lower() in known]
    return max(roles, key=lambda r: r.rank) if roles else None


class RevocationKind(StrEnum):
    TOKEN = "token"  # one token, by its id (`jti`)
    SUBJECT = "subject"  # every token of a subject: a disabled user


class Revocation(BaseModel):
    kind: RevocationKind
    value: str = Field(min_length=1, max_length=256)
    revoked_at: datetime
    revoked_by: str


def authorize(principal: Principal, required: Role | None, route: str) -> None:
    if required is not None and not principal.role.allows(required):
        raise Forbidden(
            f"{route} needs the {required.value} role; key {principal.key_id} has {principal.role.value}"
        )
