"""Session-aware resampling (issue 11, part 2) side by side with UTC resampling, on the same data.

Data (deterministic, seeded): every 1m bar of every XNYS session of 2024 and 2025 (about 195,000
bars, DST changes and early closes included), written twice to a local lake: under a symbol with
no exchange (its 1h/1d bars follow the UTC grid: time_bucket) and under a symbol of NYSE (they
follow the sessions: an as-of join on the session opens). Both compacted. The same GetBars
queries through the bus, in turn, after warm-ups. Run as `python -m tests.bench.test_session_bench
<scenario> <folder>` by the test, in its own subprocess, like the other Market Data benchmarks.
The issue's budget: session-aware no slower than 1.5x the UTC resampling.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.bench import report
from tests.bench.report import Target

SECTION = "bars query: 2 years of XNYS session 1m bars, session-aware vs UTC resampling"
UTC_SYMBOL, SESSION_SYMBOL = "UTCGRID", "SESSIONS"
FIRST, LAST = date(2024, 1, 1), date(2025, 12, 31)
WARMUP, RUNS = 3, 30
RATIO_TARGET = Target("<", 1.5, source="issue 11: session-aware resampling <= 1.5x UTC resampling")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session-bench")


def test_session_resampling_against_utc_resampling(folder: Path) -> None:
    env = report.child_env(TRADING_SETTINGS_FILE=str(folder / "absent.toml"))
    args = [sys.executable, "-m", "tests.bench.test_session_bench", "compare", str(folder)]
    result = report.run_child(args, env, report.REPO).result()
    report.section(SECTION)
    for tf in ("1h", "1d"):
        utc, session = result["utc"][tf], result["session"][tf]
        # Gross-failure checks only: the session grid has the 09:30 hours and one bar a session.
        assert session["rows"] == (
            result["sessions"] * 7 - result["early_closes"] * 3 if tf == "1h" else result["sessions"]
        )
        base = statistics.median(utc["times_s"]) * 1000
        value = statistics.median(session["times_s"]) * 1000
        report.figure(
            SECTION,
            f"{tf} session-aware (bus.ask GetBars): median",
            value,
            "ms",
            None,
            base,
            note=f"{RUNS} rounds after {WARMUP} warm-ups, in turn with UTC; {session['rows']} rows "
            f"(UTC grid: {utc['rows']}) from {result['bars']} 1m bars",
        )
        report.figure(SECTION, f"{tf} UTC resampling (bus.ask GetBars): median", base, "ms")
        report.figure(SECTION, f"{tf} session-aware / UTC (medians)", value / base, "x", RATIO_TARGET)


def scenario_compare(folder: Path) -> dict[str, Any]:
    import numpy as np

    from trading_system.bootstrap import bootstrap
    from trading_system.config import load_settings
    from trading_system.market_data.bar_batch import BarColumns
    from trading_system.market_data.calendars import calendar_for
    from trading_system.market_data.commands import CompactLake, RegisterSymbol
    from trading_system.market_data.domain import Timeframe
    from trading_system.market_data.queries import GetBars

    container = bootstrap(load_settings(data_dir=folder / "data"))
    sessions = calendar_for("XNYS").sessions_in(FIRST, LAST)
    minute = 60 * 1_000_000
    ts = np.concatenate(
        [
            np.arange(int(s.open.timestamp()) * 1_000_000, int(s.close.timestamp()) * 1_000_000, minute)
            for s in sessions
        ]
    )
    rng = np.random.default_rng(7)
    close = np.round(100 + rng.normal(0, 0.05, len(ts)).cumsum(), 2)
    open_ = np.round(np.concatenate([[100.0], close[:-1]]), 2)
    n = len(ts)
    for symbol, exchange in ((UTC_SYMBOL, ""), (SESSION_SYMBOL, "NYSE")):
        container.bus.execute(RegisterSymbol(symbol=symbol, exchange=exchange))
        columns = BarColumns(
            row=np.arange(1, n + 1, dtype=np.int64),
            symbols=(symbol,),
            symbol_code=np.zeros(n, dtype=np.int64),
            ts_us=ts,
            ts_valid=np.ones(n, dtype=np.bool_),
            open=open_,
            high=np.maximum(open_, close) + 0.01,
            low=np.minimum(open_, close) - 0.01,
            close=close,
            volume=rng.integers(100, 10_000, n).astype(np.float64),
        )
        container.lake.write(columns, Timeframe.M1, f"bench-{symbol}")
        listing = container.symbols.require(symbol)
        first = datetime.fromtimestamp(int(ts[0]) / 1e6, UTC)
        last = datetime.fromtimestamp(int(ts[-1]) / 1e6, UTC)
        container.symbols.save_many([listing.covering(Timeframe.M1, first, last, n)])
    container.bus.execute(CompactLake(timeframe=Timeframe.M1))

    start = datetime.combine(FIRST, datetime.min.time(), UTC)
    end = datetime.combine(LAST, datetime.min.time(), UTC) + timedelta(days=1)

    def run(symbol: str, tf: str) -> int:
        query = GetBars(symbol=symbol, timeframe=Timeframe(tf), start=start, end=end, limit=50_000)
        return len(container.bus.ask(query).bars)

    out: dict[str, Any] = {"utc": {}, "session": {}, "bars": n, "sessions": len(sessions)}
    out["early_closes"] = sum(1 for s in sessions if (s.close - s.open) < timedelta(hours=6, minutes=30))
    for tf in ("1h", "1d"):
        for name, symbol in (("utc", UTC_SYMBOL), ("session", SESSION_SYMBOL)):
            for _ in range(WARMUP):
                rows = run(symbol, tf)
            out[name][tf] = {"times_s": [], "rows": rows}
        for _ in range(RUNS):
            for name, symbol in (("utc", UTC_SYMBOL), ("session", SESSION_SYMBOL)):
                t0 = time.perf_counter()
                run(symbol, tf)
                out[name][tf]["times_s"].append(time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    scenario, where = sys.argv[1], Path(sys.argv[2])
    report.emit(globals()[f"scenario_{scenario}"](where))
