"""Market Data benchmarks: ingest rate into the local lake, bars-query latency, peak memory.

Each scenario runs in its own subprocess (this module, run as `python -m
tests.bench.test_market_data_bench <scenario> <folder>`), so that its peak RSS is its own: the
child resets its RSS high-water mark (/proc/self/clear_refs) after its setup (imports, input
arrays, container) and reports its VmHWM after the measured runs. The test functions only start
the scenarios, print the figures and assert gross failures (a scenario crashed, or returned the
wrong number of rows), never timings.

Data (deterministic, seeded): 1m bars with prices on a random walk rounded to cents, integer
volumes, valid by construction.
- ingest: 200 symbols x 5,000 consecutive 1m bars = 1,000,000 bars (2025-01-06 .. 2025-01-09);
- query: one symbol, two years of 1m bars around the clock (24/7, 2 * 365 * 1440 = 1,051,200
  bars from 2024-01-01), resampled to 1h (17,520 rows) and 1d (730 rows). Ingested once through
  IngestBarFile and compacted (CompactLake), the lake's steady state; for contrast also queried
  right after the ingest (before compaction) and after a second ingest of the same bars.
"""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bench import report
from tests.bench.report import Target

INGEST_SYMBOLS, INGEST_PER_SYMBOL = 200, 5_000
WARMUP_SYMBOLS = ("S000", "S001")  # the warm-up file's: the ingest file's first 10,000 bars
INGEST_ROWS = INGEST_SYMBOLS * INGEST_PER_SYMBOL
INGEST_START = "2025-01-06T00:00"
INGEST_RUNS = 3
QUERY_SYMBOL = "BENCH"
QUERY_ROWS = 2 * 365 * 1440
QUERY_START = "2024-01-01T00:00"
QUERY_END = datetime(2025, 12, 31, tzinfo=UTC)  # the last bar is 2025-12-30 23:59
EXPECTED_ROWS = {"1h": 2 * 365 * 24, "1d": 2 * 365}
QUERY_WARMUP, QUERY_RUNS = 3, 40
CONTRAST_QUERY_RUNS = 10  # the uncompacted cases are slow and only shown for contrast
MEMORY_QUERY_RUNS = 10  # the memory-only children (one mode each, so each peak is its own)
LAMBDA_DUCKDB_MB = 512  # TRADING_DUCKDB_MEMORY_LIMIT_MB that infra/ gives a 1024 MB lake function
QUERY_LIMIT = 50_000
INGEST_TARGET = Target(">", 1_000_000)
QUERY_TARGET = Target("<", 100)
LAKE_FUNCTION_MB = 1024  # memory_mb of ingest_bars / upload_bars / get_bars in trading_system/catalog.py
MEMORY_TARGET = Target("<", LAKE_FUNCTION_MB, source="the function's memory_mb in trading_system/catalog.py")

INGEST = "ingest: 1,000,000 bars (200 symbols x 5,000 1m bars) into the local lake"
COLD_NOTE = (
    "one run, no warm-up: includes what a process does once (the subscribers' first imports; DuckDB "
    "importing pandas for its first parameterised query, since pandas is installed here as a test "
    "dependency, which the Lambda layer does not ship)"
)
QUERY = "bars query: 1 symbol, 2 years of 1m bars (1,051,200, 24/7) resampled"
MEMORY = "peak memory (RSS of each scenario's subprocess during its measured runs)"


# ---------------------------------------------------------------------------------------------
# The tests (parent process)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("market-data-bench")
    _run("generate", path).result()
    return path


def test_ingest(folder: Path) -> None:
    cols = _run("ingest_columns", folder).result()
    files = _run("ingest_file", folder).result()
    capped = _run("ingest_file_capped", folder).result()
    single = _run("ingest_single", folder).result()
    single_cold = _run("ingest_single_cold", folder).result()
    compacted = _run("compact_single", folder).result()
    duplicate = _run("ingest_duplicate", folder).result()
    duplicate_cold = _run("ingest_duplicate_cold", folder).result()
    assert cols["rows"] == [INGEST_ROWS] * INGEST_RUNS
    assert files["rows"] == [INGEST_ROWS] * INGEST_RUNS
    assert capped["rows"] == [INGEST_ROWS]
    assert duplicate["rows"] == single_cold["rows"] == duplicate_cold["rows"] == [QUERY_ROWS]
    assert single["rows"] == [QUERY_ROWS] * INGEST_RUNS, single["rows"]
    assert compacted["rows"] == QUERY_ROWS, compacted

    copy_rate = INGEST_ROWS / statistics.median(cols["copy_s"])
    cols_s = [v + w for v, w in zip(cols["validate_s"], cols["write_s"], strict=True)]
    report.section(INGEST)
    report.figure(
        INGEST,
        "(a) BarColumns -> find_problems -> ParquetLake.write",
        INGEST_ROWS / statistics.median(cols_s),
        "bars/s",
        INGEST_TARGET,
        copy_rate,
        note=f"median of {INGEST_RUNS} runs; {_range_ms(cols_s)}; files written per run: {cols['files']}",
    )
    report.figure(INGEST, "(a)   of which find_problems", _median_ms(cols["validate_s"]), "ms")
    report.figure(INGEST, "(a)   of which ParquetLake.write", _median_ms(cols["write_s"]), "ms")
    report.figure(
        INGEST,
        "(b) Parquet file -> bus IngestBarFile (incl. events)",
        INGEST_ROWS / statistics.median(files["total_s"]),
        "bars/s",
        INGEST_TARGET,
        copy_rate,
        note=f"median of {INGEST_RUNS} runs; {_range_ms(files['total_s'])}; "
        f"200 symbols registered first via RegisterSymbol ({files['register_ms']:.0f} ms in all)",
    )
    for part, label in (
        ("read_s", "ParquetLake.read (parse + cell checks)"),
        ("validate_s", "find_problems"),
        ("write_s", "ParquetLake.write"),
        ("rest_s", "the rest (bus, event publishing, SQLite)"),
    ):
        report.figure(INGEST, f"(b)   of which {label}", _median_ms(files[part]), "ms")
    for name, seconds in sorted(files["subscribers"].items()):
        report.figure(
            INGEST,
            f"(b)   of which {name} (on BarsIngested)",
            _median_ms(seconds),
            "ms",
            note="run synchronously by the local in-process bus; a separate Lambda in AWS",
        )
    handler_s = [t - sub for t, sub in zip(files["total_s"], files["subscribers_s"], strict=True)]
    report.figure(
        INGEST,
        "(b) the same, without the in-process subscribers",
        INGEST_ROWS / statistics.median(handler_s),
        "bars/s",
        INGEST_TARGET,
        copy_rate,
        note="the IngestBarFile handler alone, as a Lambda runs it (subscribers run elsewhere there)",
    )
    report.figure(
        INGEST,
        f"(b) the same, DuckDB memory_limit {LAMBDA_DUCKDB_MB} MB (as in Lambda)",
        INGEST_ROWS / capped["total_s"][0],
        "bars/s",
        INGEST_TARGET,
        copy_rate,
        note="one run; infra/ sets TRADING_DUCKDB_MEMORY_LIMIT_MB to half the function's 1024 MB; "
        f"{_subscribers_note(capped)}",
    )
    report.figure(
        INGEST,
        "baseline: DuckDB COPY of the same rows to 1 Parquet file",
        copy_rate,
        "bars/s",
        note="no validation, no partitioning, no ORDER BY; zstd like the lake; "
        f"median of {INGEST_RUNS} runs, {_range_ms(cols['copy_s'])}",
    )
    report.figure(
        INGEST,
        "(b) 1 symbol x 2 years of 1m bars -> IngestBarFile",
        QUERY_ROWS / statistics.median(single["total_s"]),
        "bars/s",
        INGEST_TARGET,
        copy_rate,
        note=f"the query data set, 1,051,200 bars, median of {INGEST_RUNS} runs each into an empty lake "
        f"({_range_ms(single['total_s'])}), after one ingestion of the warm-up file into another lake in "
        f"the same process; {single['files'][0]} files (parse {_median_ms(single['read_s']):.0f} ms, "
        f"write {_median_ms(single['write_s']):.0f} ms); {_subscribers_note(single)}",
    )
    _cold_figure("(b) 1 symbol x 2 years, as a new process's first ingestion", single_cold)
    report.figure(
        INGEST,
        "CompactLake(1m) of that ingest -> per-symbol partitions",
        compacted["seconds"] * 1000,
        "ms",
        note=f"{compacted['report']}",
    )
    report.figure(
        INGEST,
        "(b) the same file again, over the compacted lake",
        QUERY_ROWS / duplicate["total_s"][0],
        "bars/s",
        INGEST_TARGET,
        copy_rate,
        note="into a copy of the compacted query lake, after one ingestion of the warm-up file into another "
        "lake in the same process; every period then holds 2 files until compaction, the older one "
        f"shadowed (write {duplicate['write_s'][0] * 1000:.0f} ms, which proves it); "
        f"{_subscribers_note(duplicate)}",
    )
    _cold_figure("(b) the same file again, as a new process's first ingestion", duplicate_cold)

    report.section(MEMORY)
    for name, result, base in (
        ("ingest (a) columns path, 1M bars", cols, cols["copy_peak_mb"]),
        ("ingest (b) file path, 1M bars", files, cols["copy_peak_mb"]),
        (f"ingest (b) file path, 1M bars, memory_limit {LAMBDA_DUCKDB_MB} MB", capped, cols["copy_peak_mb"]),
        ("ingest (b) file path, 1 symbol x 2y", single, cols["copy_peak_mb"]),
        ("CompactLake of 1 symbol x 2y (1,051,200 bars)", compacted, cols["copy_peak_mb"]),
    ):
        report.figure(
            MEMORY,
            name,
            result["peak_mb"],
            "MB",
            MEMORY_TARGET,
            base,
            note=f"RSS {result['rss_start_mb']:.0f} MB when the measured runs began; "
            f"RSS after each run: {', '.join(f'{v:.0f}' for v in result['rss_after_mb'])} MB; "
            f"{'' if result['peak_reset'] else '(could not reset the high-water mark: peak since start) '}"
            "baseline: the DuckDB COPY baseline's peak",
        )


def test_query(folder: Path) -> None:
    if not (folder / "query" / "lake").exists():
        pytest.skip("the query data set is built by test_ingest")
    compare = _run("query_compare", folder).result()
    contrast = _run("query_contrast", folder).result()
    memory = {mode: _run(f"query_memory_{mode}", folder).result() for mode in ("duckdb", "bus", "http")}
    for result in (compare, contrast, *memory.values()):
        for mode in set(result) - {"peak_reset", "rss_start_mb", "peak_mb"}:
            for tf, expected in EXPECTED_ROWS.items():
                assert result[mode][tf]["rows"] == expected, (mode, tf, result[mode][tf]["rows"])

    report.section(QUERY)
    interleaved = f"{QUERY_RUNS} rounds after {QUERY_WARMUP} warm-ups, in turn with the baseline"
    for tf in EXPECTED_ROWS:
        base = compare["duckdb"][tf]["times_s"]
        base_median, base_p99 = _median_ms(base), _p99_ms(base)
        for mode, label in (("bus", "bus.ask(GetBars)"), ("http", "HTTP GET /v1/bars (TestClient)")):
            times = compare[mode][tf]["times_s"]
            report.figure(
                QUERY,
                f"{tf} {label}: median",
                _median_ms(times),
                "ms",
                QUERY_TARGET,
                base_median,
                note=f"{interleaved}; {EXPECTED_ROWS[tf]} rows; the lake answers the 23 whole months in "
                "the range from the compaction's rollups and resamples the last, partial one",
            )
            report.figure(QUERY, f"{tf} {label}: p99", _p99_ms(times), "ms", QUERY_TARGET, base_p99)
        report.figure(
            QUERY,
            f"{tf} baseline: bare DuckDB read_parquet + time_bucket: median",
            base_median,
            "ms",
            note=f"over the compacted 1m files (not the rollups); {interleaved}; p99 is the nearest rank, "
            f"i.e. the slowest of {QUERY_RUNS}",
        )
        report.figure(QUERY, f"{tf} baseline: bare DuckDB: p99", base_p99, "ms")
        contrast_base = _median_ms(contrast["duckdb"][tf]["times_s"])
        for mode, label, why in (
            (
                "fresh",
                "before compaction (1 ingest file per period)",
                "the lake right after the ingest: periods settled, files filtered by symbol",
            ),
            (
                "dup",
                "re-ingested, before compaction (2 files per period)",
                "the compacted lake plus the same bars ingested again: every period reads the newest "
                "file whole and the compacted one anti-joined on ts (each row superseded)",
            ),
        ):
            times = contrast[mode][tf]["times_s"]
            report.figure(
                QUERY,
                f"{tf} bus.ask, {label}: median",
                _median_ms(times),
                "ms",
                QUERY_TARGET,
                contrast_base,
                note=f"{CONTRAST_QUERY_RUNS} rounds in turn with the bare DuckDB baseline (median "
                f"{contrast_base:.0f} ms in those rounds); slowest {max(times) * 1000:.0f} ms; {why}",
            )

    report.section(MEMORY)
    for mode, label in (("bus", "query via bus.ask"), ("http", "query via HTTP (TestClient)")):
        report.figure(
            MEMORY,
            f"{label}, 1h and 1d x {MEMORY_QUERY_RUNS + QUERY_WARMUP} runs",
            memory[mode]["peak_mb"],
            "MB",
            MEMORY_TARGET,
            memory["duckdb"]["peak_mb"],
            note=f"RSS {memory[mode]['rss_start_mb']:.0f} MB when the runs began; baseline: the bare "
            f"DuckDB query's peak (RSS {memory['duckdb']['rss_start_mb']:.0f} MB at start)",
        )


def _run(scenario: str, folder: Path) -> report.Child:
    env = report.child_env(TRADING_SETTINGS_FILE=str(folder / "absent.toml"))
    return report.run_scenario("tests.bench.test_market_data_bench", scenario, folder, env)


def _cold_figure(name: str, result: dict[str, Any]) -> None:
    """An info row: a query-set ingestion as its process's first, no warm-up."""
    rate = QUERY_ROWS / result["total_s"][0]
    report.figure(INGEST, name, rate, "bars/s", note=f"{COLD_NOTE}; {_subscribers_note(result)}")


def _subscribers_note(result: dict[str, Any]) -> str:
    spent = ", ".join(f"{name} {_median_ms(s):.0f} ms" for name, s in sorted(result["subscribers"].items()))
    return f"includes the in-process subscribers ({spent or 'none'})"


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000


def _range_ms(seconds: list[float]) -> str:
    return f"runs {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms"


# ---------------------------------------------------------------------------------------------
# The scenarios (each in its own subprocess)


def _bars(n_symbols: int, per_symbol: int, start: str, seed: int) -> dict[str, Any]:
    """Valid 1m bars as columns: symbol-major, consecutive minutes, prices in cents."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = n_symbols * per_symbol
    base = rng.uniform(20, 400, size=(n_symbols, 1))
    walk = np.cumsum(rng.normal(0, 0.0008, size=(n_symbols, per_symbol)), axis=1)
    close = np.round(base * np.exp(walk), 2).reshape(n)
    open_ = np.empty(n)
    open_[1:] = close[:-1]
    open_[::per_symbol] = np.round(base[:, 0], 2)
    spread = np.round(np.abs(rng.normal(0, 0.0004, n)) * close, 2)
    high = np.maximum(open_, close) + spread
    low = np.maximum(np.minimum(open_, close) - spread[::-1], 0.01)
    start_us = int(np.datetime64(start, "us").astype(np.int64))
    return {
        "code": np.repeat(np.arange(n_symbols, dtype=np.int64), per_symbol),
        "ts_us": start_us + np.tile(np.arange(per_symbol, dtype=np.int64), n_symbols) * 60_000_000,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": rng.integers(100, 50_000, n).astype(np.float64),
    }


def _ingest_symbols() -> tuple[str, ...]:
    return tuple(f"S{i:03d}" for i in range(INGEST_SYMBOLS))


def _ingest_bars() -> dict[str, Any]:
    return _bars(INGEST_SYMBOLS, INGEST_PER_SYMBOL, INGEST_START, seed=1)


def _write_parquet(bars: dict[str, Any], symbols: tuple[str, ...], path: Path) -> None:
    """A vendor-style file: symbol, ts (TIMESTAMP), open, high, low, close, volume."""
    import duckdb
    import numpy as np

    conn = duckdb.connect()
    conn.register("bars", bars)
    conn.register("symbols", {"code": np.arange(len(symbols)), "symbol": np.array(symbols, dtype=object)})
    conn.execute(
        f"""COPY (SELECT s.symbol, make_timestamp(b.ts_us) AS ts, b.open, b.high, b.low, b.close, b.volume
                  FROM bars b JOIN symbols s USING (code) ORDER BY b.code, b.ts_us)
            TO '{path}' (FORMAT parquet)"""
    )
    conn.close()


def _settings(data_dir: Path, **overrides: Any) -> Any:
    from trading_system.config import load_settings

    return load_settings(data_dir=data_dir, **overrides)


def _columns(bars: dict[str, Any], symbols: tuple[str, ...]) -> Any:
    import numpy as np

    from trading_system.market_data.bar_batch import BarColumns

    n = len(bars["code"])
    return BarColumns(
        row=np.arange(1, n + 1, dtype=np.int64),
        symbols=symbols,
        symbol_code=bars["code"],
        ts_us=bars["ts_us"],
        ts_valid=np.ones(n, dtype=np.bool_),
        open=bars["open"],
        high=bars["high"],
        low=bars["low"],
        close=bars["close"],
        volume=bars["volume"],
    )


def scenario_generate(folder: Path) -> dict[str, Any]:
    bars = _ingest_bars()
    _write_parquet(bars, _ingest_symbols(), folder / "ingest.parquet")
    small = {k: v[:10_000] for k, v in bars.items()}  # WARMUP_SYMBOLS: a warm-up file
    _write_parquet(small, _ingest_symbols(), folder / "warmup.parquet")
    _write_parquet(_bars(1, QUERY_ROWS, QUERY_START, seed=2), (QUERY_SYMBOL,), folder / "query.parquet")
    return {"ok": True}


def scenario_ingest_columns(folder: Path) -> dict[str, Any]:
    import numpy as np

    from trading_system.adapters import duck
    from trading_system.adapters.lake import ParquetLake
    from trading_system.kernel.clock import sortable_id
    from trading_system.market_data import bar_batch
    from trading_system.market_data.domain import BarLimits, Timeframe

    symbols = _ingest_symbols()
    bars = _ingest_bars()
    columns = _columns(bars, symbols)
    known = frozenset(symbols)
    settings = _settings(folder / "columns")
    lake = ParquetLake.from_settings(settings)
    warmup = _columns({k: v[:10_000] for k, v in bars.items()}, symbols)
    limits, now = BarLimits(), datetime.now(UTC)  # the defaults every ingestion checks
    bar_batch.find_problems(warmup, Timeframe.M1, known, limits, now)
    lake.write(warmup, Timeframe.M1, sortable_id())

    out: dict[str, Any] = {"validate_s": [], "write_s": [], "rows": [], "files": [], "rss_after_mb": []}
    out["peak_reset"] = report.reset_peak_rss()
    out["rss_start_mb"] = report.rss_mb()
    for _ in range(INGEST_RUNS):
        t0 = time.perf_counter()
        _, problems = bar_batch.find_problems(columns, Timeframe.M1, known, limits, now)
        t1 = time.perf_counter()
        written = lake.write(columns, Timeframe.M1, sortable_id())
        t2 = time.perf_counter()
        assert problems == 0, problems
        out["validate_s"].append(t1 - t0)
        out["write_s"].append(t2 - t1)
        out["rows"].append(written.rows)
        out["files"].append(written.files)
        out["rss_after_mb"].append(report.rss_mb())
    out["peak_mb"] = report.peak_rss_mb()

    # Baseline: the same rows (symbol, ts, OHLCV) into one file, on a connection set up alike.
    conn = duck.connect(settings)
    conn.register("batch", bars)
    conn.register("symbols", {"code": np.arange(len(symbols)), "symbol": np.array(symbols, dtype=object)})
    report.reset_peak_rss()
    out["copy_s"] = []
    for i in range(INGEST_RUNS):
        t0 = time.perf_counter()
        rows = conn.execute(
            f"""COPY (SELECT s.symbol, make_timestamp(b.ts_us) AS ts, b.open, b.high, b.low, b.close,
                             b.volume FROM batch b JOIN symbols s USING (code))
                TO '{folder / f"copy-{i}.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
        ).fetchone()
        out["copy_s"].append(time.perf_counter() - t0)
        assert rows is not None and rows[0] == INGEST_ROWS, rows
    out["copy_peak_mb"] = report.peak_rss_mb()
    return out


class _Stopwatch:
    """Wraps callables to add up the time spent in them (timers only; behaviour unchanged)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t0

        return timed

    def take(self) -> dict[str, float]:
        spent, self.spent = self.spent, {}
        return spent

    def wrap_subscribers(self, publisher: Any) -> None:
        """Time each subscriber the in-process bus runs, outermost deliveries only (a subscriber's
        own events are delivered inside it and counted with it)."""
        deliver = publisher.deliver
        depth = [0]

        def timed(subscriber: str, envelope: Any) -> Any:
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return deliver(subscriber, envelope)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    key = f"subscriber {subscriber}"
                    self.spent[key] = self.spent.get(key, 0.0) + time.perf_counter() - t0

        publisher.deliver = timed


def _ingest_files(
    data_dir: Path,
    path: Path,
    symbols: tuple[str, ...],
    runs: int,
    warmup: Path | None,
    warm_process: Path | None = None,
    **settings: Any,
) -> Any:
    """IngestBarFile through the bus of a local container, timed in parts. `warmup`: a file
    ingested first into the same lake; `warm_process`: one ingested first into a lake of its
    own, so that the process has run an ingestion (its imports, DuckDB's first queries) without
    the measured lake changing."""
    from trading_system.bootstrap import bootstrap
    from trading_system.market_data import bar_batch
    from trading_system.market_data.commands import FileFormat, IngestBarFile, RegisterSymbol
    from trading_system.market_data.domain import Timeframe

    if warm_process is not None:
        scratch = data_dir.with_name(f"{data_dir.name}-warm-up")
        shutil.rmtree(scratch, ignore_errors=True)
        warm_bus = bootstrap(_settings(scratch, **settings)).bus
        for symbol in WARMUP_SYMBOLS:
            warm_bus.execute(RegisterSymbol(symbol=symbol))
        warm_bus.execute(
            IngestBarFile(timeframe=Timeframe.M1, path=str(warm_process), format=FileFormat.PARQUET)
        )
        shutil.rmtree(scratch, ignore_errors=True)
    container = bootstrap(_settings(data_dir, **settings))
    t0 = time.perf_counter()
    for symbol in symbols:
        container.bus.execute(RegisterSymbol(symbol=symbol))
    register_ms = (time.perf_counter() - t0) * 1000
    watch = _Stopwatch()
    lake = container.lake
    lake.read = watch.wrap("read_s", lake.read)  # type: ignore[method-assign]
    lake.write = watch.wrap("write_s", lake.write)  # type: ignore[method-assign]
    bar_batch.find_problems = watch.wrap("validate_s", bar_batch.find_problems)  # type: ignore[assignment]
    if hasattr(container.publisher, "deliver"):  # the local in-process bus
        watch.wrap_subscribers(container.publisher)
    if warmup is not None:
        container.bus.execute(
            IngestBarFile(timeframe=Timeframe.M1, path=str(warmup), format=FileFormat.PARQUET)
        )
        watch.take()

    out: dict[str, Any] = {"register_ms": register_ms, "rows": [], "files": [], "rss_after_mb": []}
    for part in ("total_s", "read_s", "validate_s", "write_s", "rest_s", "subscribers_s"):
        out[part] = []
    out["subscribers"] = {}
    out["peak_reset"] = report.reset_peak_rss()
    out["rss_start_mb"] = report.rss_mb()
    for _ in range(runs):
        command = IngestBarFile(timeframe=Timeframe.M1, path=str(path), format=FileFormat.PARQUET)
        t0 = time.perf_counter()
        ingested = container.bus.execute(command)
        total = time.perf_counter() - t0
        parts = watch.take()
        out["total_s"].append(total)
        for part in ("read_s", "validate_s", "write_s"):
            out[part].append(parts.pop(part))
        for name, seconds in parts.items():
            out["subscribers"].setdefault(name, []).append(seconds)
        out["subscribers_s"].append(sum(parts.values()))
        out["rest_s"].append(
            total - sum(out[p][-1] for p in ("read_s", "validate_s", "write_s", "subscribers_s"))
        )
        out["rows"].append(ingested.rows)
        out["files"].append(ingested.files)
        out["rss_after_mb"].append(report.rss_mb())
    out["peak_mb"] = report.peak_rss_mb()
    return out


def scenario_ingest_file(folder: Path) -> dict[str, Any]:
    return _ingest_files(
        folder / "file", folder / "ingest.parquet", _ingest_symbols(), INGEST_RUNS, folder / "warmup.parquet"
    )


def scenario_ingest_file_capped(folder: Path) -> dict[str, Any]:
    return _ingest_files(
        folder / "file-capped",
        folder / "ingest.parquet",
        _ingest_symbols(),
        1,
        folder / "warmup.parquet",
        duckdb_memory_limit_mb=LAMBDA_DUCKDB_MB,
    )


def scenario_ingest_single(folder: Path) -> dict[str, Any]:
    """The query data set into the query lake (kept for the query benchmarks), then into
    INGEST_RUNS - 1 more empty lakes in the same warmed-up process, each thrown away after: every
    run is the same ingestion into an empty lake, so their median is the figure. Memory: the
    first run's (the others only repeat it in a process whose peak is already set)."""
    warm = folder / "warmup.parquet"
    out = _ingest_files(folder / "query", folder / "query.parquet", (QUERY_SYMBOL,), 1, None, warm)
    for k in range(1, INGEST_RUNS):
        target = folder / f"query-again-{k}"
        shutil.rmtree(target, ignore_errors=True)
        try:
            again = _ingest_files(target, folder / "query.parquet", (QUERY_SYMBOL,), 1, None)
        finally:
            shutil.rmtree(target, ignore_errors=True)
        for key, value in again.items():
            if isinstance(value, list):
                out[key] += value
        for name, seconds in again["subscribers"].items():
            out["subscribers"].setdefault(name, []).extend(seconds)
    return out


def scenario_ingest_single_cold(folder: Path) -> dict[str, Any]:
    """The same as the first ingestion of a new process, into a lake thrown away after."""
    target = folder / "query-cold"
    shutil.rmtree(target, ignore_errors=True)
    try:
        return _ingest_files(target, folder / "query.parquet", (QUERY_SYMBOL,), 1, None)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def scenario_compact_single(folder: Path) -> dict[str, Any]:
    """Keep a copy of the lake as ingested, then compact the query lake (its steady state)."""
    from trading_system.bootstrap import bootstrap
    from trading_system.market_data.commands import CompactLake
    from trading_system.market_data.domain import Timeframe

    shutil.rmtree(folder / "query-fresh", ignore_errors=True)
    shutil.copytree(folder / "query", folder / "query-fresh")
    container = bootstrap(_settings(folder / "query"))
    _ = container.lake
    out: dict[str, Any] = {"peak_reset": report.reset_peak_rss(), "rss_start_mb": report.rss_mb()}
    t0 = time.perf_counter()
    compaction = container.bus.execute(CompactLake(timeframe=Timeframe.M1))
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = report.peak_rss_mb()
    out["rss_after_mb"] = [report.rss_mb()]
    out["rows"] = compaction.rows_moved + compaction.rows_merged
    out["report"] = compaction.model_dump_json()
    return out


def scenario_ingest_duplicate(folder: Path) -> dict[str, Any]:
    target = folder / "query-dup"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(folder / "query", target)
    warm = folder / "warmup.parquet"
    return _ingest_files(target, folder / "query.parquet", (QUERY_SYMBOL,), 1, None, warm)


def scenario_ingest_duplicate_cold(folder: Path) -> dict[str, Any]:
    """The same as the first ingestion of a new process, into a copy thrown away after."""
    target = folder / "query-dup-cold"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(folder / "query", target)
    try:
        return _ingest_files(target, folder / "query.parquet", (QUERY_SYMBOL,), 1, None)
    finally:
        shutil.rmtree(target, ignore_errors=True)


Runner = Callable[[str], Any]  # timeframe -> a result; `rows(result)` counts it afterwards


def _bus_runner(data_dir: Path) -> Runner:
    from trading_system.bootstrap import bootstrap
    from trading_system.market_data.domain import Timeframe
    from trading_system.market_data.queries import GetBars

    container = bootstrap(_settings(data_dir))
    start = datetime.fromisoformat(QUERY_START).replace(tzinfo=UTC)

    def run(tf: str) -> Any:
        query = GetBars(
            symbol=QUERY_SYMBOL, timeframe=Timeframe(tf), start=start, end=QUERY_END, limit=QUERY_LIMIT
        )
        return container.bus.ask(query).bars

    return run


def _http_runner(data_dir: Path, stack: ExitStack) -> Runner:
    """GET /v1/bars through the whole local app (auth middleware, routing, JSON), in-process."""
    from fastapi.testclient import TestClient

    from trading_system.bootstrap import bootstrap
    from trading_system.entrypoints.local.runner import build_local_app
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role

    container = bootstrap(_settings(data_dir))
    key = container.bus.execute(CreateApiKey(role=Role.VIEWER, label="bench")).api_key
    client = stack.enter_context(TestClient(build_local_app(container, background=False)))
    end = QUERY_END.strftime("%Y-%m-%dT%H:%M:%SZ")

    def run(tf: str) -> Any:
        params = {"timeframe": tf, "start": f"{QUERY_START}:00Z", "end": end, "limit": QUERY_LIMIT}
        response = client.get(f"/v1/bars/{QUERY_SYMBOL}", params=params, headers={"x-api-key": key})
        assert response.status_code == 200, response.text
        return response

    return run


def _duckdb_runner(data_dir: Path) -> Runner:
    """The baseline: the aggregate alone, over the same (compacted) files, on a connection set up
    like the lake's."""
    from trading_system.adapters import duck

    settings = _settings(data_dir)
    conn = duck.connect(settings)
    files = f"{settings.lake_root}/bars/timeframe=1m/symbol={QUERY_SYMBOL}/*/*.parquet"
    seconds = {"1h": 3600, "1d": 86400}

    def run(tf: str) -> Any:
        return conn.execute(
            f"""SELECT time_bucket(INTERVAL '{seconds[tf]} seconds', ts) AS bucket,
                       arg_min(open, ts), max(high), min(low), arg_max(close, ts), sum(volume)
                FROM read_parquet('{files}') GROUP BY bucket ORDER BY bucket"""
        ).fetchnumpy()

    return run


def _rows(result: Any) -> int:
    """Rows of a result, counted after the timed runs (parsing JSON is the client's cost)."""
    if isinstance(result, dict):
        return len(result["bucket"])
    if hasattr(result, "json"):
        return len(result.json()["bars"])
    return len(result)


def _time_queries(runners: dict[str, Runner], runs: int) -> dict[str, Any]:
    """Warm-ups, then `runs` rounds; each round runs every runner once per timeframe, in turn,
    so that the handler and its baseline see the same machine (other load comes and goes)."""
    out: dict[str, Any] = {name: {} for name in runners}
    out["peak_reset"] = report.reset_peak_rss()
    out["rss_start_mb"] = report.rss_mb()
    for tf in EXPECTED_ROWS:
        last: dict[str, Any] = {}
        for name, run in runners.items():
            for _ in range(QUERY_WARMUP):
                last[name] = run(tf)
            out[name][tf] = {"times_s": []}
        for _ in range(runs):
            for name, run in runners.items():
                t0 = time.perf_counter()
                last[name] = run(tf)
                out[name][tf]["times_s"].append(time.perf_counter() - t0)
        for name in runners:
            out[name][tf]["rows"] = _rows(last[name])
    out["peak_mb"] = report.peak_rss_mb()
    return out


def scenario_query_compare(folder: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        runners = {
            "duckdb": _duckdb_runner(folder / "query"),
            "bus": _bus_runner(folder / "query"),
            "http": _http_runner(folder / "query", stack),
        }
        return _time_queries(runners, QUERY_RUNS)


def _memory_only(runner: Runner) -> dict[str, Any]:
    return _time_queries({"only": runner}, MEMORY_QUERY_RUNS)


def scenario_query_memory_duckdb(folder: Path) -> dict[str, Any]:
    return _memory_only(_duckdb_runner(folder / "query"))


def scenario_query_memory_bus(folder: Path) -> dict[str, Any]:
    return _memory_only(_bus_runner(folder / "query"))


def scenario_query_memory_http(folder: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        return _memory_only(_http_runner(folder / "query", stack))


def scenario_query_contrast(folder: Path) -> dict[str, Any]:
    """The same query right after the ingest (before compaction) and after a second ingest of
    the same bars, against the bare aggregate over the compacted files, in turn."""
    return _time_queries(
        {
            "duckdb": _duckdb_runner(folder / "query"),
            "fresh": _bus_runner(folder / "query-fresh"),
            "dup": _bus_runner(folder / "query-dup"),
        },
        CONTRAST_QUERY_RUNS,
    )


if __name__ == "__main__":
    scenario, where = sys.argv[1], Path(sys.argv[2])
    report.emit(globals()[f"scenario_{scenario}"](where))
