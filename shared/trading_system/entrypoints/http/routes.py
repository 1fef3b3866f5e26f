"""Every HTTP route, one router per catalog function, found by function name.

Routers live in one module per context (platform, market_data, analytics, scanning, trading: the folder
of the function in functions/); only the module of the function asked for is imported, so a
Lambda does not pay for the other contexts' routes at cold start. Within a module, `ROUTERS`
maps each function name to a factory that builds its router: building a route is FastAPI's
analysis of its signature, dependencies and response model (a millisecond or more per route), so
a Lambda builds only its own route, not every route of its context. A router is built once per
name and shared by every app that includes it (include_router copies its routes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from fastapi import APIRouter

from functions.catalog import Http, by_name

RouterFactory = Callable[[], APIRouter]

_CONTEXTS = ("platform", "market_data", "analytics", "scanning", "trading")

_built: dict[str, APIRouter] = {}


def router_of(function_name: str) -> APIRouter:
    function = by_name().get(function_name)
    if function is None or not isinstance(function.trigger, Http):
        raise LookupError(f"no HTTP function {function_name!r} in the catalog")
    context = function.module.split(".")[1]
    try:
        factory = _factories(context)[function_name]
    except KeyError:
        raise LookupError(
            f"trading_system.entrypoints.http.{context} has no router {function_name!r}"
        ) from None
    return _build(function_name, factory)


def all_routers() -> dict[str, APIRouter]:
    """Every router of every context module, by function name."""
    return {
        name: _build(name, factory) for context in _CONTEXTS for name, factory in _factories(context).items()
    }


def _factories(context: str) -> Mapping[str, RouterFactory]:
    factories: Mapping[str, RouterFactory] = importlib.import_module(
        f"trading_system.entrypoints.http.{context}"
    ).ROUTERS
    return factories


def _build(function_name: str, factory: RouterFactory) -> APIRouter:
    router = _built.get(function_name)
    if router is None:
        router = _built[function_name] = factory()
    return router
