"""Identity routes: health, API keys, and the platform's schedules.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Response
from pydantic import BaseModel

from trading_system import __version__
from trading_system.entrypoints.http.dependencies import Bus, Context, Services
from trading_system.entrypoints.http.params import like
from trading_system.entrypoints.http.routes import route
from trading_system.entrypoints.scheduled import ScheduleView, schedules
from trading_system.identity.commands import CreateApiKey, RevokeApiKey
from trading_system.identity.handlers import IssuedKey, KeyView
from trading_system.identity.queries import ListApiKeys


class Health(BaseModel):
    status: str
    version: str


def health() -> Health:
    return Health(status="ok", version=__version__)


class Me(BaseModel):
    key_id: str
    role: str
    user: str


def get_me(context: Context) -> Me:
    """Who the key is, its role and its user: a client shows only what the role allows."""
    principal = context.principal
    return Me(key_id=principal.key_id, role=principal.role.value, user=principal.user)


def list_schedules(services: Services, context: Context) -> list[ScheduleView]:
    """Every schedule of the catalog (fixed and timetabled), with its last run, its last failure
    and the count of failures since its last success: what failing quietly would hide."""
    return schedules(services)


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
