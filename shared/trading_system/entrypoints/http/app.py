"""Builds the FastAPI app of a set of catalog functions: all of them locally, one per Lambda."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal
from uuid import uuid4

from fastapi import Depends, FastAPI, Request, Response

from trading_system import __version__
from trading_system.bootstrap import Container
from trading_system.catalog import Function, Http
from trading_system.entrypoints.http.auth import CheckKey, TrustAuthorizer
from trading_system.entrypoints.http.dependencies import CORRELATION_HEADER
from trading_system.entrypoints.http.problems import install_problem_handlers
from trading_system.entrypoints.http.routes import router_of

Auth = Literal["check_key", "trust_authorizer"]

DESCRIPTION = """
Market data in a Parquet lake, read through DuckDB. Authenticate with an API key in the
`x-api-key` header (or `Authorization: Bearer <key>`); roles are viewer < trader < admin.
Errors are RFC 9457 problem documents (`application/problem+json`).
"""


def create_app(container: Container, functions: Sequence[Function], auth: Auth) -> FastAPI:
    app = FastAPI(
        title="Trading System API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.container = container
    install_problem_handlers(app)
    guard = CheckKey if auth == "check_key" else TrustAuthorizer
    # Each route's guard by route key: bodies.GuardedRoute runs it before reading the body, and
    # it runs again, as a no-op, as the route's dependency (which the OpenAPI document shows).
    app.state.guards = {}
    for function in functions:
        assert isinstance(function.trigger, Http)
        check = guard(function.role, function.trigger.route_key)
        app.state.guards[function.trigger.route_key] = check
        app.include_router(router_of(function.name), dependencies=[Depends(check)])

    @app.middleware("http")
    async def correlate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid4())
        request.state.correlation_id = correlation_id[:128]
        response = await call_next(request)
        response.headers[CORRELATION_HEADER] = request.state.correlation_id
        return response

    return app
