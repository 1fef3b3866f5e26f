"""Strategies' commands: the strategy list and backtests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from trading_system.entrypoints.cli.common import (
    Listing,
    ListingOption,
    MomentOption,
    TimeframeOption,
    ask,
    build_container,
    echo_json,
    echo_rows,
    execute,
    fail,
    make,
    moment,
)

if TYPE_CHECKING:
    from trading_system.bootstrap import Container
    from trading_system.kernel.messages import Envelope
    from trading_system.strategies.jobs import BacktestJob

console = Console(stderr=True)
commands = typer.Typer()
SYMBOLS_HELP = "a symbol, or several (comma-separated or repeated): one portfolio sharing the cash"
backtest_app = typer.Typer(help="Backtest a strategy on stored bars.", no_args_is_help=True)
sweep_app = typer.Typer(help="Sweep a strategy's parameters on stored bars.", no_args_is_help=True)
strategy_app = typer.Typer(help="Declarative strategies: rules, no Python.", no_args_is_help=True)
RULE_HELP = "a rule in the scanner rule language (docs/RULES.md), repeatable"

STATS_SHOWN = (
    ("return_pct", "Return [%]"),
    ("buy_and_hold_return_pct", "Buy & Hold Return [%]"),
    ("cagr_pct", "CAGR [%]"),
    ("sharpe_ratio", "Sharpe Ratio"),
    ("sortino_ratio", "Sortino Ratio"),
    ("max_drawdown_pct", "Max. Drawdown [%]"),
    ("trades", "# Trades"),
    ("win_rate_pct", "Win Rate [%]"),
    ("profit_factor", "Profit Factor"),
    ("equity_final", "Equity Final [$]"),
)


@commands.command("strategies")
def list_strategies(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The strategies that can be backtested, with their parameters."""
    from trading_system.strategies.queries import ListStrategies

    found = ask(ListStrategies())
    if as_json:
        echo_json(found)
        return
    for strategy in found:
        if strategy["kind"] == "rules":
            detail = "rules: " + " and ".join(strategy["rules"]["entry"])
        else:
            detail = ", ".join(
                f"{name}={spec.get('default')}"
                for name, spec in strategy["params"].get("properties", {}).items()
            )
        typer.echo(f"{strategy['name']:<20} {strategy['summary']}  ({detail})")


@strategy_app.command("save")
def save_strategy(
    name: Annotated[str, typer.Option(help="lower-case letters, digits and _, e.g. my_rsi")],
    entry: Annotated[list[str], typer.Option("--entry", help=f"{RULE_HELP}; all must hold to enter")],
    exit_: Annotated[list[str] | None, typer.Option("--exit", help=f"{RULE_HELP}; any one exits")] = None,
    side: Annotated[str, typer.Option(help="long or short")] = "long",
    fraction: Annotated[float, typer.Option(help="share of the equity an entry uses")] = 1.0,
    stop_loss_pct: Annotated[
        float | None, typer.Option(help="percent below (long) the entry bar's close")
    ] = None,
    take_profit_pct: Annotated[
        float | None, typer.Option(help="percent above (long) the entry bar's close")
    ] = None,
    max_positions: Annotated[int | None, typer.Option(help="in a portfolio, symbols held at once")] = None,
    summary: str = "",
    replace: Annotated[bool, typer.Option("--replace", help="replace a saved strategy of that name")] = False,
) -> None:
    """Save a declarative strategy; backtest it with `trading backtest run --strategy NAME`."""
    from trading_system.strategies.commands import CreateStrategy, UpdateStrategy
    from trading_system.strategies.definitions import RuleStrategyDefinition, StrategyDraft

    rules = make(
        RuleStrategyDefinition,
        entry=entry,
        exit=exit_ or [],
        side=side,
        fraction=fraction,
        stop_loss_pct=stop_loss_pct,
        take_profit_pct=take_profit_pct,
        max_positions=max_positions,
    )
    draft = make(StrategyDraft, name=name, summary=summary, rules=rules)
    command = UpdateStrategy(name=name, draft=draft) if replace else CreateStrategy(draft=draft)
    saved = execute(command)
    typer.echo(f"saved {saved.name}: enter when {' and '.join(saved.rules.entry)}")


@strategy_app.command("show")
def show_strategy(name: str) -> None:
    """A saved strategy, as JSON."""
    from trading_system.strategies.queries import GetStrategy

    echo_json(ask(make(GetStrategy, name=name)))


@strategy_app.command("delete")
def delete_strategy(name: str) -> None:
    """Delete a saved strategy (backtests already run keep what they ran)."""
    from trading_system.strategies.commands import DeleteStrategy

    execute(make(DeleteStrategy, name=name))
    typer.echo(f"deleted {name}")


@backtest_app.command("run")
def run_backtest(
    strategy: Annotated[str, typer.Option(help="e.g. sma_cross (see `trading strategies`)")],
    symbols: Annotated[list[str], typer.Option("--symbols", help=SYMBOLS_HELP)],
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value, repeatable")] = None,
    timeframe: TimeframeOption = "1d",
    start: MomentOption = None,
    end: MomentOption = None,
    cash: float = 10_000,
    commission: Annotated[float | None, typer.Option(help="relative, 0.002 = 0.2% a fill")] = None,
    spread: Annotated[float | None, typer.Option(help="relative slippage a fill")] = None,
    profile: Annotated[str, typer.Option(help="fill profile")] = "backtesting_py",
    keep_open: Annotated[
        bool, typer.Option("--keep-open", help="leave a position open at the end out of the trades")
    ] = False,
    equity: Annotated[bool, typer.Option("--equity", help="include the equity curve (with --json)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document, for scripts")] = False,
) -> None:
    """Run a backtest, keep its results, and print its statistics and trades."""
    from trading_system.strategies.commands import BacktestRequest, SubmitBacktest

    request = make(
        BacktestRequest,
        strategy=strategy,
        params=_params(param or []),
        symbols=[s.upper() for part in symbols for s in part.split(",") if s],
        timeframe=timeframe,
        start=moment(start),
        end=moment(end),
        cash=cash,
        commission=commission,
        spread=spread,
        profile=profile,
        finalize=not keep_open,
    )
    container = build_container()
    job = execute(SubmitBacktest(request=request), container)
    report = _report(_finished(job.backtest_id, container), container, equity)
    if as_json:
        echo_json(report)
        return
    _print_report(report)


@sweep_app.command("run")
def run_sweep(
    strategy: Annotated[str, typer.Option(help="e.g. sma_cross (see `trading strategies`)")],
    symbols: Annotated[
        list[str], typer.Option("--symbols", help="one symbol or several: each backtested alone")
    ],
    grid: Annotated[list[str], typer.Option("--grid", help="name=v1,v2,... (repeatable): the values to try")],
    fixed: Annotated[
        list[str] | None, typer.Option("--param", help="name=value kept in every combination")
    ] = None,
    rank_by: Annotated[str, typer.Option(help="the statistic that ranks the combinations")] = "sharpe_ratio",
    timeframe: TimeframeOption = "1d",
    start: MomentOption = None,
    end: MomentOption = None,
    cash: float = 10_000,
    commission: Annotated[float | None, typer.Option(help="relative, 0.002 = 0.2% a fill")] = None,
    top: Annotated[int, typer.Option(help="combinations shown")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="the job and its whole ranking, for scripts")
    ] = False,
) -> None:
    """Sweep a strategy's parameters over stored bars, keep every result, print the best."""
    from trading_system.strategies.commands import SubmitSweep, SweepRequest
    from trading_system.strategies.queries import GetSweep, GetSweepRanking
    from trading_system.strategies.sweep_spec import SweepSpec

    values = {name: [_value(v) for v in text.split(",") if v] for name, text in _params(grid).items()}
    spec = make(
        SweepSpec, grid=values, fixed={k: _value(v) for k, v in _params(fixed or []).items()}, rank_by=rank_by
    )
    request = make(
        SweepRequest,
        strategy=strategy,
        sweep=spec,
        symbols=[s.upper() for part in symbols for s in part.split(",") if s],
        timeframe=timeframe,
        start=moment(start),
        end=moment(end),
        cash=cash,
        commission=commission,
    )
    container = build_container()
    with sweep_progress(container, console):
        queued = execute(SubmitSweep(request=request), container)
    job = _waited(GetSweep(sweep_id=queued.sweep_id), container)
    if job.outcome is None:
        fail(f"error: sweep {job.sweep_id} {job.status.value}" + (f": {job.error}" if job.error else ""))
    ranking = ask(GetSweepRanking(sweep_id=job.sweep_id, limit=1000), container)
    if as_json:
        echo_json({**job.model_dump(mode="json"), "ranking": ranking})
        return
    typer.echo(
        f"{job.sweep_id}: {job.strategy_name} over {', '.join(job.outcome.symbols)}, "
        f"{job.outcome.backtests} backtests ({len(job.skipped)} combinations skipped), ranked by {rank_by}"
    )
    rows = [
        {**r["values"], "mean": r["mean"], "median": r["median"], "symbols": r["symbols"]}
        for r in ranking[:top]
    ]
    echo_rows(rows, [*values, "mean", "median", "symbols"], Listing.TABLE)


@contextmanager
def sweep_progress(container: Container, terminal: Console) -> Iterator[None]:
    """A progress bar of a sweep's backtests while it runs, fed by its events: the local runtime
    runs the sweep inside `execute`, block by block (nothing shows when `terminal` is not one;
    against AWS the CLI polls the job instead, and shows a status line)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("backtests"))
    with Progress(*columns, TimeElapsedColumn(), console=terminal, transient=True) as progress:
        task = progress.add_task("sweep", total=None)

        def observe(envelope: Envelope) -> None:
            if envelope.event_type == "SweepRequested":
                progress.update(task, total=envelope.payload["backtests"], completed=0)
            elif envelope.event_type == "SweepProgressed":
                progress.advance(task, envelope.payload["backtests"])

        container.bus.observers.append(observe)
        try:
            yield
        finally:
            container.bus.observers.remove(observe)


def _value(text: str) -> bool | int | float | str:
    """A parameter value as typed: 10 is an int, 0.5 a float, true a flag, anything else a word."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


@backtest_app.command("list")
def list_backtests(
    strategy: Annotated[str | None, typer.Option(help="only this strategy's backtests")] = None,
    limit: int = 50,
    output: ListingOption = Listing.TABLE,
) -> None:
    """Kept backtests, newest first."""
    from trading_system.strategies.queries import ListBacktests

    jobs = ask(make(ListBacktests, strategy=strategy, limit=limit))
    rows = [_row(job) for job in jobs]
    columns = [
        "backtest_id",
        "status",
        "strategy",
        "symbols",
        "timeframe",
        "return_pct",
        "sharpe_ratio",
        "trades",
    ]
    echo_rows(rows, columns, output)


@backtest_app.command("show")
def show_backtest(
    backtest_id: str,
    equity: Annotated[bool, typer.Option("--equity", help="include the equity curve (with --json)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document, for scripts")] = False,
) -> None:
    """A kept backtest: its statistics and trades."""
    from trading_system.strategies.queries import GetBacktest

    container = build_container()
    report = _report(ask(make(GetBacktest, backtest_id=backtest_id), container), container, equity)
    if as_json:
        echo_json(report)
        return
    _print_report(report)


@backtest_app.command("delete")
def delete_backtest(backtest_id: str) -> None:
    """Delete a kept backtest and its results."""
    from trading_system.strategies.commands import DeleteBacktest

    execute(make(DeleteBacktest, backtest_id=backtest_id))
    typer.echo(f"deleted {backtest_id}")


def _finished(backtest_id: str, container: Container) -> BacktestJob:
    from trading_system.strategies.queries import GetBacktest

    job: BacktestJob = _waited(GetBacktest(backtest_id=backtest_id), container)
    return job


def _waited(query: Any, container: Container, wait_s: float = 900) -> Any:
    """The job once it has run: at once locally (the in-process bus runs it), by polling in AWS."""
    deadline = time.monotonic() + wait_s
    with console.status(f"{type(query).__name__.removeprefix('Get').lower()} running"):
        while True:
            job = ask(query, container)
            if job.finished or time.monotonic() > deadline:
                return job
            time.sleep(1)


def _report(job: BacktestJob, container: Container, with_equity: bool) -> dict[str, Any]:
    """The job, its statistics, every trade and (when asked) the equity curve, as one document."""
    from trading_system.strategies.queries import GetBacktestEquity, GetBacktestTrades

    if job.outcome is None:
        fail(
            f"error: backtest {job.backtest_id} {job.status.value}" + (f": {job.error}" if job.error else "")
        )
    trades: list[dict[str, Any]] = []
    while page := ask(
        GetBacktestTrades(backtest_id=job.backtest_id, offset=len(trades), limit=10_000), container
    ):
        trades += page
    report = {
        "backtest_id": job.backtest_id,
        "status": job.status.value,
        "strategy": job.strategy_name,
        "params": job.params,
        **job.request.model_dump(mode="json", include={"timeframe", "cash", "finalize"}),
        **job.outcome.model_dump(mode="json", exclude={"trades"}),
        "trades": trades,
    }
    if with_equity:
        report["equity"] = ask(GetBacktestEquity(backtest_id=job.backtest_id, points=100_000), container)
    return report


def _print_report(report: dict[str, Any]) -> None:
    typer.echo(
        f"{report['backtest_id']}: {report['strategy']} {report['params']} on {', '.join(report['symbols'])} "
        f"{report['timeframe']}, {report['start'][:10]} to {report['end'][:10]} ({report['bars']} bars), "
        f"profile {report['profile']['name']}"
    )
    for key, label in STATS_SHOWN:
        value = report["stats"].get(key)
        typer.echo(f"  {label:<24} {'-' if value is None else round(value, 4)}")
    typer.echo("")
    rows = [
        {**t, "pnl": round(t["pnl"], 2), "return_pct": round(t["return_pct"], 4)} for t in report["trades"]
    ]
    columns = ["entry_time", "exit_time", "size", "entry_price", "exit_price", "pnl", "return_pct"]
    echo_rows(rows, columns, Listing.TABLE)


def _row(job: BacktestJob) -> dict[str, Any]:
    stats = job.outcome.stats if job.outcome else {}
    return {
        "backtest_id": job.backtest_id,
        "status": job.status.value,
        "strategy": job.strategy_name,
        "symbols": ",".join(job.request.symbols),
        "timeframe": job.request.timeframe.value,
        "return_pct": stats.get("return_pct"),
        "sharpe_ratio": stats.get("sharpe_ratio"),
        "trades": stats.get("trades"),
    }


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param {pair!r}: write name=value, e.g. --param n1=10")
        params[name.strip()] = value.strip()
    return params
