"""What every local HTTP request goes through before and after its endpoint: the correlation id
and the 405 of an undeclared method (plain ASGI middleware), and the route's guard and the bus
and context it is handed, which must run on the event loop (docs/BENCHMARKS.md, issue 13)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.bootstrap import Container
from trading_system.entrypoints.http.routes import all_routers
from trading_system.entrypoints.local.runner import build_local_app
from trading_system.kernel import correlation


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _is_coroutine(call: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004


def test_no_route_dependency_is_sent_to_the_thread_pool(container: Container) -> None:
    # FastAPI runs a sync dependency in the thread pool: a hop there and back per dependency per
    # request, which was a third of the cheapest read's time. (The endpoints stay off the loop.)
    app = build_local_app(container, background=False)
    sync = {
        f"{name}: {getattr(d.call, '__name__', d.call)}"
        for name, router in all_routers().items()
        for route in router.routes
        if isinstance(route, APIRoute)
        for d in _dependencies(route.dependant)
        if d.call is not None and not _is_coroutine(d.call)
    }
    assert sync == set()
    # The guard each route is included with (create_app), which runs as its dependency too.
    guards = app.state.guards
    assert len(guards) == len(all_routers())
    assert [key for key, guard in guards.items() if not _is_coroutine(guard)] == []


def test_the_correlation_id_is_the_clients_or_a_new_one(client: TestClient, keys: Keys) -> None:
    given = client.get("/v1/symbols", headers={"x-correlation-id": "x" * 200, **keys.header("viewer")})
    assert given.status_code == 200
    assert given.headers["x-correlation-id"] == "x" * 128  # cut to 128 characters

    first, second = (client.get("/v1/symbols", headers=keys.header("viewer")) for _ in range(2))
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]
    assert len(first.headers["x-correlation-id"]) == 36  # a UUID


def test_refusals_carry_the_correlation_id_too(client: TestClient) -> None:
    refused = client.get("/v1/symbols", headers={"x-correlation-id": "c-401"})
    assert refused.status_code == 401
    assert refused.headers["x-correlation-id"] == refused.json()["correlation_id"] == "c-401"

    # Answered by the middleware before routing, not by Starlette's 405.
    undeclared = client.delete("/v1/symbols", headers={"x-correlation-id": "c-405"})
    assert undeclared.status_code == 405
    assert undeclared.headers["allow"] == "GET, POST"
    assert undeclared.headers["x-correlation-id"] == undeclared.json()["correlation_id"] == "c-405"
    assert undeclared.json()["type"] == "/problems/method-not-allowed"


def test_the_endpoint_runs_under_the_correlation_id_and_it_is_reset_after(
    container: Container, keys: Keys
) -> None:
    seen: list[str | None] = []
    container.bus.observers.append(lambda envelope: seen.append(correlation.current.get()))
    with TestClient(build_local_app(container, background=False)) as client:
        client.post(
            "/v1/symbols",
            json={"symbol": "CORR"},
            headers={"x-correlation-id": "c-1", **keys.header("admin")},
        )
    assert seen == ["c-1"]
    assert correlation.current.get() is None


def test_endpoints_still_run_off_the_event_loop_and_their_answers_are_validated(
    container: Container, keys: Keys
) -> None:
    # routes._one_hop hands FastAPI a coroutine, so that it validates the answer on the loop; the
    # endpoint and its store and lake reads must still run in the thread pool.
    on_the_loop: list[bool] = []

    def where(envelope: object) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_the_loop.append(False)
        else:
            on_the_loop.append(True)

    container.bus.observers.append(where)
    with TestClient(build_local_app(container, background=False)) as client:
        created = client.post("/v1/symbols", json={"symbol": "HOP"}, headers=keys.header("admin"))
        assert created.status_code == 201
        read = client.get("/v1/symbols/HOP", headers=keys.header("viewer"))
    assert on_the_loop == [False]
    assert read.status_code == 200
    assert read.json()["symbol"] == "HOP"
    assert read.json() == created.json()  # the Listing, through its response model both times


def test_each_route_keeps_its_endpoints_name_and_signature() -> None:
    for name, router in all_routers().items():
        (route,) = router.routes
        assert isinstance(route, APIRoute)
        assert inspect.iscoroutinefunction(route.endpoint), name
        assert route.name == route.endpoint.__name__ == name
        original = inspect.unwrap(route.endpoint)
        assert inspect.signature(route.endpoint) == inspect.signature(original)
