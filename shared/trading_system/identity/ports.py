from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel

from trading_system.identity.domain import ApiKey, Revocation, RevocationKind, VerifiedToken
from trading_system.kernel.principal import Role


class ApiKeyRepository(Protocol):
    def get(self, key_id: str) -> ApiKey | None: ...

    def add(self, key: ApiKey) -> None: ...

    def save(self, key: ApiKey) -> None: ...

    def list(self) -> list[ApiKey]: ...


class TokenVerifier(Protocol):
    def verify(self, token: str) -> VerifiedToken:
        """What the token says, once its signature, algorithm, issuer, audience, expiry and
        not-before have been checked; raises TokenRefused with the reason otherwise."""
        ...


class IssuedToken(BaseModel):
    token: str
    token_id: str
    subject: str
    role: Role
    issuer: str
    expires_at: datetime


class TokenIssuer(Protocol):
    """The platform's own issuer of bearer tokens (signed with its key)."""

    def issue(self, subject: str, role: Role, ttl: timedelta, now: datetime) -> IssuedToken: ...


class TokenRevocations(Protocol):
    """Revoked token ids and disabled subjects, checked on every request that shows a token."""

    def find(self, token_id: str | None, subject: str) -> Revocation | None:
        """The revocation of the token id or of the subject, if either is revoked (one read)."""
        ...

    def get(self, kind: RevocationKind, value: str) -> Revocation | None: ...

    def add(self, revocation: Revocation) -> None: ...

    def remove(self, kind: RevocationKind, value: str) -> bool:
        """Whether there was such a revocation to remove."""
        ...

    def list(self) -> list[Revocation]: ...
