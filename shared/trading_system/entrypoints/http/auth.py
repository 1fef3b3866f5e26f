"""Route guards. Locally the app checks the key or token itself; in Lambda the authorizer has
already done so with the same code (entrypoints/authorizer.py) and passed the principal on."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from trading_system.entrypoints.credentials import API_KEY_HEADER, token_from
from trading_system.identity.domain import authorize
from trading_system.identity.queries import Authenticate
from trading_system.kernel.errors import Unauthorized
from trading_system.kernel.principal import Principal, Role

# The two ways token_from accepts a key, as the OpenAPI document declares them (the query
# parameter is for the stream's WebSocket only, which the document does not describe).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a JWT (the platform's own, from `trading tokens issue`, or the configured "
        "OIDC issuer's, e.g. a Cognito user pool's), or the same API key as Authorization: Bearer <key>",
    },
}
# An operation that needs a key takes either of them.
KEY_REQUIRED: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]


class _Guard:
    """A route's check, run twice: by bodies.GuardedRoute, synchronously and before the body is
    read, and then as the route's dependency (the one the OpenAPI document shows), where it finds
    the principal set and returns. The dependency is a coroutine so that FastAPI runs it on the
    event loop: a sync dependency costs a hop to the thread pool and back on every request."""

    def __init__(self, role: Role | None, route: str):
        self.role, self.route = role, route

    async def __call__(self, request: Request) -> None:
        self.check(request)

    def check(self, request: Request) -> None:
        raise NotImplementedError


class CheckKey(_Guard):
    """Local runtime: authenticate the key against the write store and check the route's role."""

    def check(self, request: Request) -> None:
        if self.role is None or hasattr(request.state, "principal"):
            return  # public, or checked already (before the body was read: see bodies.py)
        token = token_from(request.headers)
        if token is None:
            raise Unauthorized(
                f"{self.route} needs an API key in the {API_KEY_HEADER} header or a bearer token"
            )
        principal: Principal = request.app.state.container.bus.ask(Authenticate(token=token))
        authorize(principal, self.role, self.route)
        request.state.principal = principal


class TrustAuthorizer(_Guard):
    """Lambda runtime: API Gateway ran the authorizer; read what it decided."""

    def check(self, request: Request) -> None:
        if self.role is None or hasattr(request.state, "principal"):
            return
        event = request.scope.get("aws.event") or {}
        context = event.get("requestContext", {}).get("authorizer", {}).get("lambda") or {}
        if not {"key_id", "role", "user"} <= context.keys():
            raise Unauthorized(f"{self.route} was reached without the authorizer's decision")
        principal = Principal(
            key_id=str(context["key_id"]), role=Role(context["role"]), user=str(context["user"])
        )
        authorize(principal, self.role, self.route)
        request.state.principal = principal


Guard = CheckKey | TrustAuthorizer
