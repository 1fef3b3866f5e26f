"""The API Gateway (HTTP API) Lambda authorizer: the same key and token checks and role rule as
the local app, with the role each route needs taken from the catalog.

A bearer JWT's principal travels in the context as a key's does (`key_id` is `jwt:<subject>`,
`user` the subject),
so the functions behind it cannot tell them apart. Revocations are read on every call; the
API's authorizer results cache is off (infra/constructs/api.py, TTL 0), so a revoked token or a
disabled subject is refused from the next request on. Were that TTL raised to N seconds, a
revoked token would keep working for up to N seconds (the issue allows at most a minute).
"""

from __future__ import annotations

import logging
from typing import Any

from trading_system.bootstrap import Container
from trading_system.catalog import route_roles
from trading_system.entrypoints.credentials import token_from
from trading_system.identity.domain import authorize
from trading_system.identity.queries import Authenticate
from trading_system.kernel.errors import DomainError
from trading_system.kernel.principal import Principal

log = logging.getLogger(__name__)

ROLES = route_roles()


def decide(container: Container, event: dict[str, Any]) -> dict[str, Any]:
    """A simple-response decision for an HTTP API authorizer event (payload format 2.0)."""
    route = event.get("routeKey", "")
    if route not in ROLES:
        return _deny(route, "unknown route")
    required = ROLES[route]
    token = token_from(event.get("headers") or {}, event.get("queryStringParameters"))
    if token is None:
        return _deny(route, "no API key or bearer token")
    try:
        principal: Principal = container.bus.ask(Authenticate(token=token))
        authorize(principal, required, route)
    except DomainError as error:
        return _deny(route, error.detail)
    return {
        "isAuthorized": True,
        "context": {"key_id": principal.key_id, "role": principal.role.value, "user": principal.user},
    }


def _deny(route: str, reason: str) -> dict[str, Any]:
    log.info("denied %s: %s", route, reason)
    return {"isAuthorized": False, "context": {"reason": reason}}
