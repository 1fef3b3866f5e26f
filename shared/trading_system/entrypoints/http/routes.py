"""Every HTTP route, one router per catalog function, found by function name.

Routers live in one module per context (platform, market_data, analytics, scanning, trading: the folder
of the function in functions/); only the module of the function asked for is imported, so a
Lambda does not pay for the other contexts' routes at cold start.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from functions.catalog import Http, by_name


def router_of(function_name: str) -> APIRouter:
    function = by_name().get(function_name)
    if function is None or not isinstance(function.trigger, Http):
        raise LookupError(f"no HTTP function {function_name!r} in the catalog")
    context = function.module.split(".")[1]
    routers: dict[str, APIRouter] = importlib.import_module(
        f"trading_system.entrypoints.http.{context}"
    ).ROUTERS
    try:
        return routers[function_name]
    except KeyError:
        raise LookupError(
            f"trading_system.entrypoints.http.{context} has no router {function_name!r}"
        ) from None


def all_routers() -> dict[str, APIRouter]:
    """Every router of every context module, by function name."""
    found: dict[str, APIRouter] = {}
    for context in ("platform", "market_data", "analytics", "scanning", "trading"):
        found |= importlib.import_module(f"trading_system.entrypoints.http.{context}").ROUTERS
    return found
