"""What a user can tell Strategies to do."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trading_system.kernel.messages import Command
from trading_system.kernel.text import PlainText
from trading_system.market_data.domain import Adjustment, Symbol, Timeframe
from trading_system.strategies.definitions import NAME_PATTERN, StrategyDraft, some_universe
from trading_system.strategies.deployments import DeploymentDraft
from trading_system.strategies.sweep_spec import SweepSpec

ParamValue = bool | int | Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, Field(max_length=200)]


class _OverBars(BaseModel):
    """What a backtest and a sweep share: a strategy over stored bars, and how orders fill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(min_length=1, max_length=64, description="e.g. sma_cross")
    timeframe: Timeframe = Timeframe.D1
    start: datetime | None = None
    end: datetime | None = None
    cash: float = Field(default=10_000, gt=0, le=1e12, allow_inf_nan=False)
    profile: str = Field(default="backtesting_py", max_length=64, description="the fill profile")
    commission: float | None = Field(default=None, ge=-0.1, lt=0.1, allow_inf_nan=False)
    spread: float | None = Field(default=None, ge=0, lt=0.1, allow_inf_nan=False)
    finalize: bool = Field(default=True, description="close trades still open on the last bar")
    adjustment: Adjustment = Field(
        default=Adjustment.SPLIT,
        description="split: prices before a split divided by its ratio, so a split is no crash; "
        "raw: the prices as traded",
    )

    @field_validator("symbols", check_fields=False)
    @classmethod
    def _distinct(cls, symbols: list[str]) -> list[str]:
        if len(set(symbols)) != len(symbols):
            raise ValueError("a symbol is named twice")
        return symbols


class BacktestRequest(_OverBars):
    """A backtest: a strategy with its parameters over stored bars of one symbol, or of several
    sharing one cash account."""

    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=50)
    symbols: list[Symbol] = Field(
        default_factory=list, max_length=500, description="empty: the universe of `universe_scanner`"
    )
    universe_scanner: str | None = Field(
        default=None,
        validate_default=True,
        max_length=64,
        description="a scanner: a symbol may be entered only on bars where the scanner's rules matched it "
        "(as they did on that bar, from bars up to it); its universe when `symbols` is empty",
    )

    _some_universe = field_validator("universe_scanner")(some_universe)


class SweepRequest(_OverBars):
    """A sweep: every combination of parameters on every symbol, each an independent backtest
    with `cash` of its own, ranked by a statistic."""

    sweep: SweepSpec
    symbols: list[Symbol] = Field(min_length=1, max_length=500)
    seed: int = Field(
        default=0, ge=0, le=2**31, description="for a random sample: the same seed, the same draw"
    )


class SubmitBacktest(Command):
    """Check a backtest and queue it; it runs on BacktestRequested and keeps its results."""

    request: BacktestRequest


class DeleteBacktest(Command):
    backtest_id: str = Field(min_length=1, max_length=64)


class CreateStrategy(Command):
    """Save a declarative strategy (its rules are parsed and checked first)."""

    draft: StrategyDraft


class UpdateStrategy(Command):
    name: str = Field(pattern=NAME_PATTERN)
    draft: StrategyDraft


class DeleteStrategy(Command):
    name: str = Field(pattern=NAME_PATTERN)


DeploymentId = Annotated[str, Field(min_length=1, max_length=64)]


class CreateDeployment(Command):
    """Bind a strategy and its parameters to a universe and a paper account, to trade live."""

    draft: DeploymentDraft


class StartDeployment(Command):
    deployment_id: DeploymentId


class PauseDeployment(Command):
    deployment_id: DeploymentId
    reason: PlainText = Field(default="paused by a person", max_length=500)


class StopDeployment(Command):
    deployment_id: DeploymentId
    reason: PlainText = Field(default="stopped by a person", max_length=500)


class SubmitSweep(Command):
    """Check a sweep (its combinations against the strategy's parameters, its ceilings) and queue
    it; it runs on SweepRequested and keeps every backtest's statistics."""

    request: SweepRequest


class DeleteSweep(Command):
    sweep_id: str = Field(min_length=1, max_length=64)


# -- a sweep's steps (catalog.FanOut): planned into blocks, run block by block, finished ------------


class PlanSweep(Command):
    """Start a queued sweep and split it into blocks of backtests (nothing when it already ran)."""

    sweep_id: str = Field(min_length=1, max_length=64)


class RunSweepBlock(Command):
    """Run one block: combinations [start, stop) on the request's symbols at these indices."""

    sweep_id: str = Field(min_length=1, max_length=64)
    block: int = Field(ge=0)
    blocks: int = Field(ge=1)
    symbols: list[int] = Field(min_length=1)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)


class FinishSweep(Command):
    """Rank a sweep whose blocks all ran, or fail it with the error that stopped one."""

    sweep_id: str = Field(min_length=1, max_length=64)
    blocks: int = Field(ge=1)
    error: str | None = None
