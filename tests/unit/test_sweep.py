"""Parameter sweeps and the vectorised backtest behind them.

The vectorised path must give what the event-driven engine gives (itself held to backtesting.py
by test_backtest_oracle.py): the same trades (bars, prices, sizes), the same equity to the last
bit and the same statistics, on backtesting.py's GOOG data and on random walks with flat
stretches, price gaps, missing days and bankruptcies. The batched statistics must equal
compute_stats to 1e-9 relative."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from backtesting.test import EURUSD, GOOG
from pydantic import Field, ValidationError

from tests.unit.test_backtest_oracle import bars_of
from trading_system.kernel.errors import ValidationFailed
from trading_system.strategies.backtest import Outcome, backtest
from trading_system.strategies.builtin import DonchianBreakout, RsiReversion, SmaCross
from trading_system.strategies.declarative import RuleStrategy, RuleStrategyDefinition
from trading_system.strategies.domain import Context, Indicator, Strategy, StrategyParams
from trading_system.strategies.engine import Bars
from trading_system.strategies.fills import PROFILES, FillProfile
from trading_system.strategies.statistics import compute_stats
from trading_system.strategies.sweep import (
    MAX_BACKTESTS,
    MAX_COMBINATIONS,
    SweepSpec,
    check_ceilings,
    combinations,
    default_descending,
    replay,
    run_sweep,
)
from trading_system.strategies.vector import (
    STAT_KEYS,
    EntryExit,
    Reversal,
    SeriesCache,
    Signals,
    VectorSignals,
    batch_stats,
    stats_row,
    vector_backtest,
    vector_run,
    vectorisable,
)

PROFILE = PROFILES["backtesting_py"].with_costs(0.002, None)
FREE = PROFILES["backtesting_py"]
PROFILES_TRIED = {
    "backtesting_py 0.002": PROFILE,
    "backtesting_py free": FREE,
    "last_close, spread": PROFILES["last_close"].with_costs(0.001, 0.0005),
    "fixed commission": FillProfile(name="fixed", commission=0.001, commission_fixed=2.5),
}


def walk(seed: int, n: int = 500, vol: float = 0.03, drift: float = 0.0) -> Bars:
    """A random walk with flat stretches, opening gaps of 15% and missing days (weekends and
    holidays at random)."""
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    for _ in range(5):
        at = int(rng.integers(0, n - 20))
        close[at : at + int(rng.integers(3, 20))] = close[at]
    open_ = close * (1 + rng.normal(0, 0.003, n))
    gaps = rng.choice(n, 10, replace=False)
    open_[gaps] *= rng.choice([0.85, 1.15], 10)
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    days = np.arange(n) + np.cumsum(rng.random(n) < 0.3)
    ts = (
        (np.datetime64("2015-01-02") + days.astype("timedelta64[D]"))
        .astype("datetime64[ns]")
        .astype(np.int64)
    )
    return Bars(ts, open_, high, low, close, np.full(n, 1e6))


GOOG_BARS = bars_of(GOOG)
# vol x drift: calm, volatile and wild; flat, rising (shorts go broke) and falling
WALKS = [
    walk(seed, vol=(0.01, 0.03, 0.08)[seed % 3], drift=(0.0, 0.004, -0.004)[seed // 3]) for seed in range(9)
]


def rules(**fields: Any) -> RuleStrategy:
    return RuleStrategy(RuleStrategyDefinition.model_validate(fields))


def strategies() -> list[Strategy]:
    return [
        *(SmaCross(SmaCross.Params(n1=a, n2=b)) for a, b in [(10, 20), (5, 30), (20, 50), (3, 8), (2, 5)]),
        RsiReversion(RsiReversion.Params(fraction=1.0)),
        RsiReversion(RsiReversion.Params(fraction=0.5)),
        RsiReversion(RsiReversion.Params(period=5, lower=40, upper=60)),
        DonchianBreakout(DonchianBreakout.Params()),
        DonchianBreakout(DonchianBreakout.Params(entry=10, exit=5, fraction=0.5)),
        rules(entry=["rsi(14) < 30"], exit=["rsi(14) > 70"]),
        rules(
            entry=["crosses_above(sma(10), sma(20))"],
            exit=["crosses_below(sma(10), sma(20))"],
            side="short",
            fraction=0.7,
        ),
        rules(
            entry=["close > sma(10)"], exit=["close < sma(10)"], side="short", fraction=0.9, max_positions=1
        ),
    ]


def assert_same(expected: Outcome, got: Outcome | None) -> None:
    assert got is not None
    assert got.run.trades == expected.run.trades  # entry/exit bar and time, price, size, P&L, ...
    assert np.array_equal(got.run.equity, expected.run.equity)
    assert got.run.warmup == expected.run.warmup
    assert [(t.size, t.entry_price, t.entry_bar) for t in got.run.open_trades] == [
        (t.size, t.entry_price, t.entry_bar) for t in expected.run.open_trades
    ]
    assert_stats_close(stats_row(got.stats), expected.stats)


def assert_stats_close(row: np.ndarray, expected: Mapping[str, Any], rel: float = 1e-9) -> None:
    for key, value in zip(STAT_KEYS, row.tolist(), strict=True):
        want = expected[key]
        if want is None:
            assert math.isnan(value), key
        else:
            assert value == pytest.approx(want, rel=rel, abs=1e-12), key


# -- the vectorised path against the engine ------------------------------------------------------------


@pytest.mark.parametrize(("n1", "n2"), [(10, 20), (5, 30), (20, 50), (3, 8)])
@pytest.mark.parametrize("commission", [0.0, 0.002])
@pytest.mark.parametrize("finalize", [True, False], ids=["finalize", "keep-open"])
def test_sma_cross_on_goog_is_the_engines(n1: int, n2: int, commission: float, finalize: bool) -> None:
    strategy = SmaCross(SmaCross.Params(n1=n1, n2=n2))
    profile = FREE.with_costs(commission, None)
    expected = backtest(strategy, GOOG_BARS, 10_000, profile, finalize, path="engine")
    got = vector_backtest(strategy, GOOG_BARS, 10_000, profile, finalize)
    assert_same(expected, got)
    assert len(expected.run.trades) > 20
    assert got is not None and got.stats == expected.stats  # compute_stats of the same trades


@pytest.mark.parametrize(
    "strategy",
    [
        RsiReversion(RsiReversion.Params(fraction=1.0)),
        RsiReversion(RsiReversion.Params(fraction=0.5)),
        DonchianBreakout(DonchianBreakout.Params()),
        DonchianBreakout(DonchianBreakout.Params(fraction=0.5)),
        rules(entry=["rsi(14) < 30"], exit=["rsi(14) > 70"]),
        rules(entry=["close > sma(50)", "rsi(14) > 50"], exit=["close < sma(50)"], fraction=0.8),
        rules(
            entry=["crosses_below(sma(10), sma(30))"], exit=["crosses_above(sma(10), sma(30))"], side="short"
        ),
    ],
    ids=lambda s: f"{s.name}-{s.params}",
)
@pytest.mark.parametrize("finalize", [True, False], ids=["finalize", "keep-open"])
def test_entry_exit_strategies_on_goog_are_the_engines(strategy: Strategy, finalize: bool) -> None:
    expected = backtest(strategy, GOOG_BARS, 10_000, PROFILE, finalize, path="engine")
    assert len(expected.run.trades) >= 5
    assert_same(expected, vector_backtest(strategy, GOOG_BARS, 10_000, PROFILE, finalize))


@pytest.mark.parametrize("profile", list(PROFILES_TRIED.values()), ids=list(PROFILES_TRIED))
def test_random_walks_with_gaps_flat_prices_and_bankruptcies(profile: FillProfile) -> None:
    broke = 0
    for bars in WALKS:
        for strategy in strategies():
            for finalize in (True, False):
                expected = backtest(strategy, bars, 10_000, profile, finalize, path="engine")
                assert_same(expected, vector_backtest(strategy, bars, 10_000, profile, finalize))
                broke += expected.run.equity[-1] == 0
    assert broke > 0  # shorts in the rising, wild walks run out of money: that path is covered too


def test_a_decision_on_the_last_bar_and_a_warm_up_longer_than_the_data() -> None:
    bars = WALKS[4]
    n = len(bars)

    def on(*bars_at: int) -> np.ndarray:
        flags = np.zeros(n, dtype=bool)
        flags[list(bars_at)] = True
        return flags

    none = on()
    cases = [
        Reversal(on(n // 2, n - 1), none),  # long again on the last bar, while long
        Reversal(on(n // 2), on(n - 1)),  # reverses on the last bar
        Reversal(on(n - 1), none),  # the first entry on the last bar
        Reversal(on(n - 2), none),  # filled on the last bar
    ]
    for signals in cases:
        strategy = Scripted(signals)
        for finalize in (True, False):
            expected = backtest(strategy, bars, 10_000, PROFILE, finalize, path="engine")
            assert_same(expected, vector_backtest(strategy, bars, 10_000, PROFILE, finalize))
    short = Bars(
        *(column[:15] for column in (bars.ts_ns, bars.open, bars.high, bars.low, bars.close, bars.volume))
    )
    strategy = SmaCross(SmaCross.Params(n1=5, n2=20))
    assert_same(
        backtest(strategy, short, 10_000, PROFILE, path="engine"),
        vector_backtest(strategy, short, 10_000, PROFILE),
    )


class Scripted(VectorSignals, Strategy):
    """A strategy opting in: reverses on given bars, written both ways."""

    name = "scripted_test"

    def __init__(self, signals: Reversal) -> None:
        super().__init__(StrategyParams())
        self.signals = signals

    def vector_signals(self, series: Mapping[str, np.ndarray]) -> Signals:
        return self.signals

    def next(self, ctx: Context) -> None:
        if self.signals.long[ctx.i]:
            ctx.close()
            ctx.buy()
        elif self.signals.short[ctx.i]:
            ctx.close()
            ctx.sell()


class EmaBand(VectorSignals, Strategy):
    """A user's strategy with a vectorised form: long above the upper EMA band, out below the EMA."""

    name = "ema_band_test"

    class Params(StrategyParams):
        period: int = Field(default=20, ge=2)
        width: float = Field(default=0.02, gt=0)

    def indicators(self) -> Mapping[str, Indicator]:
        return {"ema": f"ema:{self.params.period}"}

    def vector_signals(self, series: Mapping[str, np.ndarray]) -> Signals:
        close, ema = series["close"], series["ema"]
        with np.errstate(invalid="ignore"):
            return EntryExit(close > ema * (1 + self.params.width), close < ema)

    def next(self, ctx: Context) -> None:
        if not ctx.position and ctx.price > ctx.value("ema") * (1 + self.params.width):
            ctx.buy()
        elif ctx.position and ctx.price < ctx.value("ema"):
            ctx.close()


def test_a_strategy_opts_in_with_the_mixin() -> None:
    strategy = EmaBand(EmaBand.Params())
    assert vectorisable(strategy)
    for bars in (GOOG_BARS, *WALKS[:3]):
        assert_same(
            backtest(strategy, bars, 10_000, PROFILE, path="engine"),
            vector_backtest(strategy, bars, 10_000, PROFILE),
        )


def test_what_has_no_vectorised_form_is_left_to_the_engine() -> None:
    bracketed = rules(entry=["rsi(14) < 30"], exit=["rsi(14) > 70"], stop_loss_pct=5)

    class Subclassed(SmaCross):
        name = "subclassed_test"

    assert not vectorisable(bracketed)
    assert not vectorisable(Subclassed(SmaCross.Params()))  # may decide differently: not assumed
    assert vector_backtest(bracketed, GOOG_BARS, 10_000, PROFILE) is None
    fractional = FREE.model_copy(update={"whole_units": False})
    assert vector_backtest(SmaCross(SmaCross.Params()), GOOG_BARS, 10_000, fractional) is None


# -- the batched statistics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bars",
    [GOOG_BARS, bars_of(EURUSD), WALKS[1], WALKS[5]],
    ids=["goog-daily", "eurusd-hourly", "walk", "walk-rising-wild"],
)
def test_batch_stats_equal_compute_stats(bars: Bars) -> None:
    cache = SeriesCache(bars)
    runs = []
    for strategy in [*strategies(), SmaCross(SmaCross.Params(n1=4000, n2=6000))]:  # never trades
        for finalize in (True, False):
            done = vector_run(strategy, cache, 10_000, PROFILE, finalize)
            assert done is not None
            runs.append(done)
    assert any(run.trades == 0 for run in runs)
    matrix = batch_stats(bars.ts_ns, bars.close, runs)
    for row, run in zip(matrix, runs, strict=True):
        expected = compute_stats(
            bars.ts_ns, bars.close, run.equity, run.closed_trades(bars.ts_ns), run.warmup
        )
        assert_stats_close(row, expected)


def test_batch_stats_of_weekly_bars() -> None:
    daily = WALKS[0]
    week = slice(None, None, 7)
    bars = Bars(
        daily.ts_ns[week],
        daily.open[week],
        daily.high[week],
        daily.low[week],
        daily.close[week],
        daily.volume[week],
    )
    cache = SeriesCache(bars)
    runs = [
        vector_run(SmaCross(SmaCross.Params(n1=a, n2=b)), cache, 10_000, PROFILE)
        for a, b in [(2, 5), (3, 10)]
    ]
    assert all(run is not None for run in runs)
    matrix = batch_stats(bars.ts_ns, bars.close, [run for run in runs if run is not None])
    for row, run in zip(matrix, runs, strict=True):
        assert run is not None
        assert_stats_close(
            row, compute_stats(bars.ts_ns, bars.close, run.equity, run.closed_trades(bars.ts_ns), run.warmup)
        )


# -- the spec and its combinations ------------------------------------------------------------------------


def test_a_grid_expands_in_order_and_skips_invalid_combinations() -> None:
    spec = SweepSpec(grid={"n1": [5, 10, 20], "n2": [10, 30]})
    combos = combinations(spec, SmaCross.Params)
    assert combos.values == [
        {"n1": 5, "n2": 10},
        {"n1": 5, "n2": 30},
        {"n1": 10, "n2": 30},
        {"n1": 20, "n2": 30},
    ]
    assert [p.model_dump() for p in combos.params] == combos.values
    assert [s.values for s in combos.skipped] == [{"n1": 10, "n2": 10}, {"n1": 20, "n2": 10}]
    assert "n1 (10) must be less than n2 (10)" in combos.skipped[0].reason
    assert spec.count == 6


def test_fixed_parameters_join_every_combination() -> None:
    spec = SweepSpec(grid={"lower": [20, 30]}, fixed={"period": 7, "fraction": 0.5})
    combos = combinations(spec, RsiReversion.Params)
    assert [(p.period, p.lower, p.fraction) for p in combos.params] == [(7, 20, 0.5), (7, 30, 0.5)]
    assert combos.values == [{"lower": 20}, {"lower": 30}]


def test_random_samples_are_deterministic_by_seed_and_in_range() -> None:
    spec = SweepSpec.model_validate(
        {
            "random": {"period": {"low": 5, "high": 30, "int": True}, "lower": {"low": 10, "high": 40}},
            "samples": 50,
        }
    )
    first = combinations(spec, RsiReversion.Params, seed=7)
    assert first.values == combinations(spec, RsiReversion.Params, seed=7).values
    assert first.values != combinations(spec, RsiReversion.Params, seed=8).values
    assert len(first) == 50
    assert all(isinstance(v["period"], int) and 5 <= v["period"] <= 30 for v in first.values)
    assert all(isinstance(v["lower"], float) and 10 <= v["lower"] <= 40 for v in first.values)
    reordered = SweepSpec.model_validate(
        {**spec.model_dump(by_alias=True), "random": dict(reversed(spec.random.items()))}
    )  # type: ignore[union-attr]
    assert {
        tuple(sorted(v.items())) for v in combinations(reordered, RsiReversion.Params, seed=7).values
    } == {tuple(sorted(v.items())) for v in first.values}


def test_no_valid_combination_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="none of the 4 parameter combinations is valid") as caught:
        combinations(SweepSpec(grid={"n1": [30, 40], "n2": [10, 20]}), SmaCross.Params)
    assert caught.value.status == 422
    assert "must be less than" in str(caught.value)


def test_unknown_parameters_are_refused_by_name() -> None:
    with pytest.raises(ValidationFailed, match="unknown parameter: n3") as caught:
        combinations(SweepSpec(grid={"n3": [1, 2]}), SmaCross.Params)
    assert "did you mean 'n1'" in str(caught.value) or "it has n1, n2" in str(caught.value)


def test_ceilings_name_the_count_and_the_ceiling() -> None:
    spec = SweepSpec(grid={"n1": list(range(1, 101)), "n2": list(range(2, 102))})  # 10,000 combinations
    with pytest.raises(ValidationFailed) as caught:
        combinations(spec, SmaCross.Params)
    assert caught.value.status == 422
    assert "10,000 parameter combinations" in str(caught.value) and f"{MAX_COMBINATIONS:,}" in str(
        caught.value
    )
    with pytest.raises(ValidationFailed, match=r"101,000 backtests \(1,000 combinations x 101 symbols\)"):
        check_ceilings(1000, 101)
    assert MAX_BACKTESTS == 100_000
    check_ceilings(1000, 100)  # at the ceiling is fine
    random = SweepSpec.model_validate({"random": {"n1": {"low": 1, "high": 9, "int": True}}, "samples": 1001})
    with pytest.raises(ValidationFailed, match="1,001 parameter combinations"):
        combinations(random, SmaCross.Params)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "either grid or random"),
        (
            {"grid": {"n1": [1]}, "random": {"n2": {"low": 1, "high": 2}}, "samples": 3},
            "either grid or random",
        ),
        ({"random": {"n1": {"low": 1, "high": 2}}}, "random needs samples"),
        ({"grid": {"n1": [1]}, "samples": 3}, "samples goes with random"),
        ({"grid": {"n1": list(range(101))}}, "1 to 100 values"),
        ({"grid": {"n1": []}}, "1 to 100 values"),
        ({"grid": {"n1": [1, 1]}}, "listed twice"),
        ({"grid": {"n1": [1]}, "fixed": {"n1": 2}}, "swept and fixed"),
        ({"grid": {"n1": [1]}, "rank_by": "sharpe"}, "did you mean 'sharpe_ratio'"),
        ({"random": {"n1": {"low": 5, "high": 1}}, "samples": 3}, "at most high"),
    ],
)
def test_spec_mistakes_are_named(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SweepSpec.model_validate(body)


def test_the_default_direction_follows_the_statistic() -> None:
    assert default_descending("sharpe_ratio")
    assert default_descending("max_drawdown_pct")  # negative: closer to 0, i.e. larger, is better
    assert not default_descending("volatility_ann_pct")
    assert SweepSpec(grid={"n1": [1]}, rank_by="max_drawdown_duration_s").ranks_descending is False
    assert SweepSpec(grid={"n1": [1]}, rank_by="return_pct", descending=False).ranks_descending is False


# -- running a sweep --------------------------------------------------------------------------------------

SYMBOLS = {"GOOG": GOOG_BARS, "W1": WALKS[1], "W3": WALKS[3], "W5": WALKS[5]}
SMA_GRID = SweepSpec(grid={"n1": [5, 10, 20, 40], "n2": [10, 30, 60]})


def test_every_backtest_of_a_sweep_is_the_engines() -> None:
    combos = combinations(SMA_GRID, SmaCross.Params)
    result = run_sweep(SmaCross, combos, SYMBOLS, 10_000, PROFILE)
    assert result.stats.shape == (len(combos), len(SYMBOLS), len(STAT_KEYS))
    assert result.vectorised == len(combos) * len(SYMBOLS)
    for c, params in enumerate(combos.params):
        for symbol, bars in SYMBOLS.items():
            expected = backtest(SmaCross(params), bars, 10_000, PROFILE, path="engine")
            assert_stats_close(result.stats[c, result.symbols.index(symbol)], expected.stats)
            stats = result.stats_of(c, symbol)
            assert stats["trades"] == expected.stats["trades"] and isinstance(stats["trades"], int)


def test_strategies_without_a_vectorised_form_run_on_the_engine_in_a_sweep() -> None:
    spec = SweepSpec(
        grid={"stop_loss_pct": [3, 8]}, fixed={"entry": ["rsi(14) < 35"], "exit": ["rsi(14) > 65"]}
    )
    combos = combinations(spec, RuleStrategyDefinition)
    result = run_sweep(RuleStrategy, combos, {"GOOG": GOOG_BARS}, 10_000, PROFILE)
    assert result.vectorised == 0
    for c, params in enumerate(combos.params):
        expected = backtest(RuleStrategy(params), GOOG_BARS, 10_000, PROFILE, path="engine")  # type: ignore[arg-type]
        assert result.stats_of(c, "GOOG") == {k: expected.stats[k] for k in STAT_KEYS}


def test_ranking_and_heatmap() -> None:
    combos = combinations(SMA_GRID, SmaCross.Params)
    result = run_sweep(SmaCross, combos, SYMBOLS, 10_000, PROFILE)
    sharpe = result.stat("sharpe_ratio")
    ranking = result.ranking("sharpe_ratio")
    assert [r.rank for r in ranking] == list(range(1, len(combos) + 1))
    means = [r.mean for r in ranking]
    assert all(m is not None for m in means) and means == sorted(means, reverse=True)  # type: ignore[type-var]
    best = ranking[0]
    defined = sharpe[best.index][~np.isnan(sharpe[best.index])]
    assert best.mean == pytest.approx(float(defined.mean()), rel=1e-12)
    assert best.median == pytest.approx(float(np.median(defined)), rel=1e-12)
    assert best.symbols == defined.size and best.values == combos.values[best.index]
    upward = result.ranking("sharpe_ratio", descending=False)
    assert [r.index for r in upward] == [r.index for r in reversed(ranking)]
    drawdown = result.ranking("max_drawdown_pct")
    assert (
        drawdown[0].mean is not None
        and drawdown[-1].mean is not None
        and drawdown[0].mean >= drawdown[-1].mean
    )

    heatmap = result.heatmap("n1", "n2", "sharpe_ratio")
    assert heatmap.x == [5, 10, 20, 40] and heatmap.y == [10, 30, 60]
    assert heatmap.values.shape == (3, 4)
    for r in ranking:
        j, i = heatmap.y.index(r.values["n2"]), heatmap.x.index(r.values["n1"])
        assert heatmap.values[j, i] == r.mean
    assert math.isnan(heatmap.values[0, 1])  # n1=10, n2=10 is not a valid combination
    with pytest.raises(ValidationFailed, match="'n3' is not a swept parameter"):
        result.heatmap("n1", "n3")


def test_a_heatmap_keeps_the_best_cell_when_other_parameters_vary() -> None:
    spec = SweepSpec(grid={"period": [7, 14], "lower": [25, 35], "upper": [65, 75]})
    combos = combinations(spec, RsiReversion.Params)
    result = run_sweep(RsiReversion, combos, {"GOOG": GOOG_BARS}, 10_000, PROFILE)
    heatmap = result.heatmap("period", "lower", "return_pct")
    returns = result.stat("return_pct")[:, 0]
    for j, lower in enumerate(heatmap.y):
        for i, period in enumerate(heatmap.x):
            cell = [
                returns[c]
                for c, v in enumerate(combos.values)
                if v["period"] == period and v["lower"] == lower
            ]
            assert heatmap.values[j, i] == max(cell)


def test_a_combination_without_a_defined_statistic_ranks_last() -> None:
    combos = combinations(SweepSpec(grid={"n1": [5, 400], "n2": [600]}), SmaCross.Params)
    result = run_sweep(SmaCross, combos, {"W1": WALKS[1]}, 10_000, PROFILE)  # 500 bars: SMA(600) never trades
    ranking = result.ranking("win_rate_pct")
    assert ranking[-1].values == {"n1": 400, "n2": 600}
    assert ranking[-1].mean is None and ranking[-1].symbols == 0


def test_the_process_pool_gives_the_inline_results() -> None:
    combos = combinations(SMA_GRID, SmaCross.Params)
    inline = run_sweep(SmaCross, combos, SYMBOLS, 10_000, PROFILE, workers=1)
    pooled = run_sweep(SmaCross, combos, SYMBOLS, 10_000, PROFILE, workers=2)
    assert np.array_equal(inline.stats, pooled.stats, equal_nan=True)
    assert pooled.vectorised == inline.vectorised and pooled.symbols == inline.symbols


def test_run_sweep_holds_the_ceiling() -> None:
    tiny = Bars(
        *(
            column[:30]
            for column in (
                GOOG_BARS.ts_ns,
                GOOG_BARS.open,
                GOOG_BARS.high,
                GOOG_BARS.low,
                GOOG_BARS.close,
                GOOG_BARS.volume,
            )
        )
    )
    params = [SmaCross.Params(n1=1, n2=n) for n in range(2, 1003)]
    with pytest.raises(ValidationFailed, match="1,001 parameter combinations"):
        run_sweep(SmaCross, params, {"A": tiny}, 10_000, PROFILE)
    with pytest.raises(ValidationFailed, match="101,000 backtests"):
        run_sweep(SmaCross, params[:1000], {f"S{k}": tiny for k in range(101)}, 10_000, PROFILE)


def test_replay_gives_a_top_result_in_full() -> None:
    combos = combinations(SMA_GRID, SmaCross.Params)
    result = run_sweep(SmaCross, combos, {"GOOG": GOOG_BARS}, 10_000, PROFILE)
    best = result.ranking("sharpe_ratio")[0]
    outcome = replay(SmaCross, combos.params[best.index], GOOG_BARS, 10_000, PROFILE)
    expected = backtest(SmaCross(combos.params[best.index]), GOOG_BARS, 10_000, PROFILE, path="engine")
    assert outcome.run.trades == expected.run.trades and outcome.stats == expected.stats
    assert outcome.stats["sharpe_ratio"] == pytest.approx(best.mean, rel=1e-9)


def test_the_statistics_a_sweep_ranks_by_are_the_engines() -> None:
    from trading_system.strategies.sweep_spec import RANK_STATS
    from trading_system.strategies.vector import STAT_KEYS

    assert tuple(key for key in STAT_KEYS if key != "duration_s") == RANK_STATS
