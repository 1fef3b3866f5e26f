"""Scanners: a universe, a timeframe, rules that must all hold, and when to run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.kernel.text import PlainText
from trading_system.market_data.domain import Symbol, Timeframe


class AllSymbols(BaseModel):
    type: Literal["all"] = "all"


class SymbolList(BaseModel):
    type: Literal["symbols"] = "symbols"
    symbols: list[Symbol] = Field(min_length=1, max_length=5000)


class Tagged(BaseModel):
    type: Literal["tag"] = "tag"
    tag: str = Field(min_length=1, max_length=50)


Universe = Annotated[AllSymbols | SymbolList | Tagged, Field(discriminator="type")]


class ScannerDefinition(BaseModel):
    """What a user writes; the rules are checked by compiling them before a scanner is saved."""

    name: PlainText = Field(min_length=1, max_length=100)
    universe: Universe = Field(default_factory=AllSymbols)
    timeframe: Timeframe = Timeframe.D1
    rules: list[str] = Field(min_length=1, max_length=10, description="all must hold")
    schedule: str | None = Field(
        default=None, description="rate(5 minutes) or cron(...) (EventBridge syntax)"
    )
    run_on_refresh: bool = Field(
        default=True, description="also run whenever the timeframe's snapshot refreshes"
    )
    enabled: bool = True

    @field_validator("rules")
    @classmethod
    def _not_blank(cls, rules: list[str]) -> list[str]:
        for i, rule in enumerate(rules):
            if not rule.strip():
                raise ValueError(f"rule {i + 1} is empty")
        return rules


class Scanner(ScannerDefinition):
    scanner_id: str
    created_at: datetime
    created_by: str  # the key, for the audit trail
    # The user whose scanner it is. Scanners stored before users existed have none: the first admin's.
    owner: str = FIRST_ADMIN
    updated_at: datetime
    next_run_at: datetime | None = None


class Match(BaseModel):
    symbol: str
    ts: datetime
    values: dict[str, float | bool | None]
    new: bool


class ScanRun(BaseModel):
    run_id: str
    scanner_id: str
    trigger: Literal["manual", "schedule", "refresh"]
    timeframe: Timeframe
    started_at: datetime
    duration_ms: float
    universe_size: int  # symbols scanned: the universe's symbols in the snapshot
    matches: list[Match]
    new_signals: int
