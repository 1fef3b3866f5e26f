"""Every HTTP route, one router per catalog function, by function name."""

from __future__ import annotations

from fastapi import APIRouter

from trading_system.entrypoints.http import analytics, market_data, platform, scanning

ROUTERS: dict[str, APIRouter] = {
    **platform.ROUTERS,
    **market_data.ROUTERS,
    **analytics.ROUTERS,
    **scanning.ROUTERS,
}


def router_of(function_name: str) -> APIRouter:
    try:
        return ROUTERS[function_name]
    except KeyError:
        raise LookupError(f"no router for catalog function {function_name!r}") from None
