"""What a user writes to define strategies, as data: parameters, and the declarative strategy
(rules, side, sizing, brackets) saved under a name. No numpy here: the API's request models are
built from these without the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from trading_system.kernel.principal import FIRST_ADMIN
from trading_system.kernel.text import PlainText

MAX_RULES = 10
NAME_PATTERN = r"^[a-z][a-z0-9_]{1,47}$"


def some_universe(scanner: str | None, info: ValidationInfo) -> str | None:
    """A `universe_scanner` validator (of a backtest, a deployment): with no scanner, symbols."""
    if scanner is None and not info.data.get("symbols"):
        raise ValueError("name at least one symbol, or a universe_scanner")
    return scanner


class StrategyParams(BaseModel):
    """A strategy's parameters: validated, so a typo or an out-of-range value is a clear error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleStrategyDefinition(StrategyParams):
    """What a user writes: rules, side, sizing and brackets. Every rule is parsed and checked
    here, so a definition that validates always runs."""

    entry: list[str] = Field(
        min_length=1, max_length=MAX_RULES, description="conditions that must all hold to enter"
    )
    exit: list[str] = Field(
        default_factory=list, max_length=MAX_RULES, description="conditions any one of which exits"
    )
    side: Literal["long", "short"] = "long"
    fraction: float = Field(default=1.0, gt=0, le=1, description="share of the equity an entry uses")
    stop_loss_pct: float | None = Field(
        default=None, gt=0, lt=100, description="stop-loss distance from the entry bar's close, percent"
    )
    take_profit_pct: float | None = Field(
        default=None, gt=0, lt=1000, description="take-profit distance from the entry bar's close, percent"
    )
    max_positions: int | None = Field(
        default=None, ge=1, description="in a portfolio, at most this many symbols hold a position at once"
    )

    @field_validator("entry", "exit")
    @classmethod
    def _rules_parse(cls, texts: list[str], info: ValidationInfo) -> list[str]:
        from trading_system.scanning import rules

        for index, text in enumerate(texts):
            try:
                rules.parse(text)  # parse() also checks that the rule is a condition, not a number
            except rules.RuleError as error:
                raise ValueError(f"{info.field_name}[{index}]: {error}") from None
        return texts

    @model_validator(mode="after")
    def _consistent(self) -> RuleStrategyDefinition:
        if not self.exit and self.stop_loss_pct is None and self.take_profit_pct is None:
            raise ValueError("a strategy needs a way out: exit rules, stop_loss_pct or take_profit_pct")
        if self.side == "short" and self.take_profit_pct is not None and self.take_profit_pct >= 100:
            raise ValueError("a short's take_profit_pct must be below 100 (a price cannot fall below 0)")
        return self


class StrategyDraft(BaseModel):
    """A declarative strategy as a user submits it: a name to backtest and deploy it by, and its
    rules. Stored like a scanner; a backtest's `params` may override any field of `rules`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits and _, e.g. my_rsi")
    summary: PlainText = Field(default="", max_length=200)
    rules: RuleStrategyDefinition


class SavedStrategy(StrategyDraft):
    # The user who may see, change and run it (admins aside); one saved before users existed is
    # the first admin's. `created_by` is the key that saved it, for the audit trail.
    owner: str = FIRST_ADMIN
    created_at: datetime
    created_by: str
    updated_at: datetime
