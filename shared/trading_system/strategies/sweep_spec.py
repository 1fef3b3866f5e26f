"""A parameter sweep as a user asks for it: which values to try, how to rank the combinations,
and the ceilings that keep a typo from running up a bill. No numpy here: the API's request
models are built from these without the engine (the computation is in sweep.py)."""

from __future__ import annotations

import difflib
import math
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

MAX_COMBINATIONS: Final = 1000
MAX_BACKTESTS: Final = 100_000  # combinations x symbols
MAX_VALUES: Final = 100  # values of one parameter in a grid

# What a sweep can rank by: every numeric statistic but the data's duration (the same for all).
# Written out so that a request can be checked without the engine (numpy); tests/unit/test_sweep.py
# holds it equal to the statistics the engine computes.
RANK_STATS: Final = (
    "exposure_time_pct",
    "equity_final",
    "equity_peak",
    "commissions",
    "return_pct",
    "buy_and_hold_return_pct",
    "return_ann_pct",
    "volatility_ann_pct",
    "cagr_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "alpha_pct",
    "beta",
    "max_drawdown_pct",
    "avg_drawdown_pct",
    "max_drawdown_duration_s",
    "avg_drawdown_duration_s",
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "max_trade_duration_s",
    "avg_trade_duration_s",
    "profit_factor",
    "expectancy_pct",
    "sqn",
    "kelly_criterion",
)
# Statistics where less is better; for the others more is (a drawdown is negative: closer to 0
# is larger, so max_drawdown_pct ranks descending too).
LOWER_IS_BETTER: Final = frozenset(
    {"volatility_ann_pct", "max_drawdown_duration_s", "avg_drawdown_duration_s", "commissions"}
)

# A grid value: a number, a flag or a word (a rule strategy's side). Strict ints and bools so that
# 1 stays 1 and true stays true instead of turning into 1.0.
Value = StrictBool | StrictInt | float | str


def default_descending(rank_by: str) -> bool:
    """Whether a larger value of the statistic ranks first."""
    return rank_by not in LOWER_IS_BETTER


# -- the request ------------------------------------------------------------------------------------


class RandomRange(BaseModel):
    """A parameter drawn uniformly from [low, high]; whole numbers with `int`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    low: float
    high: float
    integer: bool = Field(default=False, alias="int", description="draw whole numbers")

    @model_validator(mode="after")
    def _ordered(self) -> RandomRange:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"low ({self.low}) must be at most high ({self.high}), both finite")
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(f"no whole number between {self.low} and {self.high}")
        return self


class SweepSpec(BaseModel):
    """Which parameter values to try and how to rank the combinations.

    `grid`: every combination of the listed values (1 to MAX_VALUES values per parameter).
    `random`: `samples` combinations drawn from ranges (`combinations` takes the seed).
    `fixed`: parameters that keep one value in every combination."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grid: dict[str, list[Value]] | None = None
    random: dict[str, RandomRange] | None = None
    samples: int | None = Field(default=None, ge=1, description="combinations drawn with `random`")
    fixed: dict[str, Any] = Field(default_factory=dict)
    rank_by: str = Field(default="sharpe_ratio", description="a statistic key, as in a backtest's stats")
    descending: bool | None = Field(
        default=None, description="larger first; by default as the statistic wants (see LOWER_IS_BETTER)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        if (self.grid is None) == (self.random is None):
            raise ValueError("give either grid or random (with samples)")
        if self.random is not None and self.samples is None:
            raise ValueError("random needs samples: how many combinations to draw")
        if self.grid is not None and self.samples is not None:
            raise ValueError("samples goes with random, not with grid")
        swept = self.grid if self.grid is not None else self.random
        assert swept is not None
        if not swept:
            raise ValueError("sweep at least one parameter")
        for name, values in (self.grid or {}).items():
            if not 1 <= len(values) <= MAX_VALUES:
                raise ValueError(f"grid.{name}: give 1 to {MAX_VALUES} values, not {len(values)}")
            if len({repr(v) for v in values}) != len(values):
                raise ValueError(f"grid.{name}: a value is listed twice")
        both = sorted(set(swept) & set(self.fixed))
        if both:
            raise ValueError(f"{', '.join(both)}: swept and fixed at once")
        if self.rank_by not in RANK_STATS:
            close = difflib.get_close_matches(self.rank_by, RANK_STATS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (one of {', '.join(RANK_STATS)})"
            raise ValueError(f"rank_by: unknown statistic {self.rank_by!r}{hint}")
        return self

    @property
    def swept(self) -> list[str]:
        return list(self.grid if self.grid is not None else self.random or {})

    @property
    def count(self) -> int:
        """Combinations before validation: the grid's product, or the samples."""
        if self.grid is not None:
            return math.prod(len(values) for values in self.grid.values())
        return self.samples or 0

    @property
    def ranks_descending(self) -> bool:
        return default_descending(self.rank_by) if self.descending is None else self.descending
