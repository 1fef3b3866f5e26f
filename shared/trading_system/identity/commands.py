"""What a user can tell Identity to do."""

from __future__ import annotations

from pydantic import Field

from trading_system.kernel.messages import Command
from trading_system.kernel.principal import USER_PATTERN, Role
from trading_system.kernel.text import PlainText


class CreateApiKey(Command):
    role: Role
    label: PlainText = Field(default="", max_length=100)
    owner: str | None = Field(
        default=None,
        pattern=USER_PATTERN,
        description="the user the key acts for (a bearer token's subject names the same user); "
        "the caller's own user when left out",
    )


class RevokeApiKey(Command):
    key_id: str = Field(min_length=1, max_length=64)


class IssueToken(Command):
    """A bearer token signed by the platform's own key (the local issuer)."""

    role: Role
    subject: str = Field(min_length=1, max_length=128, pattern=USER_PATTERN)
    ttl_s: int = Field(default=3600, ge=60, le=30 * 86_400, description="seconds until it expires")


class RevokeToken(Command):
    """Stops one token (by its `jti`) from working, whichever issuer signed it."""

    token_id: PlainText = Field(min_length=1, max_length=256)


class DisableSubject(Command):
    """Stops every token of a subject (a user) from working, until it is enabled again."""

    subject: PlainText = Field(min_length=1, max_length=256)


class EnableSubject(Command):
    subject: PlainText = Field(min_length=1, max_length=256)
