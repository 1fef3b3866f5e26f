"""Strategies' commands: the strategy list and backtests."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trading_system.entrypoints.cli.common import (
    Listing,
    MomentOption,
    TimeframeOption,
    ask,
    echo_json,
    echo_rows,
    execute,
    fail,
    make,
    moment,
)

commands = typer.Typer()
SYMBOLS_HELP = "a symbol, or several (comma-separated or repeated): one portfolio sharing the cash"
backtest_app = typer.Typer(help="Backtest a strategy on stored bars.", no_args_is_help=True)

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
        params = ", ".join(
            f"{name}={spec.get('default')}" for name, spec in strategy["params"].get("properties", {}).items()
        )
        typer.echo(f"{strategy['name']:<20} {strategy['summary']}  ({params})")


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
    """Run a backtest and print its statistics and trades."""
    from trading_system.strategies.commands import RunBacktest

    command = make(
        RunBacktest,
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
        equity_curve=equity,
    )
    report = execute(command)
    if as_json:
        echo_json(report)
        return
    typer.echo(
        f"{report.strategy} {report.params} on {', '.join(report.symbols)} {report.timeframe.value}, "
        f"{report.start.date()} to {report.end.date()} ({report.bars} bars), profile {report.profile['name']}"
    )
    for key, label in STATS_SHOWN:
        value = report.stats.get(key)
        typer.echo(f"  {label:<24} {'-' if value is None else round(value, 4)}")
    typer.echo("")
    rows = [
        {**t.model_dump(mode="json"), "pnl": round(t.pnl, 2), "return_pct": round(t.return_pct, 4)}
        for t in report.trades
    ]
    columns = ["entry_time", "exit_time", "size", "entry_price", "exit_price", "pnl", "return_pct"]
    echo_rows(rows, columns, Listing.TABLE)


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param {pair!r}: write name=value, e.g. --param n1=10")
        params[name.strip()] = value.strip()
    return params
