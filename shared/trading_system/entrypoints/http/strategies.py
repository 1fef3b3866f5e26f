"""Strategies routes: the strategy list and backtests as jobs.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import kept_apart, route
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.strategies.commands import (
    BacktestRequest,
    CreateDeployment,
    CreateStrategy,
    DeleteBacktest,
    DeleteStrategy,
    DeleteSweep,
    PauseDeployment,
    StartDeployment,
    StopDeployment,
    SubmitBacktest,
    SubmitSweep,
    SweepRequest,
    UpdateStrategy,
)
from trading_system.strategies.definitions import SavedStrategy, StrategyDraft
from trading_system.strategies.deployments import Deployment, DeploymentDraft
from trading_system.strategies.jobs import BacktestJob, SweepJob
from trading_system.strategies.queries import (
    GetBacktest,
    GetBacktestEquity,
    GetBacktestTrades,
    GetDeployment,
    GetStrategy,
    GetSweep,
    GetSweepHeatmap,
    GetSweepRanking,
    ListBacktests,
    ListDeployments,
    ListStrategies,
    ListSweeps,
)


def list_strategies(bus: Bus, context: Context) -> list[dict[str, Any]]:
    strategies: list[dict[str, Any]] = bus.ask(ListStrategies(), context)
    return strategies


@route(status_code=201)
def create_strategy(body: StrategyDraft, response: Response, bus: Bus, context: Context) -> SavedStrategy:
    saved: SavedStrategy = bus.execute(CreateStrategy(draft=body), context)
    response.headers["Location"] = f"/v1/strategies/{saved.name}"
    return saved


def get_strategy(
    name: Annotated[str, like(GetStrategy, "name", in_path=True)], bus: Bus, context: Context
) -> SavedStrategy:
    saved: SavedStrategy = bus.ask(GetStrategy(name=name), context)
    return saved


def update_strategy(
    name: Annotated[str, like(UpdateStrategy, "name", in_path=True)],
    body: StrategyDraft,
    bus: Bus,
    context: Context,
) -> SavedStrategy:
    saved: SavedStrategy = bus.execute(UpdateStrategy(name=name, draft=body), context)
    return saved


@route(status_code=204)
def delete_strategy(
    name: Annotated[str, like(DeleteStrategy, "name", in_path=True)], bus: Bus, context: Context
) -> Response:
    bus.execute(DeleteStrategy(name=name), context)
    return Response(status_code=204)


@route(status_code=202)
def submit_backtest(body: BacktestRequest, response: Response, bus: Bus, context: Context) -> BacktestJob:
    job: BacktestJob = bus.execute(SubmitBacktest(request=body), context)
    response.headers["Location"] = f"/v1/backtests/{job.backtest_id}"
    return job


# 1 to 50 non-empty ids: the schema refuses what the route would (Query applies the pattern)
_IDS_PATTERN = r"^\s*[^\s,]+\s*(,\s*[^\s,]+\s*){0,49}$"


def list_backtests(
    bus: Bus,
    context: Context,
    strategy: str | None = like(ListBacktests, "strategy"),
    ids: Annotated[
        str | None, Query(pattern=_IDS_PATTERN, description="1 to 50 backtest ids, comma-separated")
    ] = None,
    after: str | None = like(ListBacktests, "after"),
    limit: int = like(ListBacktests, "limit"),
) -> list[BacktestJob]:
    """`ids=a,b,c` lists those backtests side by side, in that order, to compare them."""
    wanted = [i.strip() for i in ids.split(",") if i.strip()] if ids is not None else None
    if wanted is not None and not 1 <= len(wanted) <= 50:
        reason = "ids takes 1 to 50 comma-separated backtest ids"
        raise ValidationFailed(reason, [Problem(reason, field="ids", value=ids[:200] if ids else ids)])
    jobs: list[BacktestJob] = bus.ask(
        ListBacktests(strategy=strategy, ids=wanted, after=after, limit=limit), context
    )
    return jobs


def get_backtest(
    backtest_id: Annotated[str, like(GetBacktest, "backtest_id", in_path=True)], bus: Bus, context: Context
) -> BacktestJob:
    job: BacktestJob = bus.ask(GetBacktest(backtest_id=backtest_id), context)
    return job


def get_backtest_trades(
    backtest_id: Annotated[str, like(GetBacktestTrades, "backtest_id", in_path=True)],
    bus: Bus,
    context: Context,
    offset: int = like(GetBacktestTrades, "offset"),
    limit: int = like(GetBacktestTrades, "limit"),
) -> list[dict[str, Any]]:
    query = GetBacktestTrades(backtest_id=backtest_id, offset=offset, limit=limit)
    trades: list[dict[str, Any]] = bus.ask(query, context)
    return trades


def get_backtest_equity(
    backtest_id: Annotated[str, like(GetBacktestEquity, "backtest_id", in_path=True)],
    bus: Bus,
    context: Context,
    points: int = like(GetBacktestEquity, "points"),
) -> list[dict[str, Any]]:
    curve: list[dict[str, Any]] = bus.ask(GetBacktestEquity(backtest_id=backtest_id, points=points), context)
    return curve


@route(status_code=204)
def delete_backtest(
    backtest_id: Annotated[str, like(DeleteBacktest, "backtest_id", in_path=True)], bus: Bus, context: Context
) -> Response:
    bus.execute(DeleteBacktest(backtest_id=backtest_id), context)
    return Response(status_code=204)


@route(status_code=201)
def create_deployment(body: DeploymentDraft, response: Response, bus: Bus, context: Context) -> Deployment:
    deployment: Deployment = bus.execute(CreateDeployment(draft=body), context)
    response.headers["Location"] = f"/v1/deployments/{deployment.deployment_id}"
    return deployment


def list_deployments(bus: Bus, context: Context) -> list[Deployment]:
    found: list[Deployment] = bus.ask(ListDeployments(), context)
    return found


def get_deployment(
    deployment_id: Annotated[str, like(GetDeployment, "deployment_id", in_path=True)],
    bus: Bus,
    context: Context,
) -> Deployment:
    found: Deployment = bus.ask(GetDeployment(deployment_id=deployment_id), context)
    return found


def start_deployment(
    deployment_id: Annotated[str, like(StartDeployment, "deployment_id", in_path=True)],
    bus: Bus,
    context: Context,
) -> Deployment:
    started: Deployment = bus.execute(StartDeployment(deployment_id=deployment_id), context)
    return started


def pause_deployment(
    deployment_id: Annotated[str, like(PauseDeployment, "deployment_id", in_path=True)],
    bus: Bus,
    context: Context,
) -> Deployment:
    paused: Deployment = bus.execute(PauseDeployment(deployment_id=deployment_id), context)
    return paused


def stop_deployment(
    deployment_id: Annotated[str, like(StopDeployment, "deployment_id", in_path=True)],
    bus: Bus,
    context: Context,
) -> Deployment:
    stopped: Deployment = bus.execute(StopDeployment(deployment_id=deployment_id), context)
    return stopped


@route(status_code=202)
def submit_sweep(body: SweepRequest, response: Response, bus: Bus, context: Context) -> SweepJob:
    job: SweepJob = bus.execute(SubmitSweep(request=body), context)
    response.headers["Location"] = f"/v1/sweeps/{job.sweep_id}"
    return job


def list_sweeps(
    bus: Bus,
    context: Context,
    after: str | None = like(ListSweeps, "after"),
    limit: int = like(ListSweeps, "limit"),
) -> list[SweepJob]:
    found: list[SweepJob] = bus.ask(ListSweeps(after=after, limit=limit), context)
    return found


def get_sweep(
    sweep_id: Annotated[str, like(GetSweep, "sweep_id", in_path=True)], bus: Bus, context: Context
) -> SweepJob:
    found: SweepJob = bus.ask(GetSweep(sweep_id=sweep_id), context)
    return found


def get_sweep_ranking(
    sweep_id: Annotated[str, like(GetSweepRanking, "sweep_id", in_path=True)],
    bus: Bus,
    context: Context,
    rank_by: str | None = like(GetSweepRanking, "rank_by"),
    limit: int = like(GetSweepRanking, "limit"),
) -> list[dict[str, Any]]:
    ranked: list[dict[str, Any]] = bus.ask(
        GetSweepRanking(sweep_id=sweep_id, rank_by=rank_by, limit=limit), context
    )
    return ranked


def get_sweep_heatmap(
    sweep_id: Annotated[str, like(GetSweepHeatmap, "sweep_id", in_path=True)],
    x: Annotated[str, like(GetSweepHeatmap, "x")],
    y: Annotated[str, like(GetSweepHeatmap, "y")],
    bus: Bus,
    context: Context,
    rank_by: str | None = like(GetSweepHeatmap, "rank_by"),
) -> dict[str, Any]:
    heat: dict[str, Any] = bus.ask(GetSweepHeatmap(sweep_id=sweep_id, x=x, y=y, rank_by=rank_by), context)
    return heat


@route(status_code=204)
def delete_sweep(
    sweep_id: Annotated[str, like(DeleteSweep, "sweep_id", in_path=True)], bus: Bus, context: Context
) -> Response:
    bus.execute(DeleteSweep(sweep_id=sweep_id), context)
    return Response(status_code=204)


# A deployment's parity report is read by its own route alone (the handlers import it only to
# answer it): kept apart, so that the context's other routes do not build its models. So are
# webhooks' routes (Strategies' in the catalog), their handlers tables of their own
# (bootstrap.TABLES_APART) that no other route needs; and the alerts' route apart from the
# others, since it alone loads Trading's and Scanning's commands.
__getattr__ = kept_apart(
    __name__,
    {
        "get_parity": "parity",
        "create_webhook": "webhooks",
        "delete_webhook": "webhooks",
        "list_webhooks": "webhooks",
        "receive_webhook": "webhook_alerts",
    },
)
