"""Every HTTP route, built from the catalog: the catalog says the method, the path and the
summary; the endpoint is the function of the same name in the context's module
(`trading_system.entrypoints.http.<context>`), which says only what the route does.

Only the module of the function asked for is imported, so a Lambda does not pay for the other
contexts' routes at cold start, and only its own route is built: building a route is FastAPI's
analysis of its signature, dependencies and response model (a millisecond or more per route).
A router is built once per name and shared by every app that includes it (include_router
copies its routes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

from trading_system.catalog import CATALOG, Function, Http, by_name
from trading_system.entrypoints.http.bodies import GuardedRoute

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_OPTIONS = "__route_options__"
_built: dict[str, APIRouter] = {}


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
        endpoint,
        methods=[trigger.method],
        summary=function.summary,
        name=function.name,
        **getattr(endpoint, _OPTIONS, {}),
    )
    return router
