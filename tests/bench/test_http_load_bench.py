"""The local runtime's HTTP reads under load (issue 13): `trading serve` on loopback, wrk keeping
1,000 connections busy for 30 s, each sending its next read as soon as the last is answered. The
baseline is the same read from one connection in the same run: what a read costs unloaded. A
ceiling beside it: a bare FastAPI app on the same uvicorn settings (one async route answering a
small JSON, no key, no store) under the same 1,000 connections, which is what this machine's
Python server stack can do at all, before any platform code.

wrk comes from Debian (`make bench` installs it when missing). Bounded: two reads, 30 s each at
1,000 connections and 10 s each at one, on 127.0.0.1 only.
"""

from __future__ import annotations

import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.bench import report
from tests.bench.report import Target
from tests.e2e.conftest import LocalRunner, seed

SECTION = "HTTP reads, `trading serve` on loopback, wrk: 1,000 connections for 30 s vs one connection"
CONNECTIONS = 1000
LOADED_S = 30
UNLOADED_S = 10
P99_TARGET = Target("<", 50, source="the issue: p99 < 50 ms with 1,000 concurrent connections")
READS = {
    "a symbol": "/v1/symbols/{symbol}",
    "100 daily bars": "/v1/bars/{symbol}?timeframe=1d&limit=100",
}
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, key: str, connections: int, seconds: int) -> dict[str, float]:
    """Latency percentiles (ms), requests a second and errors from one wrk run."""
    threads = min(2, connections)
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-H", f"x-api-key: {key}", url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )  # fmt: skip
    out = done.stdout
    figures = {
        f"p{p}": float(m[1]) * _UNIT_MS[m[2]]
        for p in (50, 90, 99)
        if (m := re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    }
    figures["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures["non_2xx"] = float(errors[1]) if errors else 0.0
    figures["socket_errors"] = float(sum(int(x) for x in sockets.groups())) if sockets else 0.0
    assert {"p50", "p90", "p99"} <= figures.keys(), out
    return figures


BARE_APP = """
import fastapi, uvicorn
app = fastapi.FastAPI()

@app.get("/v1/ping")
async def ping() -> dict[str, str]:  # async: no thread-pool hop, FastAPI's cheapest endpoint
    return {"symbol": "AAPL", "status": "active"}

uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", http="httptools")
"""
CEILING_S = 10


def bare_app_ceiling() -> dict[str, float]:
    """wrk at 1,000 connections against a bare app in a child process, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", BARE_APP.replace("PORT", str(port))])
    try:
        url = f"http://127.0.0.1:{port}/v1/ping"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        return wrk(url, "none", CONNECTIONS, CEILING_S)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_reads_under_a_thousand_connections(tmp_path: Path) -> None:
    assert shutil.which("wrk"), "wrk is missing: `make bench` installs it (Debian's package)"
    # 1,000 sockets and the server's own files need more than the usual 1,024 descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    runner = LocalRunner(data_dir=tmp_path, admin_key=seed(tmp_path))
    runner.start()
    try:
        with httpx.Client(base_url=runner.base_url, headers={"x-api-key": runner.admin_key}) as client:
            symbol = client.get("/v1/symbols", params={"limit": 1}).json()["items"][0]["symbol"]
            for path in READS.values():
                assert client.get(path.format(symbol=symbol)).status_code == 200
        report.section(SECTION)
        for name, path in READS.items():
            url = runner.base_url + path.format(symbol=symbol)
            alone = wrk(url, runner.admin_key, 1, UNLOADED_S)
            loaded = wrk(url, runner.admin_key, CONNECTIONS, LOADED_S)
            for p in ("p50", "p99"):
                report.figure(
                    SECTION, f"{name}: {p}", loaded[p], "ms", P99_TARGET if p == "p99" else None, alone[p]
                )
            report.figure(
                SECTION,
                f"{name}: throughput",
                loaded["rps"],
                "req/s",
                None,
                alone["rps"],
                note=f"{loaded['non_2xx']:.0f} non-2xx, {loaded['socket_errors']:.0f} socket errors",
            )
        runner.stop()
        ceiling = bare_app_ceiling()
        for p in ("p50", "p99"):
            report.figure(
                SECTION,
                f"ceiling, a bare FastAPI app on the same uvicorn: {p}",
                ceiling[p],
                "ms",
                note=f"1,000 connections for {CEILING_S} s" if p == "p50" else "",
            )
        report.figure(
            SECTION,
            "ceiling, a bare FastAPI app on the same uvicorn: throughput",
            ceiling["rps"],
            "req/s",
            note=f"{ceiling['non_2xx']:.0f} non-2xx, {ceiling['socket_errors']:.0f} socket errors; "
            f"p99 < 50 ms with 1,000 closed-loop connections needs over {CONNECTIONS / 0.05:,.0f} req/s",
        )
    finally:
        runner.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
