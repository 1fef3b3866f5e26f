"""Scanners: a universe, a timeframe, rules that must all hold, and when to run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    """What a user writes; the rules are checked by compiling them before a scanner is saved.

    A `rules` scanner raises a signal where its rules hold over the snapshot. An `external` one
    has no rules and no schedule: its signals come from outside (a webhook, or POST
    /v1/scanners/{id}/signals), and from then on are a scanner's signals like any other: listed,
    streamed, sent by alerts and followed by live deployments."""

    name: PlainText = Field(min_length=1, max_length=100)
    kind: Literal["rules", "external"] = Field(
        default="rules",
        description="rules: it runs its rules over the snapshot; external: its signals are raised "
        "from outside (a webhook, or POST /v1/scanners/{scanner_id}/signals)",
    )
    universe: Universe = Field(
        default_factory=AllSymbols, description="an external scanner takes signals of these symbols only"
    )
    timeframe: Timeframe = Timeframe.D1
    rules: list[str] = Field(
        default_factory=list, max_length=10, description="all must hold (a rules scanner needs one)"
    )
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

    @model_validator(mode="after")
    def _fits_its_kind(self) -> ScannerDefinition:
        if self.kind == "rules" and not self.rules:
            raise ValueError("rules: a rules scanner needs at least one rule (or kind 'external')")
        if self.kind == "external":
            if self.rules:
                raise ValueError("rules: an external scanner has none (its signals come from outside)")
            if self.schedule is not None:
                raise ValueError("schedule: an external scanner is never run, so it has none")
            # Nothing to run when a snapshot refreshes either.
            self.run_on_refresh = False
        return self

    @property
    def is_external(self) -> bool:
        return self.kind == "external"


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


SignalValueName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class ExternalSignal(BaseModel):
    """The body of POST /v1/scanners/{id}/signals: the scanner's signal of the symbol at the bar
    `ts` falls in (now without one), raised once: the same symbol and bar again is the signal
    already raised."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    ts: datetime | None = Field(
        default=None, description="a moment in the bar the signal is of; default: now"
    )
    values: dict[SignalValueName, float | bool | None] = Field(
        default_factory=dict, max_length=20, description="what the signal carries, e.g. the price it saw"
    )


class RaisedSignal(BaseModel):
    """What raising a signal from outside answers."""

    signal_id: str
    scanner_id: str
    symbol: str
    timeframe: Timeframe
    ts: datetime = Field(description="the start of the bar the signal is of")
    values: dict[str, float | bool | None]
    new: bool = Field(description="false: the scanner had raised this symbol's signal at this bar already")
