"""What a user can ask Strategies."""

from __future__ import annotations

from pydantic import Field

from trading_system.kernel.messages import Query

BacktestId = str


class ListStrategies(Query):
    pass


class GetStrategy(Query):
    name: str = Field(min_length=1, max_length=64)


class GetBacktest(Query):
    backtest_id: BacktestId = Field(min_length=1, max_length=64)


class ListBacktests(Query):
    """Newest first; with `ids`, those backtests side by side (to compare them)."""

    strategy: str | None = Field(default=None, max_length=64)
    ids: list[BacktestId] | None = Field(default=None, min_length=1, max_length=50)
    after: BacktestId | None = Field(
        default=None, max_length=64, description="the last id of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=500)


class GetBacktestTrades(Query):
    backtest_id: BacktestId = Field(min_length=1, max_length=64)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    limit: int = Field(default=1000, ge=1, le=10_000)


class GetBacktestEquity(Query):
    """The equity and drawdown curves, thinned to at most `points` (the last bar always kept)."""

    backtest_id: BacktestId = Field(min_length=1, max_length=64)
    points: int = Field(default=2000, ge=2, le=100_000)


class GetDeployment(Query):
    deployment_id: str = Field(min_length=1, max_length=64)


class ListDeployments(Query):
    pass


class GetParity(Query):
    """A deployment's live orders beside the backtest engine's on the same bars."""

    deployment_id: str = Field(min_length=1, max_length=64)


class GetSweep(Query):
    sweep_id: str = Field(min_length=1, max_length=64)


class ListSweeps(Query):
    after: str | None = Field(default=None, max_length=64, description="the last id of the previous page")
    limit: int = Field(default=50, ge=1, le=500)


class GetSweepRanking(Query):
    """The combinations best first by a statistic (the sweep's by default), aggregated over the
    symbols: mean, median and on how many symbols it is defined."""

    sweep_id: str = Field(min_length=1, max_length=64)
    rank_by: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=100, ge=1, le=1000)


class GetSweepHeatmap(Query):
    """A statistic's mean over the symbols for two swept parameters (the best cell where other
    swept parameters vary)."""

    sweep_id: str = Field(min_length=1, max_length=64)
    x: str = Field(min_length=1, max_length=64)
    y: str = Field(min_length=1, max_length=64)
    rank_by: str | None = Field(default=None, max_length=64)
