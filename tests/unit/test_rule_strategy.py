"""Declarative strategies: rules evaluated over a whole history must say, at every bar, what the
scanner says when that bar is the latest; and a rule strategy must trade as the Python strategy
it mirrors does."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from backtesting.test import GOOG
from pydantic import ValidationError

from tests.unit.test_backtest_oracle import bars_of
from trading_system.adapters.analytics_lake import AnalyticsLake
from trading_system.adapters.lake import ParquetLake
from trading_system.analytics import snapshot
from trading_system.config import load_settings
from trading_system.market_data.domain import Timeframe
from trading_system.scanning.rules import Compare, compile_rule, parse, scan_sql
from trading_system.strategies.backtest import Outcome, PortfolioOutcome, backtest, backtest_portfolio
from trading_system.strategies.builtin import RsiReversion
from trading_system.strategies.declarative import RuleStrategy, RuleStrategyDefinition
from trading_system.strategies.domain import Context, Indicator, Strategy, StrategyParams
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES
from trading_system.strategies.rule_series import RuleSeries, evaluate

PROFILE = PROFILES["backtesting_py"].with_costs(0.002, None)
HUGE = "close" + " * 1e12" * 26  # about 1e313: past the largest double, so inf

# Every node kind: fields, single- and multi-output indicators (with a source field and with
# defaults), prev of numbers, conditions and constants, crossovers of indicators, fields and
# levels, patterns, abs/min/max, negation, arithmetic chains, division by zero, overflow, condition
# equality, and not/and/or meeting the unknown values of warm-up bars.
RULES = [
    "rsi(14) < 30",
    "close > sma(200) and volume > 1.2 * sma(volume, 20)",
    "macd(12, 26, 9).hist > 0 and macd(12, 26, 9).signal < macd().macd",
    "close < bbands(20, 2).lower or close > bbands(20, 2.5).upper",
    "stoch().k < 20 and stoch(5, 3, 3).d < 25",
    "adx(14) > 25 and atr(14) > 0.02 * close",
    "obv() > prev(obv()) and vwap() < close",
    "wma(close, 10) > ema(open, 10)",
    "crosses_above(sma(10), sma(20))",
    "crosses_below(close, ema(20))",
    "crosses_above(rsi(14), 30) or crosses_below(rsi(14), 70)",
    "not crosses_above(sma(5), sma(10))",
    "close > prev(close) * 1.02",
    "prev(close < open) and close > open",
    "prev(true) and not prev(false)",
    "rsi(14) > prev(rsi(14))",
    "prev(macd().signal) < prev(macd().macd) - 0.1",
    "doji()",
    "hammer() or not hammer() and rsi(14) < 40",
    "bullish_engulfing() or bearish_engulfing()",
    "doji() == false and hammer() != bullish_engulfing()",
    "(rsi(14) < 50) == (close > open)",
    "(rsi(14) < 50) != prev(close > open)",
    "abs(close - open) < 0.1 * (high - low)",
    "min(open, close) - low > 2 * abs(close - open)",
    "close > max(prev(high), sma(20))",
    "min(sma(5), ema(5), wma(5)) < close",
    "max(rsi(14), stoch().k) > 60",
    "-close < -sma(50)",
    "close + open - high * 2 / low >= 0.5 * -prev(open - close)",
    "(close - low) / (high - low) > 0.5",
    "(close - open) / (close - close) > 0 or (close - open) / (close - close) <= 0",
    "not ((close - open) / (open - open) > 0)",
    "(close - prev(close)) / (open - prev(close)) > 1",
    f"{HUGE} > 1 or {HUGE} - {HUGE} < 1",
    f"1 / ({HUGE}) < 1",
    f"abs(-({HUGE})) > 0",
    "not (rsi(14) < 30)",
    "rsi(14) < 30 or close > open",
    "not (rsi(14) < 30 or close > 1000)",
    "not (sma(200) > 0 and close < open)",
    "true and false or not false",
]

# Rules that hold everywhere or nowhere on GOOG, by design (constants, zero divisors, overflow).
CONSTANT = {
    "prev(true) and not prev(false)",
    "(close - open) / (close - close) > 0 or (close - open) / (close - close) <= 0",
    "not ((close - open) / (open - open) > 0)",
    f"{HUGE} > 1 or {HUGE} - {HUGE} < 1",
    f"1 / ({HUGE}) < 1",
    f"abs(-({HUGE})) > 0",
    "true and false or not false",
}


def scanner_flags(rules: Sequence[str], bars: Bars, at: Sequence[int], folder: Path) -> np.ndarray:
    """What the scanner answers for each rule when bar i is the latest, for each i in `at`.

    The scanner's own path: one symbol per bar index whose history is the bars up to it,
    right-aligned and NaN-padded as the analytics lake hands them to `snapshot.build`; the
    snapshot saved by the lake (NaN stored as NULL) and the compiled scan run over it. Rows that
    match no rule are absent: all their flags are False.
    """
    width = max(at) + 1
    shape = (len(at), width)
    matrices = {name: np.full(shape, np.nan) for name in ("open", "high", "low", "close", "volume")}
    ts_us = np.zeros(shape, dtype=np.int64)
    for row, i in enumerate(at):
        for name, matrix in matrices.items():
            matrix[row, width - i - 1 :] = bars.column(name)[: i + 1]
        ts_us[row, width - i - 1 :] = bars.ts_ns[: i + 1] // 1000
    symbols = tuple(f"bar{i:05d}" for i in at)
    universe = snapshot.UniverseBars(symbols=symbols, ts_us=ts_us, **matrices)
    compiled = [compile_rule(parse(text)) for text in rules]
    specs = set(snapshot.DEFAULT_SPECS) | {spec for rule in compiled for spec in rule.specs}
    table, _ = snapshot.build(universe, specs)
    store = AnalyticsLake(ParquetLake.from_settings(load_settings(data_dir=folder)))
    store.save_snapshot(Timeframe.D1, table)
    scan = scan_sql(compiled, require="any")
    flags = np.zeros((len(rules), len(at)), dtype=bool)
    for found in map(scan.read, store.query_snapshot(Timeframe.D1, scan.sql, scan.params, None)):
        flags[:, symbols.index(found.symbol)] = found.held
    return flags


def oracle_bars(mine: np.ndarray) -> list[int]:
    """The bars to check: every warm-up bar of the slowest indicators' start, a spread over the
    history, and for each rule a few bars where it holds and a few where it changes."""
    n = mine.shape[1]
    chosen = set(range(0, 40)) | set(range(190, 205)) | set(range(40, n, 37)) | {n - 1}
    rng = np.random.default_rng(7)
    for flags in mine:
        held = np.flatnonzero(flags)
        changed = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
        for found in (held, changed):
            if len(found):
                chosen |= set(rng.choice(found, size=min(4, len(found)), replace=False).tolist())
    return sorted(chosen)


def test_vectorised_rules_equal_the_scanner_on_every_checked_bar(tmp_path: Path) -> None:
    bars = bars_of(GOOG)
    series = RuleSeries(bars)
    mine = np.array([series.holds(parse(text)) for text in RULES])
    at = oracle_bars(mine)
    assert len(at) >= 30
    theirs = scanner_flags(RULES, bars, at, tmp_path)
    for k, text in enumerate(RULES):
        wrong = [i for i, expected in zip(at, theirs[k], strict=True) if mine[k, i] != expected]
        assert not wrong, f"{text!r} differs from the scanner at bars {wrong[:10]}"
    # The check means something: every rule but the constant ones both holds and fails somewhere
    # among the checked bars.
    constant = {text for k, text in enumerate(RULES) if theirs[k].all() or not theirs[k].any()}
    assert constant == CONSTANT


def test_warm_up_and_missing_values_follow_the_scanner() -> None:
    bars = bars_of(GOOG)
    series = RuleSeries(bars)

    def holds(text: str) -> np.ndarray:
        return series.holds(parse(text))

    # no RSI yet (bars 0..13): neither the comparison nor its negation matches; `or` may
    assert not holds("rsi(14) < 30")[:14].any() and not holds("not (rsi(14) < 30)")[:14].any()
    assert holds("rsi(14) < 30 or close > 100")[:14].all()
    # bar 0 has no previous bar, but a constant needs none and a crossover already false is known
    assert not holds("prev(close) > 0")[0] and holds("prev(close) > 0")[1]
    assert holds("prev(true)")[0]
    assert holds("not crosses_above(close, 1e6)")[0]
    assert not holds("not crosses_above(close, 0)")[0]
    # division by zero is missing; an overflow is missing where compared, a number when divided by
    assert not holds("close / (open - open) > 0 or not (close / (open - open) > 0)").any()
    assert not holds(f"{HUGE} > 1").any() and holds(f"1 / ({HUGE}) < 1").all()


def test_numbers_and_conditions_come_back_as_floats_and_booleans() -> None:
    bars = bars_of(GOOG.iloc[:60])
    rule = parse("close > sma(20)")
    ratio = parse("close / (open - open) > 0").expr
    assert isinstance(rule.expr, Compare) and isinstance(ratio, Compare)
    sma = evaluate(rule.expr.right, bars)
    assert sma.dtype == np.float64 and np.isnan(sma[:19]).all() and not np.isnan(sma[19:]).any()
    assert np.isnan(RuleSeries(bars).evaluate(ratio.left)).all()  # a division by zero is missing
    held = evaluate(rule, bars)
    assert held.dtype == np.bool_ and not held[:19].any()
    np.testing.assert_array_equal(held[19:], bars.close[19:] > sma[19:])


# -------------------------------------------------------------------------------------------------
# Strategies


def rule_strategy(entry: list[str], exit: list[str], **options: object) -> RuleStrategy:
    return RuleStrategy(RuleStrategyDefinition.model_validate({"entry": entry, "exit": exit, **options}))


def assert_same_run(a: Outcome, b: Outcome) -> None:
    assert a.run.trades == b.run.trades
    assert np.array_equal(a.run.equity, b.run.equity)
    assert a.stats == b.stats


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_rsi_reversion_as_rules_trades_as_the_builtin(fraction: float) -> None:
    bars = bars_of(GOOG)
    python = backtest(RsiReversion(RsiReversion.Params(fraction=fraction)), bars, 10_000, PROFILE)
    rules = backtest(
        rule_strategy(["rsi(14) < 30"], ["rsi(14) > 70"], fraction=fraction), bars, 10_000, PROFILE
    )
    assert len(python.run.trades) > 3
    assert_same_run(rules, python)


class LongSmaCross(Strategy):
    """SmaCross without the shorts: long on a cross above, out on a cross below."""

    name = "long_sma_cross"

    def indicators(self) -> Mapping[str, Indicator]:
        return {"fast": "sma:10", "slow": "sma:20"}

    def next(self, ctx: Context) -> None:
        if ctx.crossed_above("fast", "slow") and not ctx.position:
            ctx.buy()
        elif ctx.crossed_below("fast", "slow") and ctx.position:
            ctx.close()


def test_long_only_sma_cross_as_rules_trades_as_python() -> None:
    bars = bars_of(GOOG)
    python = backtest(LongSmaCross(StrategyParams()), bars, 10_000, PROFILE)
    rules = rule_strategy(["crosses_above(sma(10), sma(20))"], ["crosses_below(sma(10), sma(20))"])
    outcome = backtest(rules, bars, 10_000, PROFILE)
    assert len(python.run.trades) > 10
    assert outcome.run.warmup == python.run.warmup == 19
    assert_same_run(outcome, python)


@pytest.mark.parametrize("side", ["long", "short"])
def test_acting_only_on_entry_and_exit_bars_changes_nothing_with_brackets(side: str) -> None:
    bars = bars_of(GOOG)
    entry, exit_ = (
        (["rsi(14) < 40"], ["rsi(14) > 60"]) if side == "long" else (["rsi(14) > 60"], ["rsi(14) < 40"])
    )
    strategy = rule_strategy(entry, exit_, side=side, fraction=0.5, stop_loss_pct=4, take_profit_pct=6)
    fast = backtest(strategy, bars, 10_000, PROFILE)
    plain = backtest(strategy, bars, 10_000, PROFILE, path="every_bar")
    assert_same_run(fast, plain)
    trades = fast.run.trades
    assert len(trades) > 10
    assert all((t.size > 0) == (side == "long") for t in trades)
    # some trades were closed by a bracket, on bars where no rule held
    active = strategy.active_bars({"entry": strategy.signals(bars)[0], "exit": strategy.signals(bars)[1]})
    assert any(not active[t.exit_bar - 1] for t in trades[:-1])


def flat_then(prices: list[float]) -> Bars:
    n = len(prices)
    close = np.array(prices)
    ts = np.arange(n, dtype=np.int64) * 86_400_000_000_000
    return Bars(ts, close.copy(), close + 0.5, close - 0.5, close, np.full(n, 1000.0))


@pytest.mark.parametrize(
    ("side", "stop_loss", "take_profit"), [("long", 95.0, 110.0), ("short", 105.0, 90.0)]
)
def test_brackets_are_set_from_the_signal_bars_close(side: str, stop_loss: float, take_profit: float) -> None:
    bars = flat_then([50, 50, 50, 100, 100, 100, 100])  # the entry rule holds on bar 3 only
    strategy = rule_strategy(["close > prev(close)"], [], side=side, stop_loss_pct=5, take_profit_pct=10)
    outcome = backtest(strategy, bars, 100_000, PROFILES["backtesting_py"], finalize=False)
    [trade] = outcome.run.open_trades
    assert trade.entry_bar == 4 and (trade.size > 0) == (side == "long")
    assert trade.sl_order is not None and trade.tp_order is not None
    assert trade.sl_order.stop == pytest.approx(stop_loss)
    assert trade.tp_order.limit == pytest.approx(take_profit)


def test_a_short_is_closed_by_its_exit_rule() -> None:
    bars = flat_then([50, 50, 60, 60, 55, 55, 55])
    strategy = rule_strategy(["close > prev(close)"], ["close < prev(close)"], side="short")
    outcome = backtest(strategy, bars, 100_000, PROFILES["backtesting_py"])
    [trade] = outcome.run.trades
    assert trade.size < 0 and (trade.entry_bar, trade.exit_bar) == (3, 5)
    assert trade.pnl > 0  # sold at 60, bought back at 55


def three_symbols() -> dict[str, Bars]:
    """GOOG, GOOG 300 bars later and GOOG backwards, on one calendar: three different paths."""
    goog = bars_of(GOOG)
    paths: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "AAA": lambda v: v,
        "BBB": lambda v: np.roll(v, 300),
        "CCC": lambda v: v[::-1].copy(),
    }
    names = ("open", "high", "low", "close", "volume")
    return {s: Bars(goog.ts_ns.copy(), *(path(goog.column(c)) for c in names)) for s, path in paths.items()}


def most_held_at_once(outcome: PortfolioOutcome, moments: int) -> int:
    held = np.zeros(moments + 1, dtype=int)
    for _, trade in outcome.run.trades:
        held[trade.entry_bar] += 1
        held[trade.exit_bar] -= 1  # the exit fills at that moment's open
    return int(np.cumsum(held).max())


@pytest.mark.parametrize("cap", [1, 2])
def test_max_positions_caps_the_symbols_held_at_once(cap: int) -> None:
    bars = three_symbols()
    definition = {"entry": ["rsi(14) < 45"], "exit": ["rsi(14) > 55"], "fraction": 0.3}

    def run(**options: object) -> PortfolioOutcome:
        strategies = {
            s: RuleStrategy(RuleStrategyDefinition.model_validate({**definition, **options})) for s in bars
        }
        return backtest_portfolio(strategies, bars, 30_000, PROFILE)

    free = run()
    capped = run(max_positions=cap)
    moments = len(bars["AAA"])
    assert most_held_at_once(free, moments) == 3
    assert most_held_at_once(capped, moments) == cap
    assert len(capped.run.trades) < len(free.run.trades)


def test_max_positions_alone_counts_only_its_own_symbol() -> None:
    bars = bars_of(GOOG)
    free = backtest(rule_strategy(["rsi(14) < 30"], ["rsi(14) > 70"]), bars, 10_000, PROFILE)
    capped = backtest(
        rule_strategy(["rsi(14) < 30"], ["rsi(14) > 70"], max_positions=1), bars, 10_000, PROFILE
    )
    assert_same_run(capped, free)


# -------------------------------------------------------------------------------------------------
# Definitions


def problem(**fields: object) -> str:
    with pytest.raises(ValidationError) as caught:
        RuleStrategyDefinition.model_validate(fields)
    return str(caught.value)


def test_rule_errors_name_the_list_the_index_and_the_position() -> None:
    message = problem(entry=["close > 1", "rsii(14) < 30"], exit=["rsi(14) > 70"])
    assert "entry[1]: line 1, column 1: unknown function 'rsii'; did you mean 'rsi'?" in message
    message = problem(entry=["close > 1"], exit=["rsi(14) > 70", "close >"])
    assert "exit[1]: line 1, column 8: expected a number" in message


def test_a_rule_must_be_a_condition() -> None:
    assert "entry[0]: line 1, column 1: a rule must be a condition" in problem(
        entry=["rsi(14)"], exit=["true"]
    )
    assert "exit[0]: " in problem(entry=["true"], exit=["close + 1"])


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"entry": [], "exit": ["true"]}, "at least 1 item"),
        ({"entry": ["true"] * 11, "exit": ["true"]}, "at most 10 items"),
        ({"entry": ["true"], "exit": ["true"] * 11}, "at most 10 items"),
        ({"entry": ["true"], "exit": ["true"], "fraction": 0}, "greater than 0"),
        ({"entry": ["true"], "exit": ["true"], "fraction": 1.5}, "less than or equal to 1"),
        ({"entry": ["true"], "exit": ["true"], "stop_loss_pct": 100}, "less than 100"),
        ({"entry": ["true"], "exit": ["true"], "take_profit_pct": 0}, "greater than 0"),
        ({"entry": ["true"], "exit": ["true"], "take_profit_pct": 1000}, "less than 1000"),
        ({"entry": ["true"], "exit": ["true"], "max_positions": 0}, "greater than or equal to 1"),
        ({"entry": ["true"], "exit": ["true"], "side": "both"}, "'long' or 'short'"),
        ({"entry": ["true"], "exit": ["true"], "exits": []}, "Extra inputs are not permitted"),
        ({"entry": ["true"]}, "a strategy needs a way out"),
        ({"entry": ["true"], "side": "short", "take_profit_pct": 100}, "below 100"),
    ],
)
def test_definitions_out_of_range_are_refused(fields: dict[str, object], fragment: str) -> None:
    assert fragment in problem(**fields)


def test_a_definition_with_only_brackets_to_exit_is_fine() -> None:
    definition = RuleStrategyDefinition(entry=["rsi(14) < 30"], stop_loss_pct=5)
    strategy = RuleStrategy(definition, name="oversold_with_stop")
    assert strategy.name == "oversold_with_stop" and RuleStrategy.name == "rules"
    assert definition.exit == [] and definition.side == "long" and definition.fraction == 1.0
