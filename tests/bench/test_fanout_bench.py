"""Fan-out benchmark (issue 10): the AWS WebSocket API's fan-out Lambda (`stream_fan_out`) posting
one BarsIngested to N connections, on moto's server on loopback. Not a timing claim for AWS:
moto's management API and DynamoDB answer from a werkzeug server in this process, on the same 2
cores, with latencies unlike API Gateway's.

Setup, per case: a DynamoDB table on moto (`create_table`, as the tests make it), N connections
opened and subscribed to `bars:BENCH:1m` through the real routes' code (`websocket.connect` and
`websocket.message` with a subscribe frame, over `DocumentConnections` on the DynamoDB store).
Then a child process runs as the Lambda would: a fresh interpreter imports the Lambda entry
`functions.stream.stream_fan_out` with the AWS runtime's settings in its environment pointing at
moto (TRADING_RUNTIME=aws, TRADING_AWS_ENDPOINT_URL and TRADING_WEBSOCKET_ENDPOINT = the moto
server), which builds the DynamoDB and management API clients in the init phase, and calls its
`handler(event, context)` with an EventBridge event made from events/bus/BarsIngested.json (timeframe
1m, symbol BENCH, a new event id each time): WARMUP events, then ROUNDS timed ones. Per event: the
handler's wall time and the child's CPU time. Beside them, diagnostics in the same child: the
subscriber query alone (`frames_for`: the event's four channels, one query each) and the cold
import of the entry module (one sample per case). The moto server's CPU during the child's run is
this process's CPU time (the server's threads; the test itself only waits).

Cases: N = 1 (the baseline) and N = 1,000. Counting: moto's management API backend keeps, per
connection id, the concatenation of the data posted to it (moto 5.2.5, `Connection.data`); it
runs in this process, so the test reads it after each case: every registered connection must have
been posted exactly once per event (WARMUP + ROUNDS frames, each its event's), and no other
connection id at all. The handler's own `sent` count must be N for every event. Gross failures
only are asserted, never a timing. Loopback only; the child is killed after CHILD_TIMEOUT_S.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.aws_fixtures import FAKE_AWS_ENV, REGION, aws_env, boto_client, moto_url, unique_name
from tests.bench import report

SECTION = "stream fan-out Lambda on moto: one BarsIngested to N connections of `bars:BENCH:1m`"
COUNTS = (1, 1000)
WARMUP = 3
ROUNDS = 10
SYMBOL = "BENCH"
CHANNEL = f"bars:{SYMBOL}:1m"
REGISTERING_THREADS = 8
CHILD_TIMEOUT_S = 300.0
COLD_IMPORT_TARGET = report.Target("<", 300, source="issue 10: the fan-out Lambda's cold import")
SAMPLE = report.REPO / "events" / "bus" / "BarsIngested.json"
MOTO_ACCOUNT = "123456789012"  # moto's default account, which the fake credentials map to
__all__ = ["aws_env", "moto_url"]  # the shared fixtures: moto's server, fake credentials


def test_fan_out_to_a_thousand_connections(moto_url: str, tmp_path: Path) -> None:
    cases = {n: _case(n, moto_url, tmp_path / f"n{n}") for n in COUNTS}
    _record(cases)


# ---------------------------------------------------------------------------------------------
# One case: register N connections, run the Lambda in a child, count what moto received


def _case(n: int, moto_url: str, folder: Path) -> dict[str, Any]:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    from trading_system.adapters.aws.dynamodb_store import create_table

    folder.mkdir(parents=True)
    table = unique_name("fanout")
    create_table(boto_client("dynamodb", moto_url), table)
    t0 = time.perf_counter()
    ids = _register(n, moto_url, table)
    register_s = time.perf_counter() - t0

    posted = apigatewaymanagementapi_backends[MOTO_ACCOUNT][REGION].connections
    posted.clear()
    cpu0 = _own_cpu_s()
    args = [sys.executable, "-m", "tests.bench.test_fanout_bench", "lambda", str(n)]
    child = report.run_child(args, _lambda_env(moto_url, table, folder), report.REPO, CHILD_TIMEOUT_S)
    server_cpu_s = _own_cpu_s() - cpu0
    result = child.result()

    events = WARMUP + ROUNDS
    assert [r["sent"] for r in result["counts"]] == [n] * events, result["counts"]
    assert all(r["gone"] == 0 and r["failed"] == 0 for r in result["counts"]), result["counts"]
    received = {unquote(key): connection.data for key, connection in posted.items()}
    assert set(received) == set(ids), (
        f"{len(set(received) - set(ids))} unknown connection ids posted to, "
        f"{len(set(ids) - set(received))} registered ones not"
    )
    for connection_id, data in received.items():
        frames = _frames(data)
        assert [f["event"]["event_id"] for f in frames] == result["event_ids"], connection_id
        assert {f["channel"] for f in frames} == {CHANNEL}, connection_id
    return {
        **result,
        "register_s": register_s,
        "server_cpu_s": server_cpu_s,
        "posts_received": sum(len(_frames(d)) for d in received.values()),
    }


def _register(n: int, moto_url: str, table: str) -> list[str]:
    """N connections opened ($connect) and subscribed (the subscribe route), as API Gateway would
    invoke the routes' code; a few threads, as many clients connect at once."""
    from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore
    from trading_system.adapters.connections import DocumentConnections
    from trading_system.config import Settings
    from trading_system.entrypoints import websocket
    from trading_system.kernel.clock import SystemClock
    from trading_system.kernel.principal import Principal, Role

    store = DynamoDbDocumentStore.from_settings(
        Settings(runtime="aws", aws_endpoint_url=moto_url, table_name=table)
    )
    connections = DocumentConnections(store, SystemClock())

    def authenticate(token: str) -> Principal:
        return Principal(key_id="bench-key", role=Role.VIEWER, user="bench")

    def open_one(i: int) -> str:
        connection_id = f"bench{i:05d}{uuid.uuid4().hex[:6]}="  # API Gateway's ids end in "="
        context = {"connectionId": connection_id, "routeKey": "$connect", "eventType": "CONNECT"}
        opened = websocket.connect(
            {"requestContext": context, "queryStringParameters": {"api_key": "bench"}},
            authenticate,
            connections,
            SystemClock(),
        )
        assert opened == {"statusCode": 200}, opened
        frame = json.dumps({"action": "subscribe", "channels": [CHANNEL]})
        context = {"connectionId": connection_id, "routeKey": "subscribe", "eventType": "MESSAGE"}
        answer = websocket.message(
            {"requestContext": context, "body": frame}, connections, lambda principal: lambda k, i: False
        )
        assert json.loads(answer["body"]) == {"type": "subscribed", "channels": [CHANNEL]}, answer
        return connection_id

    with ThreadPoolExecutor(max_workers=min(REGISTERING_THREADS, n)) as pool:
        ids = list(pool.map(open_one, range(n)))
    assert sorted(connections.subscribers(CHANNEL)) == sorted(ids)
    return ids


def _lambda_env(moto_url: str, table: str, folder: Path) -> dict[str, str]:
    """The fan-out's environment as the stack sets it, pointed at moto; nothing leaks in from
    this process (report.child_env drops every TRADING_/AWS_/POWERTOOLS_ variable first)."""
    env = report.child_env(
        **FAKE_AWS_ENV,
        TRADING_RUNTIME="aws",
        TRADING_TABLE_NAME=table,
        TRADING_AWS_ENDPOINT_URL=moto_url,
        TRADING_WEBSOCKET_ENDPOINT=moto_url,
        TRADING_SETTINGS_FILE=str(folder / "absent.toml"),
        TRADING_DATA_DIR=str(folder),
        POWERTOOLS_SERVICE_NAME="stream_fan_out",
        POWERTOOLS_METRICS_NAMESPACE="TradingBench",
    )
    return {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


def _frames(data: bytes) -> list[dict[str, Any]]:
    """moto keeps one connection's posts concatenated: split them back into JSON frames."""
    decoder = json.JSONDecoder()
    text, at, frames = data.decode(), 0, []
    while at < len(text):
        frame, at = decoder.raw_decode(text, at)
        frames.append(frame)
    return frames


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------
# Figures


def _record(cases: dict[int, dict[str, Any]]) -> None:
    base, many = cases[COUNTS[0]], cases[COUNTS[-1]]
    n = COUNTS[-1]
    events = WARMUP + ROUNDS

    def ms(values: list[float], how: str = "median") -> float:
        return (statistics.median(values) if how == "median" else max(values)) * 1000

    report.section(SECTION)
    note = (
        f"{ROUNDS} timed events after {WARMUP} warm-ups; moto on loopback, not AWS: "
        "the machine was shared with other work"
    )
    report.figure(
        SECTION,
        f"{n} connections: handler wall time per event, median",
        ms(many["wall_s"]),
        "ms",
        baseline=ms(base["wall_s"]),
        note=note,
    )
    report.figure(
        SECTION,
        f"{n} connections: handler wall time per event, slowest",
        ms(many["wall_s"], "max"),
        "ms",
        baseline=ms(base["wall_s"], "max"),
    )
    rate = n / statistics.median(many["wall_s"])
    base_rate = COUNTS[0] / statistics.median(base["wall_s"])
    report.figure(
        SECTION, f"{n} connections: posts per second (median event)", rate, "posts/s", None, base_rate
    )
    report.figure(
        SECTION,
        f"{n} connections: Lambda process CPU per event, median",
        ms(many["cpu_s"]),
        "ms",
        baseline=ms(base["cpu_s"]),
        note="the child's process_time around the handler: botocore signing and parsing, threads",
    )
    report.figure(
        SECTION,
        f"{n} connections: moto server CPU per post",
        many["server_cpu_s"] / (n * events) * 1000,
        "ms",
        note="this process's CPU (moto's threads) during the child's whole run, over its posts "
        "(the DynamoDB queries and the child's start included)",
    )
    report.figure(
        SECTION,
        f"{n} connections: subscriber query (frames_for, 4 channels), median",
        ms(many["frames_s"]),
        "ms",
        baseline=ms(base["frames_s"]),
    )
    report.figure(
        SECTION,
        f"{n} connections: posts moto received",
        many["posts_received"],
        "posts",
        baseline=base["posts_received"],
        note=f"= connections x {events} events, each connection exactly once per event (asserted)",
    )
    report.figure(SECTION, f"{n} connections: open + subscribe all (setup)", many["register_s"], "s")
    for case in (base, many):
        report.figure(
            SECTION,
            f"cold import of functions.stream.stream_fan_out, AWS settings on moto (N={case['n']})",
            case["import_ms"],
            "ms",
            COLD_IMPORT_TARGET,
            note="one sample in the Lambda child: settings, container, DynamoDB and management API "
            "clients built in the init phase",
        )
    report.figure(SECTION, "baseline, 1 connection: handler wall time, median", ms(base["wall_s"]), "ms")


# ---------------------------------------------------------------------------------------------
# The Lambda child


class _Context:
    function_name = "stream_fan_out"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stream_fan_out"
    aws_request_id = "bench"


def _event(template: dict[str, Any], n: int) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["id"] = str(uuid.uuid4())
    detail = event["detail"]
    detail["event_id"] = str(uuid.uuid4())
    detail["correlation_id"] = f"bench-{n}"
    payload = detail["payload"]
    payload["timeframe"] = "1m"
    payload["rows"] = 1
    payload["symbols"] = [{**payload["symbols"][0], "symbol": SYMBOL, "rows": 1}]
    return event


def lambda_child(n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    import functions.stream.stream_fan_out as entry

    import_ms = (time.perf_counter() - t0) * 1000
    from trading_system.adapters.aws.event_format import envelope_from_eventbridge
    from trading_system.catalog import by_name
    from trading_system.entrypoints import lambda_runtime
    from trading_system.entrypoints.websocket import frames_for

    template = json.loads(SAMPLE.read_text())
    out: dict[str, Any] = {"n": n, "import_ms": import_ms, "wall_s": [], "cpu_s": [], "counts": []}
    out["event_ids"] = []
    for i in range(WARMUP + ROUNDS):
        event = _event(template, i)
        c0, w0 = time.process_time(), time.perf_counter()
        answer = entry.handler(event, _Context())
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        out["counts"].append({k: answer[k] for k in ("sent", "gone", "failed")})
        out["event_ids"].append(answer["event_id"])
        if i >= WARMUP:
            out["wall_s"].append(wall)
            out["cpu_s"].append(cpu)
    # the subscriber query alone, over a container built as the handler's was (its own client,
    # warmed by one untimed query)
    connections = lambda_runtime.container_for(by_name()["stream_fan_out"]).connections
    envelope = envelope_from_eventbridge(_event(template, 0))
    list(frames_for(envelope, connections))
    out["frames_s"] = []
    for _ in range(5):
        w0 = time.perf_counter()
        frames = list(frames_for(envelope, connections))
        out["frames_s"].append(time.perf_counter() - w0)
        assert len(frames) == n, len(frames)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "lambda":
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        report.emit(lambda_child(int(sys.argv[2])))
