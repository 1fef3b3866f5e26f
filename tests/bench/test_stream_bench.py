"""Stream benchmark (issue 10): a bar's event pushed to 1,000 WebSocket clients by the local
runtime, beside one client in the same run (DESIGN.md §11: event -> WebSocket client, local,
1,000 clients, p99 < 10 ms).

The data folder is set up in a child (an admin key, one symbol with one 1m bar), then `trading
serve --host 127.0.0.1` runs on it with every background worker, as in test_trading_bench.py.
Two cases, one after the other on the same server, each with its own clients: 1 client (the
baseline), then 1,000 clients. Each connects to `/v1/stream?api_key=KEY` and subscribes to
`bars:BENCH:1m` (every client must get `subscribed`). Clients offer permessage-deflate, as
browsers and the `websockets` client do by default; the server declines it (`trading serve` runs
uvicorn with `ws_per_message_deflate=False`: compressing each frame once per connection was half
the fan-out's time, docs/BENCHMARKS.md).

Then WARMUP rounds and ROUNDS timed ones: this process POSTs one new 1m bar of the symbol to
/v1/bars (httpx, one kept-alive connection) and waits until every client has that bar's frame,
then the next round. Per round: the POST's own response time; for each client the time from just
before the POST was sent until its frame arrived; the first and the last client's time. Figures:
p50 and p99 (nearest rank) over all client deliveries (1,000 x ROUNDS) and over rounds of the
last client's time; the server's and the client processes' CPU time per bar (/proc and
getrusage). And, as DESIGN.md §11 words the target (event -> client; the target is on these
figures), the same from the event itself: from its envelope's `occurred_at` (stamped by the bus as
it publishes the event, after the request, the key check and the IngestBars handler's lake write)
to the frame's arrival. Gross failures only are asserted: every client subscribed, every client
got every bar's frame, in order, and nothing else; a round not delivered to every client within
ROUND_TIMEOUT_S fails.

A third case, the floor, is not the platform: after `trading serve` has stopped, the same
client processes connect to a bare uvloop server in a child (this module, `floor`) that does only
what the hub's fan-out does, writing one encoded frame to every connection in one event-loop
callback, once per line this process sends it. Its event -> client figures are what 1,000 socket
writes and the clients' reads cost on this machine, with no Python per client in the server.

The clients must not be the bottleneck. They run in CLIENT_PROCESSES child processes (this
module, `python -m tests.bench.test_stream_bench clients ...`), on uvloop, as plain asyncio
protocols around the `websockets` package's sans-I/O client (`websockets.client.ClientProtocol`:
the handshake, framing, masking, deflate and pong replies), without the asyncio client's task per
connection and its message queue. A frame is stamped in `data_received`, the first Python code to
see its bytes, and parsed later in the same loop pass, after every socket that was readable has
been stamped: the parsing and the other clients' work do not delay the stamps.

Clock: the stamps are taken in three processes (this one sends the POST, the children receive),
so they must come from one clock. `time.perf_counter()` is documented only as comparable within a
process; `time.time_ns()` can be stepped by NTP; `time.clock_gettime_ns(time.CLOCK_MONOTONIC)` is
Linux's system-wide monotonic clock (since boot, shared by all processes, never stepped), so the
children's arrival stamps and this process's send stamp can be subtracted. `occurred_at` is
the server's wall clock (`datetime.now(UTC)`, CLOCK_REALTIME, also one clock for all processes),
so for the event figures each client process converts its arrival stamps to wall-clock time with
one offset, measured as the run starts from the tightest of many back-to-back readings of both
clocks (a second stamp in `data_received` would differ from the first by any preemption between
the two calls). The offset is measured again at the end: a wall clock stepped in between (NTP)
fails the run, and so does a delivery whose event time is not within its POST's. Loopback only;
the open-file limit is raised to the hard limit for the server and the clients (1,000 sockets); every
wait is bounded (connect and subscribe timeouts, a per-round timeout, a deadline per case).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

import pytest

from tests.bench import report
from tests.bench.report import Target
from tests.e2e.conftest import LocalRunner

CLIENTS = 1000
CLIENT_PROCESSES = 2
WARMUP, ROUNDS = 5, 30
TARGET = Target("<", 10, source="DESIGN.md §11 / issue 10: event -> WebSocket client, 1,000 clients, p99")
CONNECT_TIMEOUT_S = 10.0  # one client's TCP connect + handshake + subscribed reply
CONNECT_PHASE_S = 120.0  # all clients of a case connected and subscribed
CONNECTING_AT_ONCE = 50  # per client process
ROUND_TIMEOUT_S = 10.0  # one bar's frame at every client
CASE_DEADLINE_S = 240.0  # a whole case, connections included
ROUND_PAUSE_S = 0.05  # between rounds: the server's leftovers (checkpoints, logs) settle

SECTION = "event -> WebSocket clients: a 1m bar to N clients of `bars:BENCH:1m`, `trading serve` on 127.0.0.1"
SYMBOL = "BENCH"
CHANNEL = f"bars:{SYMBOL}:1m"
BAR_START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clock_ns() -> int:
    """The one clock of every stamp, in every process (see the module's docstring)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def wall_offset_ns() -> int:
    """time.time_ns() - clock_ns(), from the tightest of 200 back-to-back readings (within a
    microsecond or two, unless every one of them was preempted)."""
    best: tuple[int, int] | None = None
    for _ in range(200):
        before = clock_ns()
        wall = time.time_ns()
        after = clock_ns()
        if best is None or after - before < best[0]:
            best = (after - before, wall - (before + after) // 2)
    assert best is not None
    return best[1]


# ---------------------------------------------------------------------------------------------
# The test (parent process)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_bar_to_a_thousand_clients(scratch: Path) -> None:
    folder = scratch / "serve"
    setup = _run("serve_setup", folder).result()
    key = setup["api_key"]
    # 1,000 sockets and the server's own files need more than the usual 1,024 descriptors: the
    # server and the client processes inherit this limit (the clients raise theirs again).
    soft, hard = _raise_open_files()
    server = LocalRunner(data_dir=folder, admin_key=key)
    try:
        server.start()
        bars = _Bars()
        cases = {
            "one": _case(server, key, bars, clients=1, deflate=True),
            "many": _case(server, key, bars, clients=CLIENTS, deflate=True),
        }
        server.stop()  # idle, not gone: the floor case runs on its own
        cases["floor"] = _floor_case(bars, clients=CLIENTS)
    finally:
        server.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    one, many, floor = cases["one"], cases["many"], cases["floor"]
    report.section(SECTION)

    def figure(name: str, case: dict[str, float], column: str, baseline: dict[str, float] | None,
               target: Target | None = None, note: str = "", unit: str = "ms") -> None:  # fmt: skip
        base = baseline[column] if baseline is not None else None
        report.figure(SECTION, name, case[column], unit, target, base, note=note)

    n = f"{CLIENTS:,} clients"
    figure(f"{n}: event -> each client: p50", many, "event_each_p50", one,
           note=f"from the BarsIngested envelope's occurred_at (the bus publishing it, in the server) "
           f"to the frame's arrival, wall clock; over all {CLIENTS * ROUNDS:,} deliveries; baseline: "
           "1 client in the same run")  # fmt: skip
    figure(f"{n}: event -> each client: p99", many, "event_each_p99", one, TARGET)
    figure(f"{n}: event -> the last client: p50", many, "event_last_p50", one)
    figure(f"{n}: event -> the last client: p99", many, "event_last_p99", one, TARGET)
    figure(f"{n}: event -> the first client: p50", many, "event_first_p50", one)
    figure(f"{n}: bar -> each client: p50", many, "each_p50", one,
           note=f"{ROUNDS} rounds after {WARMUP} warm-ups, one bar each; over all {CLIENTS * ROUNDS:,} "
           "deliveries, from just before POST /v1/bars is sent to the frame's arrival at a client "
           f"(CLOCK_MONOTONIC, shared by the processes); clients in {CLIENT_PROCESSES} processes, "
           "offering permessage-deflate; baseline: 1 client in the same run")  # fmt: skip
    figure(f"{n}: bar -> each client: p99", many, "each_p99", one,
           note="from the POST: the event figures plus the request, the key check and the lake "
           "write before the event exists (the 1-client baseline is that floor)")  # fmt: skip
    figure(f"{n}: bar -> the last client: p50", many, "last_p50", one,
           note="the last client's time in each round; percentiles over rounds (p99: the "
           "slowest)")  # fmt: skip
    figure(f"{n}: bar -> the last client: p99", many, "last_p99", one)
    figure(f"{n}: bar -> the first client: p50", many, "first_p50", one,
           note="the first delivery of each round; the spread to the last is the fan-out's")  # fmt: skip
    figure(f"{n}: POST /v1/bars returns: p50", many, "post_p50", one,
           note="the POST's own response: the bus runs BarsIngested's subscribers, and the response "
           "is written by the event loop that also sends the frames")  # fmt: skip
    figure(f"{n}: POST /v1/bars returns: p99", many, "post_p99", one)
    figure(f"{n}: server CPU per bar", many, "server_cpu_ms", one,
           note="user + system time of the `trading serve` process over the timed rounds, divided "
           "by the rounds (/proc/<pid>/stat, 10 ms ticks)")  # fmt: skip
    figure(f"{n}: client processes' CPU per bar", many, "clients_cpu_ms", one,
           note=f"the {CLIENT_PROCESSES} client processes together")  # fmt: skip
    figure("baseline: 1 client: event -> the client: p50", one, "event_each_p50", None)
    figure("baseline: 1 client: event -> the client: p99", one, "event_each_p99", None)
    figure("baseline: 1 client: bar -> the client: p50", one, "each_p50", None)
    figure("baseline: 1 client: bar -> the client: p99", one, "each_p99", None)
    figure("baseline: 1 client: POST /v1/bars returns: p50", one, "post_p50", None)
    figure("baseline: 1 client: POST /v1/bars returns: p99", one, "post_p99", None)
    figure(f"{n}: connect and subscribe, all", many, "connect_s", one, unit="s",
           note="not a target: how long a case's setup took (baseline: 1 client)")  # fmt: skip
    f = f"floor: {n} of a bare uvloop server"
    figure(f"{f}: event -> each client: p50", floor, "event_each_p50", many,
           note="not the platform: a process that only writes one encoded frame to every "
           "connection in one callback (what the hub's fan-out does, and nothing else), after "
           "`trading serve` stopped, to the same client processes; baseline: the platform's "
           f"{n}")  # fmt: skip
    figure(f"{f}: event -> each client: p99", floor, "event_each_p99", many)
    figure(f"{f}: event -> the last client: p99", floor, "event_last_p99", many)
    figure(f"{f}: event -> the first client: p50", floor, "event_first_p50", many)
    figure(f"{f}: server CPU per bar", floor, "server_cpu_ms", many)


class _Bars:
    """One new 1m bar per POST, across the cases (a bar is never ingested twice)."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> tuple[str, dict[str, Any]]:
        self.n += 1
        ts = (BAR_START + timedelta(minutes=self.n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        bar = {"ts": ts, "open": 100.0, "high": 100.5, "low": 99.5, "close": 100.1, "volume": 1000}
        return ts, {"timeframe": "1m", "symbol": SYMBOL, "bars": [bar]}


def _case(server: LocalRunner, key: str, bars: _Bars, clients: int, deflate: bool) -> dict[str, float]:
    """Connect `clients` clients, run the rounds, and the case's figures (ms)."""
    import httpx

    deadline = time.monotonic() + CASE_DEADLINE_S
    processes = min(CLIENT_PROCESSES, clients)
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    total = WARMUP + ROUNDS
    started = time.monotonic()
    fleet = _Fleet(server.port, key, shares, deflate, total)
    try:
        fleet.wait_all("READY", None, min(CONNECT_PHASE_S, deadline - time.monotonic()))
        connect_s = time.monotonic() - started
        sent_ns: list[int] = []
        post_s: list[float] = []
        expected: list[str] = []
        cpu_start = None
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30.0,
                          trust_env=False) as client:  # fmt: skip
            for r in range(total):
                if r == WARMUP:
                    cpu_start = _cpu_s(_pid(server))
                ts, body = bars.next()
                expected.append(ts)
                t0 = clock_ns()
                response = client.post("/v1/bars", json=body)
                post_s.append((clock_ns() - t0) / 1e9)
                sent_ns.append(t0)
                assert response.status_code == 201, response.text
                fleet.wait_all("GOT", r, min(ROUND_TIMEOUT_S, deadline - time.monotonic()))
                time.sleep(ROUND_PAUSE_S)
        server_cpu_s = _cpu_s(_pid(server)) - (cpu_start or 0.0)
        results = fleet.results(max(5.0, min(60.0, deadline - time.monotonic())))
    finally:
        fleet.stop()
    return _figures(results, clients, expected, sent_ns, post_s) | {
        "server_cpu_ms": server_cpu_s / ROUNDS * 1000,
        "connect_s": connect_s,
    }


def _floor_case(bars: _Bars, clients: int) -> dict[str, float]:
    """The same clients and rounds against the floor server (`floor_main`): each round, this
    process sends the server a line, and it writes the bar's frame to every client."""
    deadline = time.monotonic() + CASE_DEADLINE_S
    shares = [clients // CLIENT_PROCESSES + (i < clients % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)]
    total = WARMUP + ROUNDS
    with tempfile.TemporaryFile() as err:
        server = subprocess.Popen([sys.executable, "-m", "tests.bench.test_stream_bench", "floor"],
                                  env=report.child_env(), cwd=report.REPO, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=err)  # fmt: skip
        assert server.stdin is not None and server.stdout is not None
        try:
            line = server.stdout.readline().decode()
            assert line.startswith("PORT "), f"the floor server said {line!r}"
            fleet = _Fleet(int(line.split()[1]), "none", shares, True, total)
            try:
                fleet.wait_all("READY", None, min(CONNECT_PHASE_S, deadline - time.monotonic()))
                sent_ns: list[int] = []
                expected: list[str] = []
                cpu_start = None
                for r in range(total):
                    if r == WARMUP:
                        cpu_start = _cpu_s(server.pid)
                    ts, _ = bars.next()
                    expected.append(ts)
                    sent_ns.append(clock_ns())
                    server.stdin.write(f"{ts}\n".encode())
                    server.stdin.flush()
                    fleet.wait_all("GOT", r, min(ROUND_TIMEOUT_S, deadline - time.monotonic()))
                    time.sleep(ROUND_PAUSE_S)
                server_cpu_s = _cpu_s(server.pid) - (cpu_start or 0.0)
                results = fleet.results(max(5.0, min(60.0, deadline - time.monotonic())))
            finally:
                fleet.stop()
        finally:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        if server.returncode != 0:
            err.seek(0)
            why = err.read().decode(errors="replace")[-3000:]
            pytest.fail(f"the floor server exited with {server.returncode}:\n{why}")
    return _figures(results, clients, expected, sent_ns, [0.0] * total) | {
        "server_cpu_ms": server_cpu_s / ROUNDS * 1000,
    }


def _figures(
    results: list[dict[str, Any]], clients: int, expected: list[str], sent_ns: list[int], post_s: list[float]
) -> dict[str, float]:
    """A case's figures (ms) from its client processes' results."""
    total = WARMUP + ROUNDS
    for result in results:
        start, end = result["wall_offset_ns"]
        assert abs(end - start) < 100_000, (
            f"the wall clock moved {(end - start) / 1e6} ms against CLOCK_MONOTONIC"
        )
    arrivals = [client_ns for result in results for client_ns in result["arrivals_ns"]]
    since_event = [client_ns for result in results for client_ns in result["since_event_ns"]]
    assert len(arrivals) == clients, f"{len(arrivals)} clients reported, not {clients}"
    sequences: dict[str, int] = {}
    for result in results:
        for sequence, count in result["sequences"].items():
            sequences[sequence] = sequences.get(sequence, 0) + count
    # Every client got every bar's frame, once, in order, and nothing else on the channel.
    assert sequences == {json.dumps(expected): clients}, {k[:200]: v for k, v in sequences.items()}
    assert all(len(a) == total for a in arrivals)

    each, last, first = [], [], []
    event_each, event_last, event_first = [], [], []
    for r in range(WARMUP, total):
        took = [(a[r] - sent_ns[r]) / 1e9 for a in arrivals]
        each += took
        last.append(max(took))
        first.append(min(took))
        since = [e[r] / 1e9 for e in since_event]
        # The event is published after the POST is sent and before its frame arrives: a figure
        # outside that means the clocks do not agree (module docstring).
        outside = [(s, t) for s, t in zip(since, took, strict=True) if not 0 < s < t]
        assert not outside, f"round {r}: event -> client outside (0, POST -> client): {outside[:3]}"
        event_each += since
        event_last.append(max(since))
        event_first.append(min(since))
    timed_post = post_s[WARMUP:]
    return {
        "event_each_p50": _median_ms(event_each),
        "event_each_p99": _p99_ms(event_each),
        "event_last_p50": _median_ms(event_last),
        "event_last_p99": _p99_ms(event_last),
        "event_first_p50": _median_ms(event_first),
        "each_p50": _median_ms(each),
        "each_p99": _p99_ms(each),
        "last_p50": _median_ms(last),
        "last_p99": _p99_ms(last),
        "first_p50": _median_ms(first),
        "post_p50": _median_ms(timed_post),
        "post_p99": _p99_ms(timed_post),
        "clients_cpu_ms": sum(r["timed_cpu_s"] for r in results) / ROUNDS * 1000,
    }


class _Fleet:
    """The client processes of one case, and the lines they print (READY, GOT <round>, the
    result), read by one thread each."""

    def __init__(self, port: int, key: str, shares: list[int], deflate: bool, rounds: int):
        self.lines: queue.Queue[tuple[int, str]] = queue.Queue()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.errors: list[IO[bytes]] = []
        self.outputs: dict[int, str] = {}
        env = report.child_env()
        for i, share in enumerate(shares):
            err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
            args = [sys.executable, "-m", "tests.bench.test_stream_bench", "clients", "127.0.0.1", str(port),
                    key, str(share), "deflate" if deflate else "none", str(rounds)]  # fmt: skip
            process = subprocess.Popen(args, env=env, cwd=report.REPO, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=err)  # fmt: skip
            self.processes.append(process)
            self.errors.append(err)
            threading.Thread(target=self._read, args=(i, process), daemon=True).start()

    def _read(self, i: int, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.lines.put((i, raw.decode(errors="replace").rstrip("\n")))
        self.lines.put((i, "EOF"))

    def wait_all(self, word: str, round_: int | None, timeout_s: float) -> None:
        """Until every process printed `word` (for `round_`), or fail."""
        expected = word if round_ is None else f"{word} {round_}"
        waiting = set(range(len(self.processes)))
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while waiting:
            left = deadline - time.monotonic()
            try:
                i, text = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                pytest.fail(f"client processes {sorted(waiting)} did not say {expected!r} within "
                            f"{timeout_s:.0f} s:\n{self._stderr()}")  # fmt: skip
            if text == "EOF":
                pytest.fail(f"client process {i} exited before {expected!r}:\n{self._stderr()}")
            if text.startswith(report.RESULT_PREFIX):
                self.outputs[i] = text
            elif text.split(" ")[0] == word:
                assert text == expected, f"client process {i} said {text!r}, expected {expected!r}"
                waiting.discard(i)

    def results(self, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.outputs) < len(self.processes):
            try:
                i, text = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                pytest.fail(f"client processes gave no result within {timeout_s:.0f} s:\n{self._stderr()}")
            if text.startswith(report.RESULT_PREFIX):
                self.outputs[i] = text
            elif text == "EOF" and i not in self.outputs:
                pytest.fail(f"client process {i} exited without a result:\n{self._stderr()}")
        return [json.loads(self.outputs[i].removeprefix(report.RESULT_PREFIX)) for i in sorted(self.outputs)]

    def _stderr(self) -> str:
        out = []
        for i, err in enumerate(self.errors):
            err.seek(0)
            out.append(f"-- client process {i}:\n{err.read().decode(errors='replace')[-3000:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for err in self.errors:
            err.close()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# Helpers


def _pid(server: LocalRunner) -> int:
    assert server.process is not None
    return server.process.pid


def _run(scenario: str, folder: Path) -> report.Child:
    return report.run_scenario("tests.bench.test_stream_bench", scenario, folder, report.data_env(folder))


def _raise_open_files() -> tuple[int, int]:
    """The open-file soft limit raised to the hard one (capped where the hard one is unlimited);
    the limits as they were."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (65536 if hard == resource.RLIM_INFINITY else hard, hard))
    return soft, hard


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000


# ---------------------------------------------------------------------------------------------
# The children: the data folder's setup, and the client processes


def scenario_serve_setup(folder: Path) -> dict[str, Any]:
    """The server's data folder: an admin key and the symbol with one 1m bar."""
    from trading_system.bootstrap import bootstrap
    from trading_system.config import load_settings
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role
    from trading_system.market_data.commands import BarRow, IngestBars, RegisterSymbol

    container = bootstrap(load_settings(data_dir=folder))
    key = container.bus.execute(CreateApiKey(role=Role.ADMIN, label="bench")).api_key
    container.bus.execute(RegisterSymbol(symbol=SYMBOL))
    bar = BarRow(ts=BAR_START.isoformat(), open=100, high=100.5, low=99.5, close=100, volume=1000)
    container.bus.execute(IngestBars(timeframe="1m", symbol=SYMBOL, bars=[bar]))
    return {"api_key": key}


class _Clients:
    """One client process's clients: `count` WebSocket connections subscribed to CHANNEL, each
    expecting `rounds` frames. Prints READY once all are subscribed, GOT <r> once all have
    frame r, and the result last."""

    def __init__(self, host: str, port: int, key: str, count: int, deflate: bool, rounds: int):
        self.host, self.port, self.count, self.rounds = host, port, count, rounds
        self.uri = f"ws://{host}:{port}/v1/stream?api_key={key}"
        self.deflate = deflate
        self.got = [0] * rounds
        self.clients: list[_Client] = []
        self.dirty: list[_Client] = []
        self.timed_cpu_start: float | None = None
        self.done: asyncio.Future[None] | None = None

    def mark(self, client: _Client) -> None:
        """A client has bytes to parse: parse them after every readable socket is stamped."""
        if not self.dirty:
            asyncio.get_running_loop().call_soon(self._drain)
        self.dirty.append(client)

    def _drain(self) -> None:
        dirty, self.dirty = self.dirty, []
        for client in dirty:
            client.process()

    def frame(self, k: int) -> None:
        """A client got its k-th frame."""
        if k >= self.rounds:
            return  # an extra frame: the parent's check of the sequences fails
        self.got[k] += 1
        if self.got[k] == self.count:
            if k == WARMUP - 1:
                self.timed_cpu_start = time.process_time()
            print(f"GOT {k}", flush=True)
            if k == self.rounds - 1 and self.done is not None and not self.done.done():
                self.done.set_result(None)

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

        async def connect(i: int) -> _Client:
            async with gate:
                _, client = await asyncio.wait_for(
                    loop.create_connection(lambda: _Client(self, i), self.host, self.port), CONNECT_TIMEOUT_S
                )
                await asyncio.wait_for(asyncio.shield(client.subscribed), CONNECT_TIMEOUT_S)
                return client

        offset_ns = wall_offset_ns()
        async with asyncio.timeout(CONNECT_PHASE_S):
            self.clients = list(await asyncio.gather(*(connect(i) for i in range(self.count))))
        print("READY", flush=True)
        async with asyncio.timeout(CASE_DEADLINE_S):
            await self.done
        timed_cpu = time.process_time() - (self.timed_cpu_start or 0.0)
        sequences: dict[str, int] = {}
        for client in self.clients:
            key = json.dumps(client.starts())
            sequences[key] = sequences.get(key, 0) + 1
        for client in self.clients:
            client.close()
        await asyncio.sleep(0.2)  # the close frames go out
        return {
            "arrivals_ns": [client.arrivals for client in self.clients],
            "since_event_ns": [client.since_event(offset_ns) for client in self.clients],
            "wall_offset_ns": [offset_ns, wall_offset_ns()],
            "sequences": sequences,
            "timed_cpu_s": timed_cpu,
        }


class _Client(asyncio.Protocol):
    """One WebSocket connection: websockets' sans-I/O client protocol over an asyncio transport."""

    def __init__(self, owner: _Clients, index: int):
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
        from websockets.uri import parse_uri

        self.owner, self.index = owner, index
        extensions = enable_client_permessage_deflate(None) if owner.deflate else None
        self.ws = ClientProtocol(parse_uri(owner.uri), extensions=extensions)
        self.transport: asyncio.Transport | None = None
        self.pending: list[tuple[int, bytes]] = []
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.arrivals: list[int] = []  # clock_ns() of each pushed frame
        self.frames: list[bytes] = []
        self.state = "handshake"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.pending.append((clock_ns(), data))  # the stamp first: nothing else happens here
        self.owner.mark(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws.receive_eof()
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"client {self.index}: closed before subscribed"))
        elif len(self.arrivals) < self.owner.rounds and self.owner.done and not self.owner.done.done():
            why = f"client {self.index}: closed by the server ({exc})"
            self.owner.done.set_exception(ConnectionError(why))

    def process(self) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        pending, self.pending = self.pending, []
        for stamp, data in pending:
            self.ws.receive_data(data)
            for event in self.ws.events_received():
                if isinstance(event, Response):
                    if self.ws.handshake_exc is not None:
                        self._fail(f"handshake refused: {self.ws.handshake_exc!r}")
                        return
                    self.ws.send_text(json.dumps({"action": "subscribe", "channels": [CHANNEL]}).encode())
                    self.state = "subscribing"
                elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    if self.state == "subscribing":
                        reply = json.loads(bytes(event.data))
                        if reply.get("type") != "subscribed" or reply.get("channels") != [CHANNEL]:
                            self._fail(f"not subscribed: {reply}")
                            return
                        self.state = "streaming"
                        self.subscribed.set_result(None)
                    else:
                        self.arrivals.append(stamp)
                        self.frames.append(bytes(event.data))
                        self.owner.frame(len(self.arrivals) - 1)
        self._flush()  # pongs, and the subscribe frame

    def since_event(self, wall_offset_ns: int) -> list[int]:
        """For each pushed frame, ns from its event's occurred_at to the frame's arrival."""
        out = []
        for data, arrival in zip(self.frames, self.arrivals, strict=True):
            occurred = datetime.fromisoformat(json.loads(data)["event"]["occurred_at"])
            out.append(arrival + wall_offset_ns - (occurred - EPOCH) // timedelta(microseconds=1) * 1000)
        return out

    def starts(self) -> list[str]:
        """The bar of each pushed frame (its `start`), checked against the channel."""
        out = []
        for data in self.frames:
            message = json.loads(data)
            payload = message["event"]["payload"]
            ok = message["channel"] == CHANNEL and message["event"]["event_type"] == "BarsIngested"
            ok = ok and [s["symbol"] for s in payload["symbols"]] == [SYMBOL]
            start = datetime.fromisoformat(payload["start"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(start if ok else f"unexpected: {str(message)[:200]}")
        return out

    def _fail(self, why: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"client {self.index}: {why}"))
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.ws.send_close()
            self._flush()
            self.transport.close()


class _FloorConnection(asyncio.Protocol):
    """One connection of the floor server: websockets' sans-I/O server for the handshake (no
    extension, as `trading serve` agrees none) and the subscribe reply."""

    def __init__(self, subscribed: list[asyncio.Transport]):
        from websockets.server import ServerProtocol

        self.ws = ServerProtocol()
        self.subscribed = subscribed
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Request

        assert self.transport is not None
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self.ws.send_response(self.ws.accept(event))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.ws.send_text(json.dumps({"type": "subscribed", "channels": [CHANNEL]}).encode())
                self.subscribed.append(self.transport)
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:  # the closing handshake is done: the server closes the TCP connection
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport in self.subscribed:
            self.subscribed.remove(self.transport)


def floor_frame(ts: str) -> bytes:
    """A bar's frame as the hub sends it (the same fields and about the same size), stamped now."""
    from trading_system.entrypoints.local.hub import text_frame

    start = datetime.fromisoformat(ts)
    payload = {
        "ingest_id": "01KBENCHFLOOR0000000000000", "timeframe": "1m", "rows": 1, "start": ts,
        "end": ts, "source": "api", "files": 1,
        "symbols": [{"symbol": SYMBOL, "first": start.isoformat(), "last": start.isoformat(), "rows": 1}],
    }  # fmt: skip
    event = {
        "event_id": "00000000-0000-4000-8000-000000000000", "event_type": "BarsIngested",
        "version": 1, "occurred_at": datetime.now(UTC).isoformat(),
        "correlation_id": "00000000-0000-4000-8000-000000000000", "causation_id": None,
        "producer": "trading-system", "payload": payload,
    }  # fmt: skip
    frame: bytes = text_frame(json.dumps({"channel": CHANNEL, "event": event}).encode())
    return frame


async def _floor() -> None:
    loop = asyncio.get_running_loop()
    subscribed: list[asyncio.Transport] = []
    server = await loop.create_server(lambda: _FloorConnection(subscribed), "127.0.0.1", 0, backlog=2048)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stdin = sys.stdin.buffer
    finished: asyncio.Future[None] = loop.create_future()

    def round_() -> None:  # the parent writes one line per round, then waits for every frame
        line = stdin.readline()
        if not line:
            loop.remove_reader(stdin.fileno())
            finished.set_result(None)
            return
        frame = floor_frame(line.decode().strip())
        for transport in subscribed:
            transport.write(frame)

    loop.add_reader(stdin.fileno(), round_)
    await finished
    server.close()


def floor_main() -> None:
    """A server that does only what the hub's fan-out does: one encoded frame written to every
    connection in one event-loop callback, on uvloop, as uvicorn runs `trading serve`."""
    _raise_open_files()
    import uvloop

    uvloop.run(_floor())


def clients_main(host: str, port: int, key: str, count: int, compression: str, rounds: int) -> None:
    _raise_open_files()
    clients = _Clients(host, port, key, count, compression == "deflate", rounds)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(clients.run())
    else:
        result = uvloop.run(clients.run())
    report.emit(result)


if __name__ == "__main__":
    if sys.argv[1] == "floor":
        floor_main()
    elif sys.argv[1] == "clients":
        host, port, key, count, compression, rounds = sys.argv[2:8]
        clients_main(host, int(port), key, int(count), compression, int(rounds))
    else:
        scenario, where = sys.argv[1], Path(sys.argv[2])
        report.emit(globals()[f"scenario_{scenario}"](where))
