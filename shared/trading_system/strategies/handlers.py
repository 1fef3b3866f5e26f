"""Strategies' application layer: backtests and the strategy list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading_system import __version__
from trading_system.kernel.bus import Handled, HandlerTable
from trading_system.kernel.clock import sortable_id
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.domain import EPOCH, FOREVER, as_utc, check_range
from trading_system.strategies.commands import RunBacktest
from trading_system.strategies.events import BacktestCompleted
from trading_system.strategies.fills import PROFILES
from trading_system.strategies.queries import ListStrategies

if TYPE_CHECKING:
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.strategies.results import BacktestReport

MAX_BARS = 5_000_000  # a backtest's bars per symbol: ten years of 1m bars fit


def run_backtest(cmd: RunBacktest, symbols: SymbolRepository, lake: BarLake) -> Handled[BacktestReport]:
    from trading_system.strategies import registry
    from trading_system.strategies.backtest import backtest
    from trading_system.strategies.engine import Bars
    from trading_system.strategies.results import BacktestReport, TradeRow, equity_points, fingerprint, utc

    strategy = registry.build(cmd.strategy, cmd.params)
    profile = PROFILES.get(cmd.profile)
    if profile is None:
        raise ValidationFailed(
            f"unknown fill profile {cmd.profile!r}",
            [Problem(f"known profiles: {', '.join(PROFILES)}", field="profile", value=cmd.profile)],
        )
    profile = profile.with_costs(cmd.commission, cmd.spread)
    if len(cmd.symbols) > 1:
        reason = "portfolio backtests (several symbols sharing cash) are not available yet: give one symbol"
        raise ValidationFailed(reason, [Problem(reason, field="symbols", value=cmd.symbols)])
    check_range(cmd.start, cmd.end)
    (symbol,) = cmd.symbols
    listing = symbols.require(symbol)
    tf = cmd.timeframe
    start = tf.ceil(as_utc(cmd.start)) if cmd.start else EPOCH
    end_excl = tf.floor(as_utc(cmd.end)) + tf.delta if cmd.end else FOREVER
    source = listing.source_timeframe(tf, start, end_excl)
    series = lake.bars(symbol, tf, start, end_excl, MAX_BARS, source) if source else None
    if series is None or len(series) < 2:
        span = f"between {start.date()} and {end_excl.date()}" if cmd.start or cmd.end else "at all"
        reason = f"no {tf.value} bars of {symbol} {span} (a backtest needs at least two)"
        raise ValidationFailed(reason, [Problem(reason, field="symbols", value=symbol)])
    bars = Bars(series.ts_us * 1000, series.open, series.high, series.low, series.close, series.volume)
    outcome = backtest(strategy, bars, cmd.cash, profile, cmd.finalize)
    report = BacktestReport(
        backtest_id=f"bt_{sortable_id()}",
        strategy=strategy.name,
        params=strategy.params.model_dump(),
        symbols=[symbol],
        timeframe=tf,
        source_timeframe=source,
        start=utc(int(bars.ts_ns[0])),
        end=utc(int(bars.ts_ns[-1])),
        bars=len(bars),
        cash=cmd.cash,
        profile=profile.model_dump(),
        finalize=cmd.finalize,
        code_version=__version__,
        data_fingerprint=fingerprint(bars),
        stats=outcome.stats,
        trades=[TradeRow.of(symbol, trade) for trade in outcome.run.trades],
        open_trades=len(outcome.run.open_trades),
        equity=equity_points(bars, outcome.run.equity) if cmd.equity_curve else None,
    )
    completed = BacktestCompleted(
        backtest_id=report.backtest_id,
        strategy=report.strategy,
        symbols=report.symbols,
        timeframe=tf,
        bars=report.bars,
        trades=len(report.trades),
        return_pct=report.stats.get("return_pct"),
        data_fingerprint=report.data_fingerprint,
    )
    return Handled(report, (completed,))


def list_strategies(query: ListStrategies) -> list[dict[str, Any]]:
    from trading_system.strategies import registry

    return [
        {"name": name, "summary": kind.summary, "params": kind.Params.model_json_schema()}
        for name, kind in sorted(registry.available().items())
    ]


HANDLERS = HandlerTable(
    commands={RunBacktest: run_backtest},
    queries={ListStrategies: list_strategies},
)
