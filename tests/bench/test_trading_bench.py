"""Trading benchmarks: the place-order handler's overhead on the local store, and place -> filled
latency through the real local runtime. (The order functions' cold imports are measured with
every other catalog function in test_cold_imports.py.)

The handler scenarios run in their own subprocess (this module, run as `python -m
tests.bench.test_trading_bench <scenario> <folder>`), like the other benchmarks; the latency
test starts `trading serve` on loopback (as tests/e2e does) and is its client. The tests print
the figures and assert gross failures only (an order not accepted, not filled, a missing
WebSocket message), never timings.

- place order: `container.bus.execute(PlaceOrder(...))` on a `bootstrap(load_settings(data_dir=
  <tmp>))` container (SQLite store, in-process bus), gtc limit buys of 1 share at 50 for a
  symbol without a price, so every order rests (no fills) and passes the risk checks (the
  account has 10,000,000 in cash). One account, PLACE_WARMUP warm-ups then PLACE_ORDERS timed
  placements, every order left open (so the book only grows: the first and last 1,000 show
  whether placing depends on how many orders are open), and the size of the account's view
  document at the end (one DynamoDB item in AWS). Baseline, in turn with each placement: the
  store's smallest write transaction (`put_many` of one small document) on the same SQLite file.
- place -> filled: the data folder is set up in a child (an admin key, two symbols, an account,
  one 1m bar each), then `trading serve --host 127.0.0.1` runs on it with every background
  worker, and this process talks to it with httpx and a WebSocket subscribed to
  `events:OrderFilled`. Each round: a resting limit buy is placed (POST /v1/orders), a bar of
  another symbol without open orders is ingested (the baseline: POST /v1/bars runs the same
  subscribers, minus the fill), then a bar that crosses the limit is ingested and timed until
  OrderFilled arrives on the WebSocket (a reader thread stamps each message on arrival), until
  POST /v1/bars returns, and until GET /v1/orders/{id} shows it filled; last, a market order is
  placed while the last price is known, which the HTTP response returns filled. LATENCY_WARMUP
  rounds, then LATENCY_ROUNDS; p99 is the nearest rank (with 50 rounds, the slowest).
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.bench import report
from tests.bench.report import Target
from tests.e2e.conftest import LocalRunner

PLACE_ORDERS = 10_000
PLACE_WARMUP = 200
PLACE_TARGET = Target("<", 5, source="the brief: warm place-order overhead")
LATENCY_TARGET = Target("<", 100, source="the brief: place -> filled")
LATENCY_WARMUP, LATENCY_ROUNDS = 3, 50
WS_TIMEOUT_S = 10.0
DYNAMODB_ITEM_LIMIT = 400 * 1024  # bytes; the account view is one item in the AWS runtime

PLACE = "place order: bus.execute(PlaceOrder), local SQLite store, resting limit orders (no fills)"
LATENCY = "place -> filled through the local runtime (`trading serve` on 127.0.0.1, httpx + WebSocket)"
SPLIT = "place -> filled: where a crossing bar's time goes (in-process container, same data)"

SYMBOL, OTHER, ACCOUNT = "BENCH", "BENCHB", "bench"
BAR_START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
LIMIT = Decimal(90)  # resting buys; normal bars trade around 100, a crossing bar's low is 89


# ---------------------------------------------------------------------------------------------
# The tests (parent process)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_place_order(scratch: Path) -> None:
    run = _run("place_many", scratch).result()
    placed = run["place_s"]
    assert len(placed) == PLACE_ORDERS
    assert run["open_orders"] == PLACE_WARMUP + PLACE_ORDERS  # every order rests: the book only grows

    report.section(PLACE)
    floor = run["floor_s"]
    floor_p50, floor_p99 = _median_ms(floor), _p99_ms(floor)
    first, last = placed[:1000], placed[-1000:]
    report.figure(
        PLACE,
        f"{PLACE_ORDERS:,} orders on 1 account, all left open: p50",
        _median_ms(placed),
        "ms",
        PLACE_TARGET,
        floor_p50,
        note=f"after {PLACE_WARMUP} warm-ups; first 1,000 p50 {_median_ms(first):.2f} ms, last 1,000 "
        f"{_median_ms(last):.2f} ms (the account holds running totals, not one entry per open order); "
        f"peak RSS {run['peak_mb']:.0f} MB",
    )
    report.figure(
        PLACE,
        f"{PLACE_ORDERS:,} orders on 1 account, all left open: p99",
        _p99_ms(placed),
        "ms",
        PLACE_TARGET,
        floor_p99,
        note=f"first 1,000 p99 {_p99_ms(first):.2f} ms, last 1,000 {_p99_ms(last):.2f} ms; the WAL is "
        "checkpointed by the store's background thread, never inside a commit",
    )
    report.figure(
        PLACE,
        "baseline: SqliteDocumentStore.put_many of 1 document: p50",
        floor_p50,
        "ms",
        note="the store's smallest write transaction (BEGIN IMMEDIATE ... COMMIT, WAL, "
        "synchronous=NORMAL), in turn with each placement",
    )
    report.figure(PLACE, "baseline: put_many of 1 document: p99", floor_p99, "ms")
    size = run["account_doc_bytes"]
    report.figure(
        PLACE,
        f"account view document with {PLACE_WARMUP + PLACE_ORDERS:,} open orders",
        size / 1024,
        "KiB",
        Target("<", DYNAMODB_ITEM_LIMIT / 1024, source="DynamoDB's item size limit"),
        note="one item in the AWS runtime; its size does not depend on how many orders are open",
    )


def test_place_to_filled(scratch: Path) -> None:
    folder = scratch / "serve"
    setup = _run("serve_setup", folder).result()
    key = setup["api_key"]
    server = LocalRunner(data_dir=folder, admin_key=key)
    server.start()
    try:
        rounds = _latency_rounds(server, key)
    finally:
        server.stop()
    split = _run("fill_split", scratch / "split").result()
    assert split["fills"] == LATENCY_WARMUP + LATENCY_ROUNDS, split["fills"]

    report.section(LATENCY)
    measured = rounds[LATENCY_WARMUP:]
    assert len(measured) == LATENCY_ROUNDS

    def column(name: str) -> list[float]:
        return [r[name] for r in measured]

    limit_p50, ingest_p50, health_p50 = (_median_ms(column(c)) for c in ("limit_s", "ingest_s", "health_s"))
    note = f"{LATENCY_ROUNDS} rounds after {LATENCY_WARMUP} warm-ups; p99 = the slowest"
    report.figure(
        LATENCY,
        "crossing bar: POST /v1/bars -> OrderFilled on the WebSocket: p50",
        _median_ms(column("ws_s")),
        "ms",
        LATENCY_TARGET,
        ingest_p50,
        note=f"{note}; from sending the bar to the message's arrival; baseline: POST /v1/bars of a "
        "bar of a symbol without open orders (same subscribers, no fill)",
    )
    report.figure(
        LATENCY,
        "crossing bar: -> OrderFilled on the WebSocket: p99",
        _p99_ms(column("ws_s")),
        "ms",
        LATENCY_TARGET,
        _p99_ms(column("ingest_s")),
    )
    report.figure(
        LATENCY,
        "crossing bar: POST /v1/bars returns: p50",
        _median_ms(column("post_s")),
        "ms",
        LATENCY_TARGET,
        ingest_p50,
        note="the local bus runs every BarsIngested subscriber (record_coverage, refresh_snapshots, "
        "fill_orders and, for the fill, record_fills) before the response",
    )
    report.figure(
        LATENCY,
        "crossing bar: -> GET /v1/orders/{id} shows filled: p50",
        _median_ms(column("visible_s")),
        "ms",
        LATENCY_TARGET,
        ingest_p50,
    )
    report.figure(
        LATENCY,
        "crossing bar: -> GET /v1/orders/{id} shows filled: p99",
        _p99_ms(column("visible_s")),
        "ms",
        LATENCY_TARGET,
        _p99_ms(column("ingest_s")),
    )
    report.figure(
        LATENCY,
        "market order, last price known: POST /v1/orders returns filled: p50",
        _median_ms(column("market_s")),
        "ms",
        LATENCY_TARGET,
        limit_p50,
        note="baseline: POST /v1/orders of a limit order that rests (risk checks, no fill, no "
        "record_fills); the fill is written to the lake by record_fills before the response",
    )
    report.figure(
        LATENCY,
        "market order: POST /v1/orders returns filled: p99",
        _p99_ms(column("market_s")),
        "ms",
        LATENCY_TARGET,
        _p99_ms(column("limit_s")),
    )
    report.figure(
        LATENCY,
        "market order: -> OrderFilled on the WebSocket: p50",
        _median_ms(column("market_ws_s")),
        "ms",
        LATENCY_TARGET,
        limit_p50,
    )
    report.figure(LATENCY, "baseline: POST /v1/orders, resting limit order: p50", limit_p50, "ms")
    report.figure(
        LATENCY, "baseline: POST /v1/orders, resting limit order: p99", _p99_ms(column("limit_s")), "ms"
    )
    report.figure(LATENCY, "baseline: POST /v1/bars, symbol without open orders: p50", ingest_p50, "ms")
    report.figure(
        LATENCY, "baseline: POST /v1/bars, symbol without open orders: p99", _p99_ms(column("ingest_s")), "ms"
    )
    report.figure(
        LATENCY,
        "baseline: GET /v1/health: p50",
        health_p50,
        "ms",
        note="the server's floor: routing, middleware and the loopback round trip",
    )

    report.section(SPLIT)
    total = split["parts_s"].pop("total")
    report.figure(
        SPLIT,
        "bus.execute(IngestBars) of 1 crossing bar, subscribers included: p50",
        _median_ms(total),
        "ms",
        LATENCY_TARGET,
        note=f"{LATENCY_ROUNDS} rounds after {LATENCY_WARMUP} warm-ups, in one process; p99 "
        f"{_p99_ms(total):.0f} ms; the parts below are exclusive times (a subscriber's own "
        "events' deliveries are counted with their subscribers), medians",
    )
    for part, seconds in split["parts_s"].items():
        report.figure(SPLIT, f"  of which {part}", _median_ms(seconds), "ms")


# ---------------------------------------------------------------------------------------------
# place -> filled: the client side


def _latency_rounds(server: LocalRunner, key: str) -> list[dict[str, float]]:
    import httpx
    from websockets.sync.client import connect

    headers = {"x-api-key": key}
    with (
        httpx.Client(base_url=server.base_url, headers=headers, timeout=30.0, trust_env=False) as client,
        connect(f"{server.ws_url}?api_key={key}", open_timeout=WS_TIMEOUT_S, proxy=None) as ws,
    ):
        ws.send(json.dumps({"action": "subscribe", "channels": ["events:OrderFilled"]}))
        reply = json.loads(ws.recv(timeout=WS_TIMEOUT_S))
        assert reply.get("type") == "subscribed", reply
        arrivals: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        stopping = threading.Event()

        def read() -> None:
            while not stopping.is_set():
                try:
                    text = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                except Exception:  # the connection closed: the round waiting on it fails
                    return
                arrivals.put((time.perf_counter(), json.loads(text)))

        reader = threading.Thread(target=read, name="ws-reader", daemon=True)
        reader.start()
        try:
            return [_round(client, arrivals, n) for n in range(LATENCY_WARMUP + LATENCY_ROUNDS)]
        finally:
            stopping.set()
            reader.join(5)


def _round(client: Any, arrivals: queue.Queue[tuple[float, dict[str, Any]]], n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    ts = BAR_START + timedelta(minutes=n + 1)

    t0 = time.perf_counter()
    response = client.get("/v1/health")
    out["health_s"] = time.perf_counter() - t0
    assert response.status_code == 200, response.text

    resting = {
        "symbol": SYMBOL,
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "qty": "1",
        "limit_price": str(LIMIT),
        "client_order_id": f"rest-{n}",
        "account_id": ACCOUNT,
    }
    t0 = time.perf_counter()
    response = client.post("/v1/orders", json=resting)
    out["limit_s"] = time.perf_counter() - t0
    assert response.status_code == 201 and response.json()["status"] == "accepted", response.text
    order_id = response.json()["id"]

    t0 = time.perf_counter()
    response = client.post("/v1/bars", json=_bars(OTHER, ts, low=99.5))
    out["ingest_s"] = time.perf_counter() - t0
    assert response.status_code == 201, response.text

    t0 = time.perf_counter()
    response = client.post("/v1/bars", json=_bars(SYMBOL, ts, low=float(LIMIT) - 1))
    out["post_s"] = time.perf_counter() - t0
    assert response.status_code == 201, response.text
    response = client.get(f"/v1/orders/{order_id}")
    out["visible_s"] = time.perf_counter() - t0
    assert response.status_code == 200 and response.json()["status"] == "filled", response.text
    out["ws_s"] = _arrival(arrivals, order_id) - t0

    market = {
        "symbol": SYMBOL,
        "side": "buy",
        "qty": "1",
        "client_order_id": f"mkt-{n}",
        "account_id": ACCOUNT,
    }
    t0 = time.perf_counter()
    response = client.post("/v1/orders", json=market)
    out["market_s"] = time.perf_counter() - t0
    assert response.status_code == 201 and response.json()["status"] == "filled", response.text
    out["market_ws_s"] = _arrival(arrivals, response.json()["id"]) - t0
    return out


def _arrival(arrivals: queue.Queue[tuple[float, dict[str, Any]]], order_id: str) -> float:
    """When the OrderFilled of `order_id` arrived (messages of other orders are skipped)."""
    deadline = time.monotonic() + WS_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no OrderFilled for {order_id} on the WebSocket within {WS_TIMEOUT_S} s")
        try:
            stamp, message = arrivals.get(timeout=left)
        except queue.Empty:
            continue
        event = message.get("event", {})
        if event.get("event_type") == "OrderFilled" and event["payload"]["order_id"] == order_id:
            return stamp


def _bars(symbol: str, ts: datetime, low: float) -> dict[str, Any]:
    bar = {"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": 100.0, "high": 100.5, "low": low}
    return {"timeframe": "1m", "symbol": symbol, "bars": [{**bar, "close": 99.9, "volume": 1000}]}


# ---------------------------------------------------------------------------------------------
# Helpers


def _run(scenario: str, folder: Path) -> report.Child:
    return report.run_scenario("tests.bench.test_trading_bench", scenario, folder, report.data_env(folder))


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000


# ---------------------------------------------------------------------------------------------
# The scenarios (each in its own subprocess)


def _container(folder: Path, account: str) -> Any:
    from trading_system.bootstrap import bootstrap
    from trading_system.config import load_settings
    from trading_system.market_data.commands import RegisterSymbol
    from trading_system.trading.commands import CreateAccount

    container = bootstrap(load_settings(data_dir=folder / account))
    container.bus.execute(RegisterSymbol(symbol=SYMBOL))
    container.bus.execute(CreateAccount(account_id=account, starting_cash=Decimal(10_000_000)))
    return container


def _resting(account: str, n: int) -> Any:
    from trading_system.trading.commands import PlaceOrder
    from trading_system.trading.orders import OrderRequest, OrderSide, OrderType, TimeInForce

    return PlaceOrder(
        request=OrderRequest(
            symbol=SYMBOL,
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            qty=Decimal(1),
            limit_price=Decimal(50),
            client_order_id=f"o{n}",
            account_id=account,
        )
    )


def scenario_place_many(folder: Path) -> dict[str, Any]:
    from trading_system.trading.orders import OrderStatus

    container = _container(folder, "many")
    bus, store = container.bus, container.store

    def place(n: int) -> float:
        command = _resting("many", n)
        t0 = time.perf_counter()
        placed = bus.execute(command)
        took = time.perf_counter() - t0
        assert placed.order.status is OrderStatus.ACCEPTED, placed.order
        return took

    def floor(n: int) -> float:
        t0 = time.perf_counter()
        store.put_many("bench_floor", {f"k{n % 1000}": {"n": n}})
        return time.perf_counter() - t0

    for n in range(PLACE_WARMUP):
        place(n)
        floor(n)
    out: dict[str, Any] = {"place_s": [], "floor_s": [], "peak_reset": report.reset_peak_rss()}
    for n in range(PLACE_WARMUP, PLACE_WARMUP + PLACE_ORDERS):
        out["place_s"].append(place(n))
        out["floor_s"].append(floor(n))
    out["peak_mb"] = report.peak_rss_mb()
    out["open_orders"] = container.ledger.require_account("many").open_orders
    doc = store.get("trading_account", "many")
    out["account_doc_bytes"] = len(json.dumps(doc, separators=(",", ":")))
    return out


def scenario_serve_setup(folder: Path) -> dict[str, Any]:
    """The server's data folder: an admin key, two symbols with one bar each (so the last price
    is known), and an account with enough cash."""
    from trading_system.bootstrap import bootstrap
    from trading_system.config import load_settings
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role
    from trading_system.market_data.commands import BarRow, IngestBars, RegisterSymbol
    from trading_system.trading.commands import CreateAccount

    container = bootstrap(load_settings(data_dir=folder))
    key = container.bus.execute(CreateApiKey(role=Role.ADMIN, label="bench")).api_key
    for symbol in (SYMBOL, OTHER):
        container.bus.execute(RegisterSymbol(symbol=symbol))
        bar = BarRow(ts=BAR_START.isoformat(), open=100, high=100.5, low=99.5, close=100, volume=1000)
        container.bus.execute(IngestBars(timeframe="1m", symbol=symbol, bars=[bar]))
    container.bus.execute(CreateAccount(account_id=ACCOUNT, starting_cash=Decimal(1_000_000)))
    return {"api_key": key, "pid": os.getpid()}


def scenario_fill_split(folder: Path) -> dict[str, Any]:
    """The crossing bar of each latency round again, in one process: `bus.execute(IngestBars)`
    with each subscriber the in-process bus runs timed exclusively."""
    from trading_system.bootstrap import bootstrap
    from trading_system.config import load_settings
    from trading_system.market_data.commands import BarRow, IngestBars
    from trading_system.trading.commands import PlaceOrder
    from trading_system.trading.orders import OrderRequest, OrderStatus

    scenario_serve_setup(folder)
    container = bootstrap(load_settings(data_dir=folder))
    publisher = container.publisher
    deliver = publisher.deliver
    spent: dict[str, float] = {}
    inner: list[float] = []  # time of the deliveries nested in each running one

    def timed(subscriber: str, envelope: Any) -> Any:
        inner.append(0.0)
        t0 = time.perf_counter()
        try:
            return deliver(subscriber, envelope)
        finally:
            took = time.perf_counter() - t0
            nested = inner.pop()
            spent[subscriber] = spent.get(subscriber, 0.0) + took - nested
            if inner:
                inner[-1] += took

    publisher.deliver = timed
    parts: dict[str, list[float]] = {"total": []}
    fills = 0
    for n in range(LATENCY_WARMUP + LATENCY_ROUNDS):
        request = OrderRequest.model_validate(
            {"symbol": SYMBOL, "side": "buy", "type": "limit", "time_in_force": "gtc", "qty": "1",
             "limit_price": str(LIMIT), "client_order_id": f"split-{n}", "account_id": ACCOUNT}
        )  # fmt: skip
        order = container.bus.execute(PlaceOrder(request=request)).order
        bar = _bars(SYMBOL, BAR_START + timedelta(minutes=n + 1), low=float(LIMIT) - 1)
        command = IngestBars(timeframe="1m", symbol=SYMBOL, bars=[BarRow(**b) for b in bar["bars"]])
        spent.clear()
        t0 = time.perf_counter()
        container.bus.execute(command)
        total = time.perf_counter() - t0
        fills += container.ledger.order(order.id).status is OrderStatus.FILLED
        if n < LATENCY_WARMUP:
            continue
        parts["total"].append(total)
        parts.setdefault("IngestBars handler (lake write) and the bus", []).append(
            total - sum(spent.values())
        )
        for subscriber, seconds in spent.items():
            parts.setdefault(f"subscriber {subscriber}", []).append(seconds)
    return {"parts_s": parts, "fills": fills}


if __name__ == "__main__":
    scenario, where = sys.argv[1], Path(sys.argv[2])
    report.emit(globals()[f"scenario_{scenario}"](where))
