"""Identity's routes of API keys; found through identity.py, as the catalog names their context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route
from trading_system.identity.commands import CreateApiKey, RevokeApiKey
from trading_system.identity.handlers import IssuedKey, KeyView
from trading_system.identity.queries import ListApiKeys


@route(status_code=201)
def create_api_key(body: CreateApiKey, response: Response, bus: Bus, context: Context) -> IssuedKey:
    issued: IssuedKey = bus.execute(body, context)
    response.headers["Location"] = f"/v1/keys/{issued.key_id}"
    return issued


def list_api_keys(bus: Bus, context: Context) -> list[KeyView]:
    keys: list[KeyView] = bus.ask(ListApiKeys(), context)
    return keys


def revoke_api_key(
    key_id: Annotated[str, like(RevokeApiKey, "key_id", in_path=True)], bus: Bus, context: Context
) -> KeyView:
    revoked: KeyView = bus.execute(RevokeApiKey(key_id=key_id), context)
    return revoked
