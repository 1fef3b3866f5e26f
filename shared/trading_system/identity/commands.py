"""What a user can tell Identity to do."""

from __future__ import annotations

from pydantic import Field

from trading_system.kernel.messages import Command
from trading_system.kernel.principal import Role
from trading_system.kernel.text import PlainText


class CreateApiKey(Command):
    role: Role
    label: PlainText = Field(default="", max_length=100)


class RevokeApiKey(Command):
    key_id: str = Field(min_length=1, max_length=64)
