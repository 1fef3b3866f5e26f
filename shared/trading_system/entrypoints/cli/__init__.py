"""`trading`: the command line. It runs the application in-process on the local settings, so
it works with or without `trading serve` running (SQLite and the lake handle both).

A module a context, like the HTTP routes (`trading_system.entrypoints.http.<context>`), plus
`runtime` for the local runtime's own commands; what they share is in `common`. A command
imports its context's messages only when it runs, so `trading --help` stays quick.
"""

from __future__ import annotations

import typer

from trading_system.entrypoints.cli import (
    alerts,
    analytics,
    deployment,
    identity,
    market_data,
    runtime,
    scanning,
    strategies,
    trading,
    webhooks,
)

app = typer.Typer(help="The trading platform, local runtime.", no_args_is_help=True, add_completion=False)
# `trading --help` lists the commands in the order they are added: each context's commands...
for context in (runtime, market_data, analytics, scanning, trading, strategies):
    app.add_typer(context.commands)
# ...then the groups of commands.
app.add_typer(market_data.symbols_app, name="symbols")
app.add_typer(identity.keys_app, name="keys")
app.add_typer(identity.tokens_app, name="tokens")
app.add_typer(runtime.demo_app, name="demo")
app.add_typer(market_data.lake_app, name="lake")
app.add_typer(market_data.data_app, name="data")
app.add_typer(runtime.dead_app, name="dead-letters")
app.add_typer(scanning.scan_app, name="scan")
app.add_typer(trading.order_app, name="order")
app.add_typer(trading.accounts_app, name="accounts")
app.add_typer(strategies.backtest_app, name="backtest")
app.add_typer(strategies.strategy_app, name="strategy")
app.add_typer(strategies.sweep_app, name="sweep")
app.add_typer(deployment.deployment_app, name="deployment")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(alerts.alerts_app, name="alerts")


def main() -> None:  # pragma: no cover - console entry
    app()
