"""Every HTTP route, built from the catalog: the catalog says the method, the path and the
summary; the endpoint is the function of the same name in the context's module
(`trading_system.entrypoints.http.<context>`), which says only what the route does.

Only the module of the function asked for is imported, so a Lambda does not pay for the other
contexts' routes at cold start, and only its own route is built: building a route is FastAPI's
analysis of its signature, dependencies and response model (a millisecond or more per route).
A router is built once per name and shared by every app that includes it (include_router
copies its routes).

Each route's OpenAPI operation is completed here, from its catalog entry and its shape, so that
no endpoint lists its errors by hand: the key it needs and every error status it can answer,
each a problem document (problems.py).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import fastapi.utils
from fastapi import APIRouter
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from trading_system.catalog import CATALOG, Function, Http, Resource, by_name
from trading_system.entrypoints.http.auth import KEY_REQUIRED
from trading_system.entrypoints.http.bodies import GuardedRoute
from trading_system.entrypoints.http.problems import MEDIA_TYPE, SCHEMA_NAME, problem_responses

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_OPTIONS = "__route_options__"
_built: dict[str, APIRouter] = {}


def _refuse_pydantic_v1_only_when_loaded() -> None:
    """FastAPI refuses a pydantic.v1 model wherever a route declares a model, and to tell one it
    imports `pydantic.v1` (~20 ms of a cold start) on the first route it builds. No class can be
    a v1 model before pydantic.v1 is imported, so the check runs only once it has been; after
    that it is FastAPI's own, unchanged."""
    name = "annotation_is_pydantic_v1"  # what fastapi.utils.create_model_field calls
    check = getattr(fastapi.utils, name, None)
    if check is None or getattr(check, "_only_when_loaded", False):
        return  # a FastAPI without the check, or wrapped already

    def annotation_is_pydantic_v1(annotation: Any) -> bool:
        return "pydantic.v1" in sys.modules and bool(check(annotation))

    annotation_is_pydantic_v1._only_when_loaded = True  # type: ignore[attr-defined]
    setattr(fastapi.utils, name, annotation_is_pydantic_v1)


_refuse_pydantic_v1_only_when_loaded()


def route(**options: Any) -> Callable[[Endpoint], Endpoint]:
    """FastAPI options of an endpoint beyond its method, path and summary (which the catalog
    holds): `status_code`, `responses`, `response_model`, ..."""

    def keep(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _OPTIONS, options)
        return endpoint

    return keep


def router_of(function_name: str) -> APIRouter:
    function = by_name().get(function_name)
    if function is None or not isinstance(function.trigger, Http):
        raise LookupError(f"no HTTP function {function_name!r} in the catalog")
    router = _built.get(function_name)
    if router is None:
        router = _built[function_name] = _build(function, function.trigger)
    return router


def all_routers() -> dict[str, APIRouter]:
    """Every route of the catalog, by function name."""
    return {f.name: router_of(f.name) for f in CATALOG if isinstance(f.trigger, Http)}


def kept_apart(context_module: str, endpoints: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` (PEP 562) of a context's module that keeps some endpoints in modules of
    their own beside it (`endpoints`: endpoint name -> module name): such a module is imported
    when `endpoint_of` first asks for one of its endpoints, so that a Lambda serving another
    route of the context does not import what only those need."""
    package = context_module.rpartition(".")[0]

    def endpoint(name: str) -> Any:
        module = endpoints.get(name)
        if module is None:
            raise AttributeError(f"module {context_module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return endpoint


def endpoint_of(function: Function) -> Callable[..., Any]:
    module = importlib.import_module(f"trading_system.entrypoints.http.{function.context}")
    endpoint: Callable[..., Any] | None = getattr(module, function.name, None)
    if endpoint is None:
        raise LookupError(f"{module.__name__} has no endpoint {function.name!r}")
    return endpoint


def _build(function: Function, trigger: Http) -> APIRouter:
    endpoint = endpoint_of(function)
    router = APIRouter(tags=[function.context.replace("_", " ")], route_class=GuardedRoute)
    router.add_api_route(
        trigger.path,
        _one_hop(endpoint),
        methods=[trigger.method],
        summary=function.summary,
        name=function.name,
        **getattr(endpoint, _OPTIONS, {}),
    )
    built = router.routes[-1]
    assert isinstance(built, APIRoute)
    _document(built, function)
    return router


def _one_hop(endpoint: Endpoint) -> Endpoint:
    """A sync endpoint as a coroutine that runs it in the thread pool, as FastAPI would.

    FastAPI sends a sync endpoint to the thread pool, and then, to validate what it returned
    against the response model, sends it there a second time. From a coroutine it validates on
    the event loop: the endpoint still runs off the loop, in one hop instead of two (a hop is
    tens of microseconds, more than validating a model). FastAPI reads the endpoint's
    parameters, return type and name through `__wrapped__`, so the route is the same."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def in_the_thread_pool(**values: Any) -> Any:
        return await run_in_threadpool(endpoint, **values)

    return cast(Endpoint, in_the_thread_pool)


def _document(route: APIRoute, function: Function) -> None:
    """The key the route needs and the errors it can answer, in its OpenAPI operation."""
    if function.role is not None:
        route.openapi_extra = {"security": KEY_REQUIRED, **(route.openapi_extra or {})}
    # 429 is API Gateway's throttle on every route; a route that also limits by itself says so
    # in `_throttled`, with its own problem document beside the gateway's answer.
    errors = problem_responses(error_statuses(route, function) - {429})
    if function.also_checks:
        invalid = errors[422]
        errors[422] = {
            **invalid,
            "description": f"{invalid['description']}; it also checks: {function.also_checks}",
        }
    # the endpoint's own entries (e.g. place_order's 200 for a replay) stay as they are
    route.responses = {**errors, 429: _throttled(function), **route.responses}


def _throttled(function: Function) -> dict[str, Any]:
    """API Gateway's own answer beyond the route's limits (not a problem document: it is not ours)."""
    assert isinstance(function.trigger, Http)
    limits = function.trigger.limits
    description = (
        f"Too many requests: in AWS this route takes {limits.rate:g} a second, bursts "
        f"of {limits.burst}, across all clients (the local runtime does not throttle)"
    )
    content: dict[str, Any] = {
        "application/json": {"schema": {"type": "object", "properties": {"message": {"type": "string"}}}}
    }
    if 429 in function.errors:
        description += (
            "; this route also limits each of its callers itself (a webhook: its `rate_limit` a "
            "minute), answered with a problem document and Retry-After"
        )
        content[MEDIA_TYPE] = {"schema": {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}}
    return {"description": description, "content": content}


def error_statuses(route: APIRoute, function: Function) -> set[int]:
    """Every error status a route can answer, from what it takes and what the catalog says."""
    statuses = {500, *function.errors}
    if function.role is not None:
        statuses |= {401, 403}
    if route.param_convertors:
        statuses.add(404)  # the path's id names nothing
    if get_flat_params(route.dependant) or route.body_field is not None:
        statuses.add(422)
    if route.body_field is not None:
        statuses.add(413)
    if function.uses.get(Resource.TABLE) in ("write", "read_write"):
        statuses.add(409)  # a conditional write lost its race, or the state forbids the change
    return statuses
