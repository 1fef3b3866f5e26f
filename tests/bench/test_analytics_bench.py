"""Analytics and Scanning benchmarks: indicators over a universe, a 10-rule scan over the
snapshot, the end-of-day path, and the peak memory of each (DESIGN.md section 11).

Each scenario runs in its own subprocess (this module, run as `python -m
tests.bench.test_analytics_bench <scenario> <folder>`), so that its peak RSS is its own: the
child resets its RSS high-water mark (/proc/self/clear_refs) after its setup and reads its VmHWM
after the measured runs (`report.peak_rss_mb`; not ru_maxrss, which Linux carries over from the
forked pytest). The peak is the whole process's, input data and imported libraries included.
The test functions only start the scenarios, print the figures and assert gross failures (a
scenario crashed, returned the wrong number of rows, or its baseline computed something else),
never timings.

Data (deterministic, seeded): daily bars on a random walk with a small per-symbol drift, prices
rounded to cents, log-normal volumes.

- indicators: 5,000 symbols x 252 bars as one 2-D universe (`OHLCV`), `indicators.compute` once
  per spec, the `OHLCV` built inside the timed run (so the transposition it caches is paid every
  run). Baseline: pandas over a wide DataFrame (bars x symbols, one column per symbol) with
  `rolling`/`ewm`, seeded exactly as TA-Lib seeds (see `_pandas_indicators`); its results are
  checked against the platform's. References: a pandas loop per symbol (250 symbols, scaled by
  20) and TA-Lib's C functions in a loop per symbol (when `talib` is installed).
- scan: 5,000 symbols x 300 bars (every 20th symbol with only 120 bars, NaN-padded: no SMA(200)
  yet), `snapshot.build` over DEFAULT_SPECS plus the rules' specs, saved with
  `AnalyticsLake.save_snapshot`; then, in a fresh process, parse + `compile_rule` of 10 rules +
  `scan_sql` + `query_snapshot`. Baseline: the same conditions as pandas boolean masks over a DataFrame of the
  snapshot's columns, in memory; the matching symbols and every rule's flag are checked against
  the platform's. Also shown: the same scan through the bus (`RunScanner`), and a hand-written
  DuckDB query over the same Parquet file.
- end of day: a local container (`bootstrap`) with 5,000 registered symbols, 3 scanners, 252 days
  of bars ingested (`IngestBarFile`), compacted (`CompactLake`) and the snapshot built (by that
  ingest's own refresh); then, in a fresh process, each run ingests the next day (5,000 bars, one
  Parquet file written beforehand) with `bus.execute(IngestBarFile(...))`, during which the
  in-process bus runs record_coverage, refresh_snapshots and run_scanners. Times are split by
  wrapping the adapters and the subscribers' delivery (exclusive times). Baseline: the
  IngestBarFile handler alone, called directly on a second lake (no subscribers). Last, in a
  third process, the last day's `AnalyticsLake.absorb` again with DuckDB's memory_limit set as
  infra/ sets it for refresh_snapshots in Lambda.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.bench import report
from tests.bench.report import Target

SYMBOLS = 5_000
IND_BARS = 252
IND_SPECS = ("sma:20", "ema:20", "rsi:14", "macd:12:26:9", "bbands:20:2")
IND_RUNS = 7
PANDAS_LOOP_SYMBOLS = 250
SCAN_BARS, SCAN_SHORT_EVERY, SCAN_SHORT_BARS = 300, 20, 120
SCAN_WARMUP, SCAN_RUNS = 3, 30
BUS_SCAN_RUNS = 10
SCAN_RULES = (
    "rsi(14) < 70",
    "close > sma(200)",
    "sma(50) > sma(200)",
    "volume > 0.8 * sma(volume, 20)",
    "macd(12, 26, 9).hist > 0",
    "close < bbands(20, 2).upper",
    "atr(14) / close < 0.05",
    "prev(close) < close",
    "close > ema(20)",
    "not crosses_below(sma(20), sma(50))",
)
EOD_BARS = 252
EOD_WARMUP, EOD_RUNS = 1, 5
INGEST_ALONE_RUNS = 5
EOD_SCANNERS = (
    ("oversold in an uptrend", ["rsi(14) < 35", "close > sma(200)"]),
    (
        "MACD cross on volume",
        ["crosses_above(macd(12, 26, 9).macd, macd(12, 26, 9).signal)", "volume > 1.2 * sma(volume, 20)"],
    ),
    ("Bollinger breakout", ["close > bbands(20, 2).upper", "atr(14) / close < 0.05", "prev(close) < close"]),
)
DAY0_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
DAY_US = 86_400_000_000

IND_TARGET = Target("<", 300)
SCAN_TARGET = Target("<", 100)
EOD_TARGET = Target("<", 2000)
MEMORY_TARGET = Target("<", 512)
NO_FAILURE = Target("<", 1, source="a subscriber that fails is retried; it should not fail at all")

IND = "indicators: SMA20, EMA20, RSI14, MACD(12,26,9), BBANDS(20,2) for 5,000 symbols x 252 daily bars"
SCAN = "scan: 1 scanner x 10 rules over the snapshot of 5,000 symbols"
EOD = "end of day: 5,000 new daily bars -> snapshot refreshed -> 3 scanners -> signals"
MEMORY = "analytics and scanning: peak memory (VmHWM of each scenario's subprocess)"


# ---------------------------------------------------------------------------------------------
# The tests (parent process)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analytics-bench")


def test_indicators(folder: Path) -> None:
    result = _run("indicators_platform", folder).result()
    result |= _run("indicators_pandas", folder).result()
    result |= _run("indicators_talib", folder).result()
    assert result["shapes"] == {k: [SYMBOLS, IND_BARS] for k in result["shapes"]}, result["shapes"]
    assert result["latest_defined"] == SYMBOLS * len(result["shapes"]), result["latest_defined"]
    worst = max(result["pandas_max_rel_diff"].values())
    assert worst < 1e-8, result["pandas_max_rel_diff"]  # the baseline computes the same numbers

    platform = result["platform_s"]
    pandas_s = result["pandas_s"]
    base = _median_ms(pandas_s)
    talib_s = result.get("talib_s")  # None when TA-Lib is not installed
    versus_talib = f"; {_median_ms(platform) / _median_ms(talib_s):.2f}x TA-Lib's C loop" if talib_s else ""
    report.section(IND)
    report.figure(
        IND,
        "indicators.compute per spec on one 2-D OHLCV: median",
        _median_ms(platform),
        "ms",
        IND_TARGET,
        base,
        note=f"median of {IND_RUNS} runs after 1 warm-up ({_range_ms(platform)}); the OHLCV is "
        f"built inside each run, so its cached transposition is paid every time{versus_talib}",
    )
    report.figure(
        IND, "  of which preparing the inputs (transpose, NaN scan)", result["split_ms"]["inputs"], "ms"
    )
    for key in IND_SPECS:
        report.figure(IND, f"  of which {key}", result["split_ms"][key], "ms")
    report.figure(
        IND,
        "the same, every 20th symbol with 120 bars (NaN-padded): median",
        _median_ms(result["ragged_s"]),
        "ms",
        IND_TARGET,
        base,
        note="shorter histories take the per-symbol start paths; baseline: the pandas figure over "
        "full histories",
    )
    report.figure(
        IND,
        "baseline: pandas, wide DataFrame (bars x symbols): median",
        base,
        "ms",
        note=f"pandas {result['pandas_version']}; rolling(n).mean(), rolling(n).std(ddof=0), "
        "ewm(alpha, adjust=False) over a series whose warm-up is NaN and whose first value is "
        "TA-Lib's SMA seed (so EMA, RSI's Wilder averages and all three MACD EMAs start as "
        "TA-Lib's do); each indicator computed on its own, as the platform does; max relative "
        f"difference to the platform {worst:.1e}; {_range_ms(pandas_s)}",
    )
    report.figure(
        IND,
        f"reference: pandas, one symbol at a time ({PANDAS_LOOP_SYMBOLS} symbols x 20)",
        result["pandas_loop_s"] * 1000 * SYMBOLS / PANDAS_LOOP_SYMBOLS,
        "ms",
        baseline=base,
        note="the same pandas code per 1-column frame: why the wide frame is the baseline",
    )
    if talib_s:
        report.figure(
            IND,
            "reference: TA-Lib C functions, one symbol at a time: median",
            _median_ms(talib_s),
            "ms",
            baseline=base,
            note=f"ta-lib {result['talib_version']}: SMA, EMA, RSI, MACD, BBANDS per row of closes; "
            f"{_range_ms(talib_s)}",
        )

    report.section(MEMORY)
    _memory(result["platform_mem"], "indicators, platform (5,000 x 252)", result["pandas_mem"]["peak_mb"])
    _memory(result["pandas_mem"], "indicators, pandas baseline", None)
    if talib_s:
        _memory(result["talib_mem"], "indicators, TA-Lib loop", result["pandas_mem"]["peak_mb"])


def test_scan(folder: Path) -> None:
    result = _run("scan_build", folder).result()
    result |= _run("scan", folder).result()
    assert result["snapshot_rows"] == SYMBOLS, result["snapshot_rows"]
    assert result["matches"] == result["pandas_matches"], (result["matches"], result["pandas_matches"])
    assert result["any_rows"] == result["pandas_any_rows"], (result["any_rows"], result["pandas_any_rows"])
    assert result["flag_mismatches"] == [0] * len(SCAN_RULES), result["flag_mismatches"]
    assert result["bus_matches"] == result["matches"], (result["bus_matches"], result["matches"])
    assert result["duckdb_matches"] == result["matches"], (result["duckdb_matches"], result["matches"])

    scan_s, pandas_s = result["scan_s"], result["pandas_s"]
    base, base_p99 = _median_ms(pandas_s), _p99_ms(pandas_s)
    matched = f"{result['matches']} of {SYMBOLS} symbols match all 10 rules"
    report.section(SCAN)
    report.figure(
        SCAN,
        "parse + compile_rule x10 + scan_sql + query_snapshot: median",
        _median_ms(scan_s),
        "ms",
        SCAN_TARGET,
        base,
        note=f"{SCAN_RUNS} runs after {SCAN_WARMUP} warm-ups; {matched}; rules: "
        + "; ".join(f"`{r}`" for r in SCAN_RULES),
    )
    report.figure(SCAN, "  p99 (slowest of 30)", _p99_ms(scan_s), "ms", SCAN_TARGET, base_p99)
    for part, label in (
        ("compile_s", "parse + compile_rule of the 10 rules"),
        ("sql_s", "scan_sql"),
        ("query_s", "query_snapshot (DuckDB over latest.parquet, rows as dicts)"),
    ):
        report.figure(SCAN, f"  of which {label}", _median_ms(result[part]), "ms")
    report.figure(
        SCAN,
        "the same with require='any' (a flag per rule): median",
        _median_ms(result["any_s"]),
        "ms",
        SCAN_TARGET,
        _median_ms(result["pandas_any_s"]),
        note=f"{result['any_rows']} rows returned; every rule's flag equals the pandas mask's; "
        "baseline: pandas returning the same rows",
    )
    report.figure(
        SCAN,
        "bus RunScanner (execute_scan: + claims, run log): median",
        _median_ms(result["bus_s"]),
        "ms",
        SCAN_TARGET,
        base,
        note=f"{BUS_SCAN_RUNS} runs after the first, which claimed and logged {result['matches']} new "
        f"signals in {result['bus_first_s'] * 1000:.0f} ms; later runs find them claimed already; "
        f"{_range_ms(result['bus_s'])}",
    )
    report.figure(
        SCAN,
        "baseline: pandas boolean masks over the snapshot, in memory: median",
        base,
        "ms",
        note=f"pandas {result['pandas_version']}; a DataFrame of the snapshot's columns built "
        "beforehand (no file read); SQL's three-valued logic written out where a NULL matters; "
        "returns the matching rows as dicts sorted by symbol, like the scan",
    )
    report.figure(SCAN, "baseline: pandas: p99 (slowest of 30)", base_p99, "ms")
    report.figure(
        SCAN,
        "reference: hand-written DuckDB SQL over latest.parquet: median",
        _median_ms(result["duckdb_s"]),
        "ms",
        baseline=base,
        note="plain comparisons, no NULLIF/COALESCE guards, no view; a fresh cursor per run",
    )
    report.figure(
        SCAN,
        "setup: snapshot.build of 5,000 x 300 bars",
        result["build_s"] * 1000,
        "ms",
        note=f"{result['specs']} indicator specs (DEFAULT_SPECS and the rules') and 4 patterns, "
        f"{result['snapshot_columns']} columns; save_snapshot took {result['save_s'] * 1000:.0f} ms",
    )

    report.section(MEMORY)
    _memory(result["scan_mem"], "scan, platform (compile + scan_sql + query_snapshot)", None)
    _memory(result["pandas_mem"], "scan, pandas baseline (snapshot DataFrame in memory)", None)


def test_end_of_day(folder: Path) -> None:
    result = _run("eod_setup", folder).result()
    result |= _run("eod", folder).result()
    limited = _run("eod_lambda_limit", folder).result()
    runs = result["runs"]
    assert [r["rows"] for r in runs] == [SYMBOLS] * EOD_RUNS, [r["rows"] for r in runs]
    assert result["history_rows"] == SYMBOLS * EOD_BARS, result["history_rows"]
    for r in runs:  # every step ran: the snapshot refreshed once, every scanner ran
        assert r["events"].get("IndicatorsCalculated") == 1, r["events"]
        assert r["events"].get("ScanCompleted") == len(EOD_SCANNERS), r["events"]
    assert result["dead_letters"] == 0, result["dead_letters"]
    assert result["alone_rows"] == [SYMBOLS] * INGEST_ALONE_RUNS, result["alone_rows"]

    totals = [r["total_s"] for r in runs]
    alone = _median_ms(result["alone_s"])
    report.section(EOD)
    report.figure(
        EOD,
        "bus IngestBarFile of 5,000 bars, subscribers included: median",
        _median_ms(totals),
        "ms",
        EOD_TARGET,
        alone,
        note=f"{EOD_RUNS} consecutive days after {EOD_WARMUP} warm-up day ({_range_ms(totals)}); "
        "IngestBarFile rather than IngestBars: a Parquet file per day written beforehand (see the "
        "IngestBars line); all subscribers run synchronously by the local in-process bus (in AWS "
        "they are separate Lambdas, one after the other)",
    )
    report.figure(EOD, "  slowest of 5", max(totals) * 1000, "ms", EOD_TARGET, alone)
    warmup = result["warmup"]
    report.figure(
        EOD,
        "  the warm-up day, first in a fresh process started as `trading serve` is (not in the median)",
        result["warmup_s"][0] * 1000,
        "ms",
        EOD_TARGET,
        alone,
        note=f"the handlers and DuckDB's first query loaded at start (bootstrap.warm_up); the "
        f"stores, caches and first calls of each step still on first use; "
        f"{warmup['failed_attempts']} failed subscriber attempt(s)",
    )
    parts: dict[str, list[float]] = {}
    for r in runs:
        for name in r["parts"]:
            parts.setdefault(name, [])
    for r in runs:
        for name in parts:
            parts[name].append(r["parts"].get(name, 0.0))
    for name, label in _EOD_PARTS:
        if name in parts:
            report.figure(EOD, f"  of which {label}", _median_ms(parts.pop(name)), "ms")
    for name, seconds in sorted(parts.items()):
        report.figure(EOD, f"  of which {name}", _median_ms(seconds), "ms")
    rest = [r["total_s"] - sum(r["parts"].values()) for r in runs]
    report.figure(EOD, "  of which the rest (bus, events, inbox, retry back-off)", _median_ms(rest), "ms")
    failures = [r["failed_attempts"] for r in runs]
    failed_s = [r["failed_s"] for r in runs]
    errors = sorted({e for r in runs for e in r["errors"]})
    report.figure(
        EOD,
        "failed subscriber attempts per day (then retried)",
        statistics.median(failures),
        "count",
        NO_FAILURE,
        note=(
            f"time in failed attempts, median {_median_ms(failed_s):.0f} ms a day (included above); "
            f"errors: {'; '.join(errors)}"
            if errors
            else "none"
        ),
    )
    for event in ("SignalGenerated", "SignalDetected", "ScanCompleted", "IndicatorsCalculated"):
        counts = [r["events"].get(event, 0) for r in runs]
        report.figure(
            EOD,
            f"{event} events per day",
            statistics.median(counts),
            "events",
            note=f"per day: {', '.join(str(c) for c in counts)}",
        )
    report.figure(
        EOD,
        "baseline: IngestBarFile handler alone (direct call, no subscribers): median",
        alone,
        "ms",
        note=f"the same 5,000-bar files into a second lake; {_range_ms(result['alone_s'])}",
    )
    report.figure(
        EOD,
        "IngestBars handler alone, 5,000 BarRow from dicts: median",
        _median_ms(result["bars_s"]),
        "ms",
        baseline=alone,
        note=f"of which pydantic validation of the command {_median_ms(result['bars_validate_s']):.0f} "
        "ms (what the HTTP route does with a JSON body)",
    )
    failed = limited["error"] is not None
    report.figure(
        EOD,
        f"AnalyticsLake.absorb at DuckDB memory_limit {limited['limit_mb']} MB (as in Lambda)",
        math.nan if failed else limited["absorb_s"] * 1000,
        "ms",
        EOD_TARGET,
        note=(f"FAILED after {limited['absorb_s']:.1f} s: {limited['error']}" if failed else "ok")
        + f"; the last day's refresh again in a fresh process, with a spill folder; peak RSS "
        f"{limited['peak_mb']:.0f} MB; refresh_snapshots has {limited['limit_mb'] * 2} MB in "
        "shared/trading_system/catalog.py and infra/ gives DuckDB half",
    )
    setup = result["setup_s"]
    report.figure(
        EOD,
        "setup: RegisterSymbol x5,000 via the bus",
        setup["register"] * 1000,
        "ms",
    )
    report.figure(
        EOD,
        "setup: IngestBarFile of 1,260,000 bars (252 days) with subscribers",
        setup["history"] * 1000,
        "ms",
        note=f"first snapshot built from the lake, 3 scanners run; events: {result['history_events']}; "
        f"failed subscriber attempts: {result['history_failures']['failed_attempts']} "
        f"{'; '.join(result['history_failures']['errors'])}",
    )
    report.figure(
        EOD,
        "setup: CompactLake(1d), 5,000 symbols",
        setup["compact"] * 1000,
        "ms",
        note=result["compaction"],
    )

    report.section(MEMORY)
    _memory(
        result["mem"],
        "end of day, all subscribers in one process",
        None,
        "DuckDB with its default memory_limit (80% of RAM); in AWS the path spans 3 Lambdas "
        f"(ingest, refresh_snapshots, run_scanners); see the memory_limit {limited['limit_mb']} MB line",
    )


_EOD_PARTS = (
    ("ingest: ParquetLake.read", "IngestBarFile: ParquetLake.read (parse + checks)"),
    ("ingest: find_problems", "IngestBarFile: find_problems"),
    ("ingest: ParquetLake.write", "IngestBarFile: ParquetLake.write"),
    ("record_coverage", "record_coverage (subscriber, own time)"),
    ("refresh: absorb", "refresh_snapshots: AnalyticsLake.absorb (history rewrite + load)"),
    ("refresh: snapshot.build", "refresh_snapshots: snapshot.build (indicators + patterns)"),
    ("refresh: save_snapshot", "refresh_snapshots: save_snapshot"),
    ("refresh: detect_signals", "refresh_snapshots: detect_signals"),
    ("refresh_snapshots", "refresh_snapshots (subscriber, own time)"),
    ("signal registry claims", "signal_registry.claim (SQLite), all subscribers"),
    ("signal log appends", "append_signals + append_run (Parquet), all subscribers"),
    ("scan: compile_definition", "run_scanners: compile_definition"),
    ("scan: snapshot_columns", "run_scanners: snapshot_columns"),
    ("scan: query_snapshot", "run_scanners: query_snapshot"),
    ("run_scanners", "run_scanners (subscriber, own time)"),
)


def _memory(mem: dict[str, Any], name: str, baseline: float | None, note: str = "") -> None:
    report.figure(
        MEMORY,
        name,
        mem["peak_mb"],
        "MB",
        MEMORY_TARGET,
        baseline,
        note=f"RSS {mem['rss_start_mb']:.0f} MB when the measured runs began (interpreter, libraries, "
        "input data), so the runs added at most "
        f"{mem['peak_mb'] - mem['rss_start_mb']:.0f} MB"
        + ("" if mem["peak_reset"] else "; could not reset the high-water mark: peak since start")
        + (f"; {note}" if note else ""),
    )


def _run(scenario: str, folder: Path) -> report.Child:
    env = report.child_env(TRADING_SETTINGS_FILE=str(folder / "absent.toml"))
    return report.run_scenario("tests.bench.test_analytics_bench", scenario, folder, env)


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000


def _range_ms(seconds: list[float]) -> str:
    return f"runs {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms"


# ---------------------------------------------------------------------------------------------
# The scenarios (each in its own subprocess)


def _synth(
    n_symbols: int, n_bars: int, seed: int, short_every: int = 0, short_bars: int = 0
) -> dict[str, Any]:
    """Daily bars, symbols x bars: a random walk with a per-symbol drift, prices in cents.

    Every `short_every`-th symbol has only its last `short_bars` bars (NaN before, ts 0)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (n_symbols, n_bars)
    base = rng.uniform(5, 500, (n_symbols, 1))
    drift = rng.normal(0.0005, 0.001, (n_symbols, 1))
    close = np.maximum(
        np.round(base * np.exp(np.cumsum(rng.normal(0, 0.02, shape) + drift, axis=1)), 2), 0.01
    )
    open_ = np.empty(shape)
    open_[:, 0] = np.round(base[:, 0], 2)
    open_[:, 1:] = np.maximum(
        np.round(close[:, :-1] * np.exp(rng.normal(0, 0.005, (n_symbols, n_bars - 1))), 2), 0.01
    )
    high = np.maximum(open_, close) + np.round(np.abs(rng.normal(0, 0.01, shape)) * close, 2)
    low = np.maximum(np.minimum(open_, close) - np.round(np.abs(rng.normal(0, 0.01, shape)) * close, 2), 0.01)
    volume = np.round(rng.lognormal(12, 0.6, shape))
    ts = np.broadcast_to(DAY0_US + np.arange(n_bars, dtype=np.int64) * DAY_US, shape).copy()
    fields = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    if short_every:
        rows = np.arange(0, n_symbols, short_every)
        for values in fields.values():
            values[rows, : n_bars - short_bars] = np.nan
        ts[rows, : n_bars - short_bars] = 0
    return {"symbols": tuple(f"S{i:04d}" for i in range(n_symbols)), "ts_us": ts, **fields}


def _settings(data_dir: Path) -> Any:
    from trading_system.config import load_settings

    return load_settings(data_dir=data_dir)


def _measure(fn: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[list[float], dict[str, Any], Any]:
    """Warm-ups, then timed runs; the peak RSS of the timed runs (high-water mark reset first).
    Each run's result is dropped before the next starts, so the peak holds one result at most."""
    for _ in range(warmup):
        fn()
    mem: dict[str, Any] = {"peak_reset": report.reset_peak_rss(), "rss_start_mb": report.rss_mb()}
    times, out = [], None
    for _ in range(runs):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    mem["peak_mb"] = report.peak_rss_mb()
    return times, mem, out


# -- indicators --------------------------------------------------------------------------------


def _indicator_fields() -> dict[str, Any]:
    data = _synth(SYMBOLS, IND_BARS, seed=1)
    return {k: data[k] for k in ("open", "high", "low", "close", "volume")}


def _platform_indicators(fields: dict[str, Any]) -> dict[str, Any]:
    from trading_system.analytics.indicators import OHLCV, compute
    from trading_system.analytics.specs import parse_spec

    bars = OHLCV(**fields)
    return {
        f"{spec.key}.{name}": values
        for spec in map(parse_spec, IND_SPECS)
        for name, values in compute(spec, bars).items()
    }


def _pandas_indicators(close: Any) -> dict[str, Any]:
    """The five indicators with pandas over a (bars x symbols) DataFrame, seeded as TA-Lib.

    pandas' ewm(adjust=False) starts from the first non-NaN value, so each recursive filter runs
    over a copy of its input whose warm-up is NaN and whose first value is TA-Lib's seed (the
    SMA of the first `period` values); the output is then TA-Lib's exactly, up to rounding.
    """
    import numpy as np

    def seeded(x: Any, at: int, seed: Any, alpha: float) -> Any:
        y = x.copy()
        y.iloc[:at] = np.nan
        y.iloc[at] = seed
        return y.ewm(alpha=alpha, adjust=False).mean()

    out = {"sma:20.value": close.rolling(20).mean()}
    out["ema:20.value"] = seeded(close, 19, close.iloc[:20].mean(), 2 / 21)
    change = close.diff()
    gain, loss = change.clip(lower=0), (-change).clip(lower=0)
    avg_gain = seeded(gain, 14, gain.iloc[1:15].mean(), 1 / 14)
    avg_loss = seeded(loss, 14, loss.iloc[1:15].mean(), 1 / 14)
    out["rsi:14.value"] = 100 * avg_gain / (avg_gain + avg_loss)
    slow = seeded(close, 25, close.iloc[:26].mean(), 2 / 27)
    fast = seeded(close, 25, close.iloc[14:26].mean(), 2 / 13)  # TA-Lib starts both at bar 25
    line = fast - slow
    signal = seeded(line, 33, line.iloc[25:34].mean(), 2 / 10)
    line.iloc[:33] = np.nan  # TA-Lib shows the line only once the signal exists
    out["macd:12:26:9.macd"], out["macd:12:26:9.signal"] = line, signal
    out["macd:12:26:9.hist"] = line - signal
    middle = close.rolling(20).mean()
    deviation = close.rolling(20).std(ddof=0)
    out["bbands:20:2.upper"] = middle + 2 * deviation
    out["bbands:20:2.middle"] = middle
    out["bbands:20:2.lower"] = middle - 2 * deviation
    return out


def scenario_indicators_platform(folder: Path) -> dict[str, Any]:
    import numpy as np

    from trading_system.analytics.indicators import OHLCV, compute
    from trading_system.analytics.specs import parse_spec

    fields = _indicator_fields()
    out: dict[str, Any] = {}
    out["platform_s"], out["platform_mem"], computed = _measure(
        lambda: _platform_indicators(fields), IND_RUNS
    )
    out["shapes"] = {k: list(v.shape) for k, v in computed.items()}
    out["latest_defined"] = int(sum(np.isfinite(v[:, -1]).sum() for v in computed.values()))
    del computed

    split: dict[str, list[float]] = {"inputs": []}
    for _ in range(IND_RUNS):
        bars = OHLCV(**fields)
        t0 = time.perf_counter()
        bars.rows("close")
        split["inputs"].append(time.perf_counter() - t0)
        for spec in map(parse_spec, IND_SPECS):
            t0 = time.perf_counter()
            compute(spec, bars)
            split.setdefault(spec.key, []).append(time.perf_counter() - t0)
    out["split_ms"] = {k: _median_ms(v) for k, v in split.items()}

    ragged = _synth(SYMBOLS, IND_BARS, seed=1, short_every=20, short_bars=120)
    ragged_fields = {k: ragged[k] for k in fields}
    out["ragged_s"], _, _ = _measure(lambda: _platform_indicators(ragged_fields), IND_RUNS)
    return out


def scenario_indicators_pandas(folder: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    closes = _indicator_fields()["close"]
    out: dict[str, Any] = {"pandas_version": pd.__version__}
    out["pandas_s"], out["pandas_mem"], frames = _measure(
        lambda: _pandas_indicators(pd.DataFrame(closes.T)), IND_RUNS
    )
    t0 = time.perf_counter()
    for i in range(PANDAS_LOOP_SYMBOLS):
        _pandas_indicators(pd.DataFrame(closes[i][:, None]))
    out["pandas_loop_s"] = time.perf_counter() - t0

    computed = _platform_indicators(_indicator_fields())  # after the measured runs
    diffs = {}
    for key, frame in frames.items():
        theirs, ours = frame.to_numpy().T, computed[key]
        assert (np.isnan(theirs) == np.isnan(ours)).all(), f"{key}: the warm-ups differ"
        both = ~np.isnan(ours)
        diffs[key] = float(np.max(np.abs(theirs[both] - ours[both]) / np.maximum(np.abs(ours[both]), 1e-9)))
    out["pandas_max_rel_diff"] = diffs
    return out


def scenario_indicators_talib(folder: Path) -> dict[str, Any]:
    try:
        import talib
    except ImportError:
        return {"talib_version": None}
    closes = _indicator_fields()["close"]

    def talib_loop() -> None:
        for row in closes:
            talib.SMA(row, 20)
            talib.EMA(row, 20)
            talib.RSI(row, 14)
            talib.MACD(row, 12, 26, 9)
            talib.BBANDS(row, 20, 2.0, 2.0)

    out: dict[str, Any] = {"talib_version": talib.__version__}
    out["talib_s"], out["talib_mem"], _ = _measure(talib_loop, IND_RUNS)
    return out


# -- scan --------------------------------------------------------------------------------------


def _pandas_scan(df: Any, columns: list[str], require: str = "all") -> tuple[list[dict[str, Any]], list[Any]]:
    """SCAN_RULES as boolean masks (a NaN compares False, as a NULL counts as no match)."""
    c = df["close"]
    sma20, sma50, prev20, prev50 = df["sma_20"], df["sma_50"], df["prev__sma_20"], df["prev__sma_50"]
    # not crosses_below(a, b) = NOT(a < b AND prev a >= prev b): in SQL's three-valued logic it
    # holds when either comparison is definitely false (both sides known).
    not_cross_below = ((sma20 >= sma50) & sma20.notna() & sma50.notna()) | (
        (prev20 < prev50) & prev20.notna() & prev50.notna()
    )
    masks = [
        df["rsi_14"] < 70,
        c > df["sma_200"],
        df["sma_50"] > df["sma_200"],
        df["volume"] > 0.8 * df["sma_20_volume"],
        df["macd_12_26_9__hist"] > 0,
        c < df["bbands_20_2__upper"],
        df["atr_14"] / c < 0.05,
        df["prev__close"] < c,
        c > df["ema_20"],
        not_cross_below,
    ]
    matched = masks[0].copy()
    for mask in masks[1:]:
        matched = matched & mask if require == "all" else matched | mask
    rows = df.loc[matched, ["symbol", *columns]].sort_values("symbol").to_dict("records")
    return rows, masks


def scenario_scan_build(folder: Path) -> dict[str, Any]:
    """Setup: the snapshot of 5,000 symbols in the lake (latest.parquet)."""
    from trading_system.adapters.analytics_lake import AnalyticsLake
    from trading_system.adapters.lake import ParquetLake
    from trading_system.analytics import snapshot
    from trading_system.market_data.domain import Timeframe
    from trading_system.scanning import rules

    data = _synth(SYMBOLS, SCAN_BARS, seed=2, short_every=SCAN_SHORT_EVERY, short_bars=SCAN_SHORT_BARS)
    bars = snapshot.UniverseBars(
        data["symbols"], data["ts_us"], data["open"], data["high"], data["low"], data["close"], data["volume"]
    )
    compiled = [rules.compile_rule(rules.parse(text)) for text in SCAN_RULES]
    specs = set(snapshot.DEFAULT_SPECS) | {s for c in compiled for s in c.specs}
    out: dict[str, Any] = {"specs": len(specs)}
    t0 = time.perf_counter()
    table, _ = snapshot.build(bars, specs)
    out["build_s"] = time.perf_counter() - t0
    out["snapshot_columns"] = len(table.columns)
    out["snapshot_rows"] = len(table)
    lake = AnalyticsLake(ParquetLake.from_settings(_settings(folder / "scan")))
    t0 = time.perf_counter()
    lake.save_snapshot(Timeframe.D1, table)
    out["save_s"] = time.perf_counter() - t0
    return out


def scenario_scan(folder: Path) -> dict[str, Any]:
    """The scan in a fresh process over the saved snapshot; then the baselines."""
    import numpy as np

    from trading_system.adapters import duck
    from trading_system.adapters.analytics_lake import AnalyticsLake
    from trading_system.adapters.lake import ParquetLake
    from trading_system.bootstrap import bootstrap
    from trading_system.market_data.domain import Timeframe
    from trading_system.scanning import rules
    from trading_system.scanning.commands import CreateScanner, RunScanner
    from trading_system.scanning.domain import ScannerDefinition

    settings = _settings(folder / "scan")
    lake = AnalyticsLake(ParquetLake.from_settings(settings))
    parts: dict[str, list[float]] = {"compile_s": [], "sql_s": [], "query_s": []}

    def scan(require: str = "all") -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        rule_set = [rules.compile_rule(rules.parse(text)) for text in SCAN_RULES]
        t1 = time.perf_counter()
        sql, params = rules.scan_sql(rule_set, require=require)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        rows = lake.query_snapshot(Timeframe.D1, sql, params, None)
        t3 = time.perf_counter()
        for part, seconds in (("compile_s", t1 - t0), ("sql_s", t2 - t1), ("query_s", t3 - t2)):
            parts[part].append(seconds)
        return rows

    out: dict[str, Any] = {}
    out["scan_s"], out["scan_mem"], rows = _measure(scan, SCAN_RUNS, SCAN_WARMUP)
    out.update({k: v[-SCAN_RUNS:] for k, v in parts.items()})
    out["matches"] = len(rows)
    out["any_s"], _, any_rows = _measure(lambda: scan("any"), SCAN_RUNS, 1)
    out["any_rows"] = len(any_rows)

    container = bootstrap(settings)
    definition = ScannerDefinition(name="bench", rules=list(SCAN_RULES), run_on_refresh=False)
    scanner = container.bus.execute(CreateScanner(definition=definition))
    t0 = time.perf_counter()
    run = container.bus.execute(RunScanner(scanner_id=scanner.scanner_id))
    out["bus_first_s"] = time.perf_counter() - t0
    out["bus_new_signals"] = run.new_signals
    out["bus_s"], _, run = _measure(
        lambda: container.bus.execute(RunScanner(scanner_id=scanner.scanner_id)), BUS_SCAN_RUNS, 0
    )
    out["bus_matches"] = len(run.matches)

    conn = duck.connect(settings)
    path = f"{settings.lake_root}/snapshots/timeframe=1d/latest.parquet"
    columns = list(
        dict.fromkeys(c for text in SCAN_RULES for c in rules.compile_rule(rules.parse(text)).columns)
    )
    where = """rsi_14 < 70 AND close > sma_200 AND sma_50 > sma_200 AND volume > 0.8 * sma_20_volume
        AND macd_12_26_9__hist > 0 AND close < bbands_20_2__upper AND atr_14 / close < 0.05
        AND prev__close < close AND close > ema_20
        AND NOT (sma_20 < sma_50 AND prev__sma_20 >= prev__sma_50)"""

    def bare() -> list[dict[str, Any]]:
        cur = conn.cursor()
        try:
            select = f"SELECT symbol, ts, {', '.join(columns)} FROM read_parquet('{path}')"
            result = cur.execute(f"{select} WHERE {where} ORDER BY symbol")
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()

    out["duckdb_s"], _, bare_rows = _measure(bare, SCAN_RUNS, SCAN_WARMUP)
    out["duckdb_matches"] = len(bare_rows)

    import pandas as pd

    out["pandas_version"] = pd.__version__
    df = conn.execute(f"SELECT * FROM read_parquet('{path}')").df()  # NULL -> NaN
    out["pandas_s"], out["pandas_mem"], (pandas_rows, _) = _measure(
        lambda: _pandas_scan(df, columns), SCAN_RUNS, SCAN_WARMUP
    )
    out["pandas_matches"] = len(pandas_rows)
    assert [r["symbol"] for r in pandas_rows] == [r["symbol"] for r in rows], "the matching symbols differ"
    out["pandas_any_s"], _, (pandas_any, masks) = _measure(
        lambda: _pandas_scan(df, columns, "any"), SCAN_RUNS
    )
    out["pandas_any_rows"] = len(pandas_any)
    flags = np.zeros((len(SCAN_RULES), len(df)), dtype=np.bool_)  # False: not returned
    position = {symbol: j for j, symbol in enumerate(df["symbol"])}
    for row in any_rows:
        flags[:, position[row["symbol"]]] = [row[f"r{i}"] for i in range(len(SCAN_RULES))]
    out["flag_mismatches"] = [
        int((mask.to_numpy(dtype=np.bool_) != flags[i]).sum()) for i, mask in enumerate(masks)
    ]
    return out


# -- end of day --------------------------------------------------------------------------------


def _write_day_files(data: dict[str, Any], days: dict[str, slice], folder: Path) -> None:
    """One vendor-style Parquet file per name: symbol, ts, open, high, low, close, volume."""
    import duckdb
    import numpy as np

    conn = duckdb.connect()
    symbols = np.array(data["symbols"], dtype=object)
    conn.register("symbols", {"code": np.arange(len(symbols)), "symbol": symbols})
    for name, days_slice in days.items():
        count = len(range(*days_slice.indices(data["close"].shape[1])))
        columns = {
            "code": np.repeat(np.arange(len(symbols)), count),
            "ts_us": data["ts_us"][:, days_slice].reshape(-1),
            **{k: data[k][:, days_slice].reshape(-1) for k in ("open", "high", "low", "close", "volume")},
        }
        conn.register("bars", columns)
        conn.execute(
            f"""COPY (SELECT s.symbol, make_timestamp(b.ts_us) AS ts, b.open, b.high, b.low, b.close, b.volume
                      FROM bars b JOIN symbols s USING (code) ORDER BY b.code, b.ts_us)
                TO '{folder / name}' (FORMAT parquet)"""
        )
        conn.unregister("bars")
    conn.close()


class _Stopwatch:
    """Exclusive time per wrapped callable: a call's time minus that of wrapped calls inside it.
    Wrapping only times; behaviour is unchanged."""

    def __init__(self) -> None:
        self.spent: Counter[str] = Counter()
        self.failed_attempts = 0
        self.failed_s = 0.0
        self.errors: set[str] = set()
        self._stack: list[list[float]] = []

    def wrap(self, name: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - frame[0]
                self._stack.pop()
                self.spent[name(*args) if callable(name) else name] += elapsed - frame[1]
                if self._stack:
                    self._stack[-1][1] += elapsed

        return timed

    def wrap_deliver(self, publisher: Any) -> None:
        """Time each subscriber the in-process bus runs, and count the attempts that raised."""
        timed = self.wrap(lambda subscriber, envelope: subscriber, publisher.deliver)

        def deliver(subscriber: str, envelope: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return timed(subscriber, envelope)
            except Exception as error:
                self.failed_attempts += 1
                self.failed_s += time.perf_counter() - t0
                self.errors.add(f"{subscriber}: {type(error).__name__}: {str(error)[:160]}")
                raise

        publisher.deliver = deliver

    def take(self) -> dict[str, Any]:
        out = {
            "parts": dict(self.spent),
            "failed_attempts": self.failed_attempts,
            "failed_s": self.failed_s,
            "errors": sorted(self.errors),
        }
        self.spent, self.failed_attempts, self.failed_s, self.errors = Counter(), 0, 0.0, set()
        return out


def _ingest_file(folder: Path, name: str) -> Any:
    from trading_system.market_data.commands import FileFormat, IngestBarFile
    from trading_system.market_data.domain import Timeframe

    return IngestBarFile(timeframe=Timeframe.D1, path=str(folder / name), format=FileFormat.PARQUET)


def scenario_eod_setup(folder: Path) -> dict[str, Any]:
    """Setup: the day files, 5,000 registered symbols, 3 scanners, 252 days ingested (the
    snapshot built by that ingest's refresh) and compacted."""
    from trading_system.bootstrap import bootstrap
    from trading_system.market_data.commands import CompactLake, RegisterSymbol
    from trading_system.market_data.domain import Timeframe
    from trading_system.scanning.commands import CreateScanner
    from trading_system.scanning.domain import ScannerDefinition

    days = EOD_WARMUP + EOD_RUNS
    data = _synth(SYMBOLS, EOD_BARS + days, seed=3)
    files = {"history.parquet": slice(0, EOD_BARS)}
    files.update({f"day-{k}.parquet": slice(EOD_BARS + k, EOD_BARS + k + 1) for k in range(days)})
    _write_day_files(data, files, folder)

    out: dict[str, Any] = {"setup_s": {}}
    container = bootstrap(_settings(folder / "eod"))
    t0 = time.perf_counter()
    for symbol in data["symbols"]:
        container.bus.execute(RegisterSymbol(symbol=symbol))
    out["setup_s"]["register"] = time.perf_counter() - t0
    for name, rule_texts in EOD_SCANNERS:
        container.bus.execute(CreateScanner(definition=ScannerDefinition(name=name, rules=rule_texts)))
    events: Counter[str] = Counter()
    container.bus.observers.append(lambda envelope: events.update([envelope.event_type]))
    watch = _Stopwatch()
    watch.wrap_deliver(container.publisher)
    t0 = time.perf_counter()
    history = container.bus.execute(_ingest_file(folder, "history.parquet"))
    out["setup_s"]["history"] = time.perf_counter() - t0
    out["history_rows"] = history.rows
    out["history_events"] = dict(events)
    out["history_failures"] = watch.take()
    t0 = time.perf_counter()
    compaction = container.bus.execute(CompactLake(timeframe=Timeframe.D1))
    out["setup_s"]["compact"] = time.perf_counter() - t0
    out["compaction"] = str(compaction)
    return out


def scenario_eod(folder: Path) -> dict[str, Any]:
    """The end-of-day runs in a fresh process over the lake of `eod_setup`; then the baseline.
    The process starts as `trading serve` does: its handlers loaded in advance (bootstrap.warm_up)
    and its garbage collector run as a server's and a Lambda's are (garbage.py)."""
    from trading_system.entrypoints import garbage

    garbage.starting()
    from trading_system.analytics import snapshot
    from trading_system.bootstrap import bootstrap, warm_up
    from trading_system.market_data import bar_batch
    from trading_system.market_data.commands import IngestBars
    from trading_system.market_data.handlers import ingest_bar_file, ingest_bars
    from trading_system.scanning import handlers as scanning_handlers

    days = EOD_WARMUP + EOD_RUNS
    container = bootstrap(_settings(folder / "eod"))
    warm_up(container)  # as `trading serve` starts
    garbage.started()
    events: Counter[str] = Counter()
    container.bus.observers.append(lambda envelope: events.update([envelope.event_type]))
    watch = _Stopwatch()
    watch.wrap_deliver(container.publisher)
    lake, snapshots, registry = container.lake, container.snapshots, container.signal_registry
    signal_log = container.signal_log
    lake.read = watch.wrap("ingest: ParquetLake.read", lake.read)  # type: ignore[method-assign]
    lake.write = watch.wrap("ingest: ParquetLake.write", lake.write)  # type: ignore[method-assign]
    bar_batch.find_problems = watch.wrap("ingest: find_problems", bar_batch.find_problems)  # type: ignore[assignment]
    snapshots.absorb = watch.wrap("refresh: absorb", snapshots.absorb)  # type: ignore[method-assign]
    snapshots.save_snapshot = watch.wrap("refresh: save_snapshot", snapshots.save_snapshot)  # type: ignore[method-assign]
    snapshots.snapshot_columns = watch.wrap("scan: snapshot_columns", snapshots.snapshot_columns)  # type: ignore[method-assign]
    snapshots.query_snapshot = watch.wrap("scan: query_snapshot", snapshots.query_snapshot)  # type: ignore[method-assign]
    signal_log.append_signals = watch.wrap("signal log appends", signal_log.append_signals)  # type: ignore[method-assign]
    signal_log.append_run = watch.wrap("signal log appends", signal_log.append_run)  # type: ignore[method-assign]
    registry.claim = watch.wrap("signal registry claims", registry.claim)  # type: ignore[method-assign]
    snapshot.build = watch.wrap("refresh: snapshot.build", snapshot.build)  # type: ignore[assignment]
    snapshot.detect_signals = watch.wrap("refresh: detect_signals", snapshot.detect_signals)  # type: ignore[assignment]
    scanning_handlers.compile_definition = watch.wrap(  # type: ignore[assignment]
        "scan: compile_definition", scanning_handlers.compile_definition
    )

    out: dict[str, Any] = {"warmup_s": []}
    for k in range(EOD_WARMUP):  # the first day in a fresh process also pays for first uses
        t0 = time.perf_counter()
        container.bus.execute(_ingest_file(folder, f"day-{k}.parquet"))
        out["warmup_s"].append(time.perf_counter() - t0)
    out["warmup"] = {"events": dict(events), **watch.take()}
    events.clear()
    out["runs"] = []
    mem: dict[str, Any] = {"peak_reset": report.reset_peak_rss(), "rss_start_mb": report.rss_mb()}
    for k in range(EOD_WARMUP, days):
        t0 = time.perf_counter()
        ingested = container.bus.execute(_ingest_file(folder, f"day-{k}.parquet"))
        total = time.perf_counter() - t0
        out["runs"].append({"total_s": total, "rows": ingested.rows, "events": dict(events), **watch.take()})
        events.clear()
    mem["peak_mb"] = report.peak_rss_mb()
    out["mem"] = mem
    out["dead_letters"] = len(container.dead_letters.list(1000))

    # Baseline: the ingest alone, handlers called directly (no bus, no subscribers), second lake.
    alone = bootstrap(_settings(folder / "eod-alone"))
    alone.symbols.save_many(container.symbols.list(None, SYMBOLS))
    out["alone_s"], out["alone_rows"] = [], []
    for k in range(INGEST_ALONE_RUNS):
        command = _ingest_file(folder, f"day-{k % days}.parquet")
        t0 = time.perf_counter()
        handled = ingest_bar_file(command, alone.symbols, alone.lake, alone.bar_limits, alone.clock)
        out["alone_s"].append(time.perf_counter() - t0)
        out["alone_rows"].append(handled.result.rows)
    out["bars_s"], out["bars_validate_s"] = [], []
    cur = alone.lake.conn.cursor()
    for k in range(INGEST_ALONE_RUNS):
        result = cur.execute(
            "SELECT symbol, strftime(ts, '%Y-%m-%d') AS ts, open, high, low, close, volume "
            "FROM read_parquet($path)",
            {"path": str(folder / f"day-{k % days}.parquet")},
        )
        names = [d[0] for d in result.description]
        body = {"timeframe": "1d", "bars": [dict(zip(names, row, strict=True)) for row in result.fetchall()]}
        t0 = time.perf_counter()
        command = IngestBars.model_validate(body)
        t1 = time.perf_counter()
        ingest_bars(command, alone.symbols, alone.lake, alone.bar_limits, alone.clock)
        out["bars_s"].append(time.perf_counter() - t0)
        out["bars_validate_s"].append(t1 - t0)
    cur.close()
    return out


def scenario_eod_lambda_limit(folder: Path) -> dict[str, Any]:
    """The refresh of the last day again, with DuckDB limited as in Lambda: half the memory of
    refresh_snapshots (infra/ sets TRADING_DUCKDB_MEMORY_LIMIT_MB so) and a spill folder."""
    from trading_system.analytics import snapshot
    from trading_system.bootstrap import bootstrap
    from trading_system.catalog import by_name
    from trading_system.config import load_settings
    from trading_system.market_data.domain import Timeframe

    limit = by_name()["refresh_snapshots"].memory_mb // 2
    container = bootstrap(load_settings(data_dir=folder / "eod", duckdb_memory_limit_mb=limit))
    spill = folder / "spill"
    spill.mkdir(exist_ok=True)
    container.lake.conn.execute(f"SET temp_directory = '{spill}'")
    ingests = container.lake.committed_ingest_files(Timeframe.D1)
    ingest_id = max(path.rsplit("/", 1)[-1].split("_")[0] for path in ingests)
    specs = set(snapshot.DEFAULT_SPECS) | container.indicator_demand.specs(Timeframe.D1)  # as refresh.py
    out: dict[str, Any] = {"limit_mb": limit, "error": None, "build_s": None}
    out["peak_reset"], out["rss_start_mb"] = report.reset_peak_rss(), report.rss_mb()
    t0 = time.perf_counter()
    try:
        bars = container.snapshots.absorb(Timeframe.D1, ingest_id, snapshot.history_needed(specs))
    except Exception as error:
        out["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    out["absorb_s"] = time.perf_counter() - t0
    if out["error"] is None:
        t0 = time.perf_counter()
        snapshot.build(bars, specs)
        out["build_s"] = time.perf_counter() - t0
    out["peak_mb"] = report.peak_rss_mb()
    return out


if __name__ == "__main__":
    scenario, where = sys.argv[1], Path(sys.argv[2])
    report.emit(globals()[f"scenario_{scenario}"](where))
