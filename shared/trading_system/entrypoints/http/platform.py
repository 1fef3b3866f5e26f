"""Platform routes: health and API keys.

Each route is built by a factory, called only for the function that serves it (see routes.py):
a Lambda pays FastAPI's analysis of its own route at cold start, not of its context's others.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from trading_system import __version__
from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.identity.commands import CreateApiKey, ListApiKeys, RevokeApiKey
from trading_system.identity.handlers import IssuedKey, KeyView


class Health(BaseModel):
    status: str
    version: str


def health() -> APIRouter:
    router = APIRouter(tags=["platform"])

    @router.get("/v1/health", summary="Liveness and version")
    def _health() -> Health:
        return Health(status="ok", version=__version__)

    return router


def create_api_key() -> APIRouter:
    router = APIRouter(tags=["platform"])

    @router.post("/v1/keys", status_code=201, summary="Create an API key (shown once)")
    def _create_api_key(body: CreateApiKey, response: Response, bus: Bus, context: Context) -> IssuedKey:
        issued: IssuedKey = bus.execute(body, context)
        response.headers["Location"] = f"/v1/keys/{issued.key_id}"
        return issued

    return router


def list_api_keys() -> APIRouter:
    router = APIRouter(tags=["platform"])

    @router.get("/v1/keys", summary="List API keys (never their secrets)")
    def _list_api_keys(bus: Bus, context: Context) -> list[KeyView]:
        keys: list[KeyView] = bus.ask(ListApiKeys(), context)
        return keys

    return router


def revoke_api_key() -> APIRouter:
    router = APIRouter(tags=["platform"])

    @router.delete("/v1/keys/{key_id}", summary="Revoke an API key")
    def _revoke_api_key(key_id: str, bus: Bus, context: Context) -> KeyView:
        revoked: KeyView = bus.execute(RevokeApiKey(key_id=key_id), context)
        return revoked

    return router


ROUTERS = {
    "health": health,
    "create_api_key": create_api_key,
    "list_api_keys": list_api_keys,
    "revoke_api_key": revoke_api_key,
}
