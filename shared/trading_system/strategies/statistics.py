"""Backtest statistics, exactly as backtesting.py 0.6.6 computes them, with numpy only.

Each statistic replicates `backtesting._stats.compute_stats` (and the helpers it calls:
`compute_drawdown_duration_peaks`, `geometric_mean`, `_util._data_period`) operation for
operation, including pandas' reductions (`Series.mean`/`var`/`std`/`median` as pandas' nanops
compute them without bottleneck: pairwise sums with NaNs filled by zero, two-pass variance,
truncation of timedelta means to whole nanoseconds), so the numbers agree bit for bit (the tests
hold them to 1e-9 relative). Only a datetime index is supported; timestamps are int64
nanoseconds since the epoch in UTC, strictly ascending (calendar days, weeks, months and years
for the resampled returns are UTC ones; a tz-aware index in another zone would bin by its local
dates in backtesting.py).

Known places where this cannot equal backtesting.py:

* When the only drawdown is on the final bar and no earlier bar was in drawdown, backtesting.py
  leaks the drawdown *fraction* into 'Max./Avg. Drawdown Duration' (a float, not a timedelta).
  The durations are then None here.
* backtesting.py computes timedelta means and medians in its index's own unit (pandas may parse
  to seconds or microseconds); here they are in nanoseconds. The two differ only when timestamps
  are not whole multiples of that unit's rounding: e.g. a mean duration of 1.5 s on a
  seconds-unit index, which pandas truncates to 1 s before ceiling it to the data's resolution.
* With `bottleneck` installed, pandas computes Series.var/std with it (naive summation); the
  volatility and SQN here follow pandas' own two-pass algorithm, which it uses without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Stat = float | int | str | None

NS_PER_US: Final = 1_000
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
NS_PER_MIN: Final = 60 * NS_PER_S
NS_PER_H: Final = 3_600 * NS_PER_S
NS_PER_DAY: Final = 86_400 * NS_PER_S
_PERIOD_BARS: Final = 100  # backtesting.py's _data_period looks at the last 100 timestamps

STAT_LABELS: Final[dict[str, str]] = {
    "start": "Start",
    "end": "End",
    "duration_s": "Duration",
    "exposure_time_pct": "Exposure Time [%]",
    "equity_final": "Equity Final [$]",
    "equity_peak": "Equity Peak [$]",
    "commissions": "Commissions [$]",
    "return_pct": "Return [%]",
    "buy_and_hold_return_pct": "Buy & Hold Return [%]",
    "return_ann_pct": "Return (Ann.) [%]",
    "volatility_ann_pct": "Volatility (Ann.) [%]",
    "cagr_pct": "CAGR [%]",
    "sharpe_ratio": "Sharpe Ratio",
    "sortino_ratio": "Sortino Ratio",
    "calmar_ratio": "Calmar Ratio",
    "alpha_pct": "Alpha [%]",
    "beta": "Beta",
    "max_drawdown_pct": "Max. Drawdown [%]",
    "avg_drawdown_pct": "Avg. Drawdown [%]",
    "max_drawdown_duration_s": "Max. Drawdown Duration",
    "avg_drawdown_duration_s": "Avg. Drawdown Duration",
    "trades": "# Trades",
    "win_rate_pct": "Win Rate [%]",
    "best_trade_pct": "Best Trade [%]",
    "worst_trade_pct": "Worst Trade [%]",
    "avg_trade_pct": "Avg. Trade [%]",
    "max_trade_duration_s": "Max. Trade Duration",
    "avg_trade_duration_s": "Avg. Trade Duration",
    "profit_factor": "Profit Factor",
    "expectancy_pct": "Expectancy [%]",
    "sqn": "SQN",
    "kelly_criterion": "Kelly Criterion",
}


@dataclass(frozen=True)
class ClosedTrade:
    size: float  # signed units, negative for shorts
    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    pnl: float  # cash, after commissions (backtesting.py's Trade.pl at close)
    return_pct: float  # a FRACTION like backtesting.py's Trade.pl_pct (0.05 = 5%), after commissions
    commissions: float  # entry + exit commission paid, cash
    entry_ns: int  # entry time, int64 nanoseconds since the epoch (UTC)
    exit_ns: int


# --- pandas' reductions (pandas.core.nanops, skipna=True, no bottleneck) ------------------------


def _nanmean(values: FloatArray) -> np.float64:
    """`Series.mean()`: NaNs filled by 0, numpy's pairwise sum over the whole array, / count."""
    if not values.size:
        return np.float64(np.nan)
    mask = np.isnan(values)
    if mask.any():
        values = np.where(mask, 0.0, values)
    count = np.float64(values.size - np.count_nonzero(mask))
    if count <= 0:
        return np.float64(np.nan)
    result: np.float64 = values.sum(dtype=np.float64) / count
    return result


def _nanvar(values: FloatArray, ddof: int = 1) -> np.float64:
    """`Series.var(ddof)`: the two-pass algorithm of pandas' nanvar."""
    mask = np.isnan(values)
    count = np.float64(values.size - np.count_nonzero(mask))
    if count <= ddof:
        return np.float64(np.nan)
    d = count - np.float64(ddof)
    values = values.copy()
    np.putmask(values, mask, 0.0)
    avg = values.sum(dtype=np.float64) / count
    sqr = (avg - values) ** 2
    np.putmask(sqr, mask, 0.0)
    result: np.float64 = sqr.sum(dtype=np.float64) / d
    return result


def _nanmax(values: FloatArray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.max()) if kept.size else math.nan


def _nanmin(values: FloatArray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.min()) if kept.size else math.nan


def _timedelta_mean(values: IntArray, count: int) -> int | None:
    """A timedelta Series' mean, `values` having 0 where the Series has NaT: the int64 view summed
    as float64, / count, truncated to an integer (pandas' _wrap_results)."""
    if not values.size or count <= 0:
        return None
    mean = values.sum(dtype=np.float64) / np.float64(count)
    if np.isnan(mean):
        return None
    return int(np.int64(mean))


def _geometric_mean(returns: FloatArray) -> np.float64:
    """backtesting._stats.geometric_mean."""
    grown = np.where(np.isnan(returns), 0.0, returns) + 1
    if np.any(grown <= 0):
        return np.float64(0.0)
    with np.errstate(all="ignore"):
        logs = np.log(grown)
        total = np.where(np.isnan(logs), 0.0, logs).sum(dtype=np.float64)
        result: np.float64 = np.exp(total / (len(grown) or np.nan)) - 1
    return result


# --- the data period (backtesting._util._data_period) -------------------------------------------


def _data_period_ns(ts_ns: IntArray) -> int | None:
    """The median gap of the last 100 timestamps, truncated to whole nanoseconds; None (NaT) for
    a single bar."""
    gaps = np.diff(ts_ns[-_PERIOD_BARS:])
    if not gaps.size:
        return None
    return int(np.int64(np.median(gaps.astype(np.float64))))


def _resolution_ns(period_ns: int | None) -> int:
    """`Timedelta.resolution_string` of the period, in nanoseconds: its finest non-zero component.
    A NaT period falls back to `NaT.resolution`, one microsecond."""
    if period_ns is None:
        return NS_PER_US
    for unit, finer in (
        (NS_PER_US, 1),
        (NS_PER_MS, NS_PER_US),
        (NS_PER_S, NS_PER_MS),
        (NS_PER_MIN, NS_PER_S),
        (NS_PER_H, NS_PER_MIN),
        (NS_PER_DAY, NS_PER_H),
    ):
        if period_ns % unit:
            return finer
    return NS_PER_DAY


def _ceil(value_ns: int | None, resolution_ns: int) -> float | None:
    """`Timedelta.ceil(resolution)`, as seconds."""
    if value_ns is None:
        return None
    return (-(-value_ns // resolution_ns) * resolution_ns) / NS_PER_S


# --- the pieces ---------------------------------------------------------------------------------


def _period_returns(ts_ns: IntArray, equity: FloatArray, freq_days: int | None) -> FloatArray:
    """`equity.resample(freq).last().dropna().pct_change().dropna()` with freq W (Monday to
    Sunday weeks), ME, YE or D (calendar days) by the data's period."""
    kept = ~np.isnan(equity)
    ts = ts_ns[kept]
    values = equity[kept]
    if not ts.size:
        return np.empty(0, dtype=np.float64)
    days = np.floor_divide(ts, NS_PER_DAY)
    if freq_days == 7:
        bins = np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday
    elif freq_days == 31:
        bins = ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    elif freq_days == 365:
        bins = ts.astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64)
    else:
        bins = days
    last = np.append(np.flatnonzero(bins[1:] != bins[:-1]), bins.size - 1)
    closes = values[last]
    with np.errstate(all="ignore"):
        changes = closes[1:] / closes[:-1] - 1
    result: FloatArray = changes[~np.isnan(changes)]
    return result


@dataclass(frozen=True)
class _Drawdowns:
    max_duration_ns: int | None
    avg_duration_ns: int | None
    avg_peak: np.float64
    durations_defined: bool  # False where backtesting.py returns a non-duration (see module doc)


def _drawdowns(ts_ns: IntArray, dd: FloatArray) -> _Drawdowns:
    """compute_drawdown_duration_peaks, then the max and mean of its two series, vectorised."""
    n = dd.size
    iloc = np.unique(np.append(np.flatnonzero(dd == 0), n - 1))
    prev = iloc[:-1]
    cur = iloc[1:]
    spans = cur > prev + 1
    prev = prev[spans]
    cur = cur[spans]
    if not prev.size:
        # backtesting.py returns dd.replace(0, nan) as both the durations and the peaks
        nonzero = np.where(dd == 0, np.nan, dd)
        return _Drawdowns(None, None, _nanmean(nonzero), durations_defined=False)
    durations = ts_ns[cur] - ts_ns[prev]
    # the peak of each span dd[prev:cur + 1] (pandas' max skips NaN): fmax over the segments,
    # reduceat's even slots; a sentinel so that cur + 1 == n is a valid start
    starts = np.empty(2 * prev.size, dtype=np.intp)
    starts[0::2] = prev
    starts[1::2] = cur + 1
    peaks = np.fmax.reduceat(np.append(dd, np.nan), starts)[0::2]
    # the reindexed Series: NaN/NaT elsewhere, which pandas' mean fills with 0 before summing
    full_peaks = np.zeros(n, dtype=np.float64)
    full_peaks[cur] = peaks
    peak_mask = np.ones(n, dtype=bool)
    peak_mask[cur] = np.isnan(peaks)
    full_peaks[peak_mask] = np.nan
    full_durations = np.zeros(n, dtype=np.int64)
    full_durations[cur] = durations
    return _Drawdowns(
        max_duration_ns=int(durations.max()),
        avg_duration_ns=_timedelta_mean(full_durations, int(cur.size)),
        avg_peak=_nanmean(full_peaks),
        durations_defined=True,
    )


def _have_position(n: int, entry_bars: list[int], exit_bars: list[int]) -> IntArray:
    """1 on every bar from a trade's entry to its exit, both included (backtesting.py's slices)."""
    entries = np.array(entry_bars, dtype=np.intp)
    exits = np.array(exit_bars, dtype=np.intp)
    if not entries.size:
        return np.zeros(n, dtype=np.int64)
    if entries.min() >= 0 and exits.max() < n and np.all(entries <= exits):
        opened = np.bincount(entries, minlength=n + 1) - np.bincount(exits + 1, minlength=n + 1)
        return (np.cumsum(opened[:n]) > 0).astype(np.int64)
    have_position = np.repeat(0, n)
    for entry_bar, exit_bar in zip(entry_bars, exit_bars, strict=True):
        have_position[entry_bar : exit_bar + 1] = 1
    return have_position


def _iso(ns: int) -> str:
    unit: Literal["s", "ms", "us", "ns"] = (
        "s" if ns % NS_PER_S == 0 else "ms" if ns % NS_PER_MS == 0 else "us" if ns % NS_PER_US == 0 else "ns"
    )
    return f"{np.datetime_as_string(np.datetime64(ns, 'ns'), unit=unit)}Z"


def _json(value: float | np.floating | int) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def compute_stats(
    ts_ns: np.ndarray,
    close: np.ndarray,
    equity: np.ndarray,
    trades: Sequence[ClosedTrade],
    warmup_bars: int,
    risk_free_rate: float = 0.0,
) -> dict[str, Stat]:
    """backtesting.py's statistics of one run, JSON-ready: NaN and infinities are None,
    timestamps ISO 8601 (UTC, "Z"), durations seconds. See STAT_LABELS for the keys."""
    if not -1 < risk_free_rate < 1:
        raise ValueError(f"risk_free_rate must be in (-1, 1), got {risk_free_rate}")
    ts: IntArray = np.ascontiguousarray(ts_ns, dtype=np.int64)
    c: FloatArray = np.ascontiguousarray(close, dtype=np.float64)
    eq: FloatArray = np.ascontiguousarray(equity, dtype=np.float64)
    n = ts.size
    if ts.ndim != 1 or not n or c.shape != ts.shape or eq.shape != ts.shape:
        raise ValueError("ts_ns, close and equity must be 1-D, non-empty and of one length")
    if not 0 <= warmup_bars < n:
        raise ValueError(f"warmup_bars must be in [0, {n}), got {warmup_bars}")

    with np.errstate(all="ignore"):
        return _compute(ts, c, eq, trades, warmup_bars, risk_free_rate)


def annual_periods(ts: IntArray, freq_days: int | None) -> int:
    """Periods a year, as backtesting.py counts them: weeks, months or years for such data, else
    365 days when a good share of the bars fall on weekends (crypto), else 252 trading days."""
    weekend_share = np.count_nonzero((np.floor_divide(ts, NS_PER_DAY) + 3) % 7 >= 5) / ts.size
    have_weekends = weekend_share > 2 / 7 * 0.6
    if freq_days in (7, 31, 365):
        return {7: 52, 31: 12, 365: 1}[freq_days]
    return 365 if have_weekends else 252


def _compute(
    ts: IntArray,
    c: FloatArray,
    equity: FloatArray,
    trades: Sequence[ClosedTrade],
    warmup: int,
    rf: float,
) -> dict[str, Stat]:
    n = ts.size
    dd: FloatArray = 1 - equity / np.maximum.accumulate(equity)
    drawdowns = _drawdowns(ts, dd)

    n_trades = len(trades)
    entry_bars = [t.entry_bar for t in trades]
    exit_bars = [t.exit_bar for t in trades]
    pl = np.array([t.pnl for t in trades], dtype=np.float64)
    returns = np.array([t.return_pct for t in trades], dtype=np.float64)
    durations = np.array([t.exit_ns - t.entry_ns for t in trades], dtype=np.int64)
    commissions = sum(t.commissions for t in trades)

    period = _data_period_ns(ts)
    resolution = _resolution_ns(period)

    duration_ns = int(ts[-1] - ts[0])
    have_position = _have_position(n, entry_bars, exit_bars)

    return_pct = (equity[-1] - equity[0]) / equity[0] * 100
    buy_and_hold = (c[-1] - c[warmup]) / c[warmup] * 100

    freq_days = None if period is None else period // NS_PER_DAY
    annual_trading_days = annual_periods(ts, freq_days)
    day_returns = _period_returns(ts, equity, freq_days)
    gmean_day_return = _geometric_mean(day_returns)

    annualized_return = (1 + gmean_day_return) ** annual_trading_days - 1
    return_ann_pct = annualized_return * 100
    volatility_ann_pct = (
        np.sqrt(
            (_nanvar(day_returns, ddof=1) + (1 + gmean_day_return) ** 2) ** annual_trading_days
            - (1 + gmean_day_return) ** (2 * annual_trading_days)
        )
        * 100
    )
    time_in_years = (duration_ns // NS_PER_DAY + (duration_ns % NS_PER_DAY) // NS_PER_S / 86400) / 365.25
    cagr_pct = (
        ((equity[-1] / equity[0]) ** (1 / time_in_years) - 1) * 100 if time_in_years else np.float64(np.nan)
    )
    sharpe = (return_ann_pct - rf * 100) / (volatility_ann_pct or np.nan)
    downside = np.where(day_returns > 0, 0.0, day_returns) ** 2
    sortino = (annualized_return - rf) / (np.sqrt(_nanmean(downside)) * np.sqrt(annual_trading_days))
    max_dd = -np.nan_to_num(dd.max())
    calmar = annualized_return / (-max_dd or np.nan)

    equity_log_returns = np.log(equity[1:] / equity[:-1])
    market_log_returns = np.log(c[1:] / c[:-1])
    beta = np.float64(np.nan)
    if len(equity_log_returns) > 1 and len(market_log_returns) > 1:
        cov_matrix = np.cov(equity_log_returns, market_log_returns)
        beta = cov_matrix[0, 1] / cov_matrix[1, 1]
    alpha_pct = return_pct - rf * 100 - beta * (buy_and_hold - rf * 100)

    win_rate = np.count_nonzero(pl > 0) / n_trades if n_trades else math.nan
    pl_std = np.sqrt(_nanvar(pl, ddof=1))
    losses = returns[returns < 0].sum(dtype=np.float64)
    profit_factor = returns[returns > 0].sum(dtype=np.float64) / (abs(losses) or np.nan)
    kelly = win_rate - (1 - win_rate) / (_nanmean(pl[pl > 0]) / -_nanmean(pl[pl < 0]))
    dd_defined = drawdowns.durations_defined

    return {
        "start": _iso(int(ts[0])),
        "end": _iso(int(ts[-1])),
        "duration_s": duration_ns / NS_PER_S,
        "exposure_time_pct": _json(have_position.mean() * 100),
        "equity_final": _json(equity[-1]),
        "equity_peak": _json(equity.max()),
        "commissions": _json(commissions),
        "return_pct": _json(return_pct),
        "buy_and_hold_return_pct": _json(buy_and_hold),
        "return_ann_pct": _json(return_ann_pct),
        "volatility_ann_pct": _json(volatility_ann_pct),
        "cagr_pct": _json(cagr_pct),
        "sharpe_ratio": _json(sharpe),
        "sortino_ratio": _json(sortino),
        "calmar_ratio": _json(calmar),
        "alpha_pct": _json(alpha_pct),
        "beta": _json(beta),
        "max_drawdown_pct": _json(max_dd * 100),
        "avg_drawdown_pct": _json(-drawdowns.avg_peak * 100),
        "max_drawdown_duration_s": _ceil(drawdowns.max_duration_ns, resolution) if dd_defined else None,
        "avg_drawdown_duration_s": _ceil(drawdowns.avg_duration_ns, resolution) if dd_defined else None,
        "trades": n_trades,
        "win_rate_pct": _json(win_rate * 100),
        "best_trade_pct": _json(_nanmax(returns) * 100),
        "worst_trade_pct": _json(_nanmin(returns) * 100),
        "avg_trade_pct": _json(_geometric_mean(returns) * 100),
        "max_trade_duration_s": _ceil(int(durations.max()), resolution) if n_trades else None,
        "avg_trade_duration_s": _ceil(_timedelta_mean(durations, n_trades), resolution),
        "profit_factor": _json(profit_factor),
        "expectancy_pct": _json(_nanmean(returns) * 100),
        "sqn": _json(np.sqrt(n_trades) * _nanmean(pl) / (pl_std or np.nan)),
        "kelly_criterion": _json(kelly),
    }
