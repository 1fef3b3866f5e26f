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
    from trading_system.market_data.domain import Timeframe
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.strategies.engine import Bars
    from trading_system.strategies.results import BacktestReport

MAX_BARS = 5_000_000  # a backtest's bars per symbol: ten years of 1m bars fit


def run_backtest(cmd: RunBacktest, symbols: SymbolRepository, lake: BarLake) -> Handled[BacktestReport]:
    """One symbol: the single-symbol engine. Several: one portfolio sharing the cash, each symbol
    with its own instance of the strategy."""
    from trading_system.strategies import registry
    from trading_system.strategies.backtest import backtest, backtest_portfolio
    from trading_system.strategies.results import BacktestReport, TradeRow, equity_points, fingerprint, utc

    strategy = registry.build(cmd.strategy, cmd.params)
    profile = PROFILES.get(cmd.profile)
    if profile is None:
        raise ValidationFailed(
            f"unknown fill profile {cmd.profile!r}",
            [Problem(f"known profiles: {', '.join(PROFILES)}", field="profile", value=cmd.profile)],
        )
    profile = profile.with_costs(cmd.commission, cmd.spread)
    check_range(cmd.start, cmd.end)
    loaded = {symbol: _bars(cmd, symbol, symbols, lake) for symbol in cmd.symbols}
    sources = {source for _, source in loaded.values()}
    bars = {symbol: series for symbol, (series, _) in loaded.items()}
    if len(bars) == 1:
        ((symbol, only),) = bars.items()
        single = backtest(strategy, only, cmd.cash, profile, cmd.finalize)
        timeline, equity, stats = only.ts_ns, single.run.equity, single.stats
        trades = [TradeRow.of(symbol, trade) for trade in single.run.trades]
        still_open = len(single.run.open_trades)
    else:
        each = {symbol: registry.build(cmd.strategy, cmd.params) for symbol in bars}
        portfolio = backtest_portfolio(each, bars, cmd.cash, profile, cmd.finalize)
        timeline, equity, stats = portfolio.run.timeline_ns, portfolio.run.equity, portfolio.stats
        trades = [TradeRow.of(symbol, trade) for symbol, trade in portfolio.run.symbol_trades]
        still_open = len(portfolio.run.open_trades)
    report = BacktestReport(
        backtest_id=f"bt_{sortable_id()}",
        strategy=strategy.name,
        params=strategy.params.model_dump(),
        symbols=list(bars),
        timeframe=cmd.timeframe,
        source_timeframe=min(sources, key=lambda tf: tf.seconds),
        start=utc(int(timeline[0])),
        end=utc(int(timeline[-1])),
        bars=len(timeline),
        cash=cmd.cash,
        profile=profile.model_dump(),
        finalize=cmd.finalize,
        code_version=__version__,
        data_fingerprint=fingerprint(list(bars.values())),
        stats=stats,
        trades=trades,
        open_trades=still_open,
        equity=equity_points(timeline, equity) if cmd.equity_curve else None,
    )
    completed = BacktestCompleted(
        backtest_id=report.backtest_id,
        strategy=report.strategy,
        symbols=report.symbols,
        timeframe=cmd.timeframe,
        bars=report.bars,
        trades=len(report.trades),
        return_pct=report.stats.get("return_pct"),
        data_fingerprint=report.data_fingerprint,
    )
    return Handled(report, (completed,))


def _bars(cmd: RunBacktest, symbol: str, symbols: SymbolRepository, lake: BarLake) -> tuple[Bars, Timeframe]:
    """A symbol's bars over the backtest's range, from the finest stored timeframe needed."""
    from trading_system.strategies.engine import Bars

    listing = symbols.require(symbol)
    tf = cmd.timeframe
    start = tf.ceil(as_utc(cmd.start)) if cmd.start else EPOCH
    end_excl = tf.floor(as_utc(cmd.end)) + tf.delta if cmd.end else FOREVER
    source = listing.source_timeframe(tf, start, end_excl)
    series = lake.bars(symbol, tf, start, end_excl, MAX_BARS, source) if source else None
    if source is None or series is None or len(series) < 2:
        span = f"between {start.date()} and {end_excl.date()}" if cmd.start or cmd.end else "at all"
        reason = f"no {tf.value} bars of {symbol} {span} (a backtest needs at least two)"
        raise ValidationFailed(reason, [Problem(reason, field="symbols", value=symbol)])
    return Bars(
        series.ts_us * 1000, series.open, series.high, series.low, series.close, series.volume
    ), source


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
