"""Backfill throughput: bars a second from a provider into the lake, with the provider answering
instantly (issue 11: "limited by the provider, not by us").

The provider is Alpaca's bars API as a loopback server whose pages are encoded before the clock
starts (10,000 bars a page, Alpaca's largest), so what is measured is ours: HTTP on loopback,
JSON parsing, the column checks, the lake writes, checkpoints and events. Each scenario runs in
its own subprocess (`python -m tests.bench.test_backfill_bench <scenario> <folder>`).

- backfill: `BackfillBars` of 1 symbol x 1,000,000 1m bars through the bus of a local container,
  with the local in-process subscribers (coverage, snapshot refresh, ...) timed apart: in AWS
  they run in other functions, so "the handler" is the backfill without them;
- baseline, in the same child: the same pages fetched and parsed by the adapter with nothing
  ingested, which is the provider side's own ceiling.

The fake serves from a process of its own (forked by the child), as a real provider would.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.bench import report
from tests.bench.report import Target
from tests.bench.test_market_data_bench import _Stopwatch

BARS = 1_000_000
PAGE = 10_000
START = datetime(2022, 1, 3, tzinfo=UTC)
RUNS = 3
TARGET = Target(">", 500_000, source="issue 11: backfill throughput with an instant provider")
SECTION = f"backfill: 1 symbol x {BARS:,} 1m bars from an instant Alpaca fake (pages of {PAGE:,})"


def test_backfill_throughput(tmp_path: Path) -> None:
    env = report.child_env(TRADING_SETTINGS_FILE=str(tmp_path / "absent.toml"))
    env = {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    result = report.run_scenario("tests.bench.test_backfill_bench", "backfill", tmp_path, env).result()
    assert result["bars"] == [BARS] * RUNS, result
    fetch_rate = BARS / statistics.median(result["fetch_only_s"])
    total = statistics.median(result["total_s"])
    handler = statistics.median(
        t - s for t, s in zip(result["total_s"], result["subscribers_s"], strict=True)
    )
    report.section(SECTION)
    report.figure(
        SECTION,
        "BackfillBars -> lake, the handler (as a Lambda runs it)",
        BARS / handler,
        "bars/s",
        TARGET,
        fetch_rate,
        note=f"median of {RUNS} runs, each into a fresh data folder; the local in-process subscribers' "
        "time taken out (they run in other functions in AWS)",
    )
    report.figure(
        SECTION,
        "BackfillBars -> lake, with the local in-process subscribers",
        BARS / total,
        "bars/s",
        TARGET,
        fetch_rate,
        note=", ".join(
            f"{name} {statistics.median(s) * 1000:.0f} ms" for name, s in result["subscribers"].items()
        ),
    )
    for part, label in (("fetch_s", "fetch + parse (the adapter)"), ("write_s", "ParquetLake.write")):
        report.figure(SECTION, f"  of which {label}", statistics.median(result[part]) * 1000, "ms")
    report.figure(
        SECTION,
        "baseline: the same pages fetched and parsed, nothing ingested",
        fetch_rate,
        "bars/s",
        note=f"median of {RUNS} runs; pages of {PAGE:,} bars (about {result['page_kb']:.0f} KB of JSON each)",
    )
    report.figure(SECTION, "peak memory of the child", result["peak_mb"], "MB")


# ---------------------------------------------------------------------------------------------
# The child


class _InstantAlpaca(ThreadingHTTPServer):
    """Alpaca's GET /v2/stocks/{symbol}/bars with every page encoded in advance; page `i`'s
    next_page_token is `i + 1`. Query fields other than the token are not looked at."""

    daemon_threads = True

    def __init__(self, pages: list[bytes]):
        super().__init__(("127.0.0.1", 0), _PageHandler)
        self.pages = pages


class _PageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3's pool expects
    # Headers and body go out in two writes: with Nagle's algorithm on, the body would wait for the
    # client's delayed ACK of the headers (40 ms a page on Linux), which no real server makes us wait.
    disable_nagle_algorithm = True
    server: _InstantAlpaca

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/v1/corporate-actions":  # the backfill's last request: no splits, no dividends
            body = b'{"corporate_actions": {}, "next_page_token": null}'
        else:
            body = self.server.pages[int(parse_qs(url.query).get("page_token", ["0"])[0])]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _pages() -> list[bytes]:
    import orjson

    pages: list[bytes] = []
    for first in range(0, BARS, PAGE):
        rows = []
        for i in range(first, min(first + PAGE, BARS)):
            price = 100.0 + (i % 977) / 100
            ts = (START + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append(
                {
                    "t": ts,
                    "o": price,
                    "h": price + 0.05,
                    "l": price - 0.05,
                    "c": price + 0.01,
                    "v": 100 + i % 50,
                }
                | {"n": 12, "vw": price}
            )
        token = str(len(pages) + 1) if first + PAGE < BARS else None
        pages.append(orjson.dumps({"bars": rows, "symbol": "BENCH", "next_page_token": token}))
    return pages


def scenario_backfill(folder: Path) -> dict[str, Any]:
    from trading_system.bootstrap import bootstrap
    from trading_system.config import load_settings
    from trading_system.market_data.commands import BackfillBars
    from trading_system.market_data.domain import Timeframe

    # The server runs in a process of its own, as a provider does: its sending takes nothing from
    # this process's interpreter lock.
    context = multiprocessing.get_context("fork")  # before DuckDB starts any thread here
    ready = context.Queue()
    serving = context.Process(target=_serve, args=(ready,), daemon=True)
    serving.start()
    port, page_kb = ready.get(timeout=300)
    url = f"http://127.0.0.1:{port}"
    end = START + timedelta(minutes=BARS)
    out: dict[str, Any] = {"page_kb": page_kb}
    for key in ("bars", "total_s", "subscribers_s", "fetch_s", "write_s", "fetch_only_s"):
        out[key] = []
    out["subscribers"] = {}
    report.reset_peak_rss()
    for run in range(RUNS):
        settings = load_settings(
            data_dir=folder / f"run-{run}",
            provider_urls={"alpaca": url},
            alpaca_key_id="PKBENCH",
            alpaca_secret_key="bench-secret",
            alpaca_requests_per_minute=0,
        )
        container = bootstrap(settings)
        provider = container.providers.get("alpaca")
        provider.page_limit = PAGE  # type: ignore[attr-defined]
        watch = _Stopwatch()
        t0 = time.perf_counter()
        token = None
        while True:  # the provider side alone: every page fetched and parsed
            page = provider.fetch_bars("BENCH", Timeframe.M1, START, end, token)
            token = page.next_token
            if token is None:
                break
        out["fetch_only_s"].append(time.perf_counter() - t0)
        provider.fetch_bars = watch.wrap("fetch_s", provider.fetch_bars)  # type: ignore[method-assign]
        container.lake.write = watch.wrap("write_s", container.lake.write)  # type: ignore[method-assign]
        watch.wrap_subscribers(container.publisher)
        command = BackfillBars(
            provider="alpaca", symbols=["BENCH"], timeframe=Timeframe.M1, start=START, end=end
        )
        t0 = time.perf_counter()
        done = container.bus.execute(command)
        out["total_s"].append(time.perf_counter() - t0)
        out["bars"].append(done.bars)
        parts = watch.take()
        out["fetch_s"].append(parts.pop("fetch_s"))
        out["write_s"].append(parts.pop("write_s"))
        out["subscribers_s"].append(sum(parts.values()))
        for name, seconds in parts.items():
            out["subscribers"].setdefault(name, []).append(seconds)
    serving.terminate()
    out["peak_mb"] = report.peak_rss_mb()
    return out


def _serve(ready: Any) -> None:
    pages = _pages()
    server = _InstantAlpaca(pages)
    ready.put((server.server_address[1], statistics.mean(len(p) for p in pages) / 1024))
    server.serve_forever()


if __name__ == "__main__":
    scenario, where = sys.argv[1], Path(sys.argv[2])
    report.emit(globals()[f"scenario_{scenario}"](where))
