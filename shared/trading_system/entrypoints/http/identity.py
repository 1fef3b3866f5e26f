"""Identity routes: health, API keys, and the platform's schedules.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).

Health and get_me are here; the routes of API keys (api_keys.py) and of the schedules
(schedules.py) are in modules of their own, imported when one of them is asked for: the two
routes every client calls first, one of them the liveness probe, need none of Identity's
commands, handlers or the schedules' models, and do not build them at cold start.
"""

from __future__ import annotations

from pydantic import BaseModel

from trading_system import __version__
from trading_system.entrypoints.http.dependencies import Context
from trading_system.entrypoints.http.routes import kept_apart


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


__getattr__ = kept_apart(
    __name__,
    {
        "list_schedules": "schedules",
        "create_api_key": "api_keys",
        "list_api_keys": "api_keys",
        "revoke_api_key": "api_keys",
    },
)
