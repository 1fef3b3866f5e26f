"""How Trading's messages name an account and an order: one rule for commands and queries alike,
apart from the commands, so that a query does not import them (and the order requests they carry)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

AccountId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
OrderId = Annotated[str, Field(min_length=1, max_length=64)]
