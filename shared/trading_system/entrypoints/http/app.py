"""Builds the FastAPI app of a set of catalog functions: all of them locally, one per Lambda."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import unquote
from uuid import uuid4

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trading_system import __version__
from trading_system.bootstrap import Container
from trading_system.catalog import Function, Http
from trading_system.entrypoints.http.auth import SECURITY_SCHEMES, CheckKey, TrustAuthorizer
from trading_system.entrypoints.http.dependencies import CORRELATION_HEADER
from trading_system.entrypoints.http.problems import (
    PROBLEM_SCHEMA,
    SCHEMA_NAME,
    install_problem_handlers,
    problem_response,
)
from trading_system.entrypoints.http.routes import router_of
from trading_system.kernel.correlation import correlated

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
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    # Plain ASGI middleware rather than `@app.middleware("http")`: Starlette runs each of those
    # in a task of its own, joined by memory streams, which cost more per request than a
    # symbol read itself (docs/BENCHMARKS.md). The first added runs innermost.
    app.add_middleware(RefuseUndeclaredMethods, declared_methods=_declared_methods(functions))
    app.add_middleware(Correlate)
    # Added last, so it runs first: every other middleware and the router see the path with a
    # segment's own slashes still encoded.
    app.add_middleware(EncodedSlashes)
    return app


class RefuseUndeclaredMethods:
    """ASGI middleware, before routing: a path the API declares answers an undeclared method
    with a 405 and its Allow header, rather than falling through to whatever else is mounted
    (the local dashboard at /) or to Starlette's 405, which names only one route's methods."""

    def __init__(self, app: ASGIApp, declared_methods: Callable[[str], list[str]]) -> None:
        self.app, self.declared_methods = app, declared_methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.declared_methods(scope["path"])
            if allowed and scope["method"] not in allowed:
                request = Request(scope)
                detail = f"{request.url.path} takes {', '.join(allowed)}"
                headers = {"Allow": ", ".join(allowed)}
                response = problem_response(
                    request, 405, "Method not allowed", detail, "method-not-allowed", headers=headers
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Correlate:
    """ASGI middleware: the request's correlation id (the client's, else a new one) goes to
    `request.state`, to the request's log lines, and back in the response's header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(CORRELATION_HEADER)
        correlation_id = (given or str(uuid4()))[:128]
        # What `request.state` reads, for every Request made of this scope downstream.
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_correlated(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        with correlated(correlation_id):  # the request's log lines carry it
            await self.app(scope, receive, send_correlated)


# -- a slash inside a path segment (`/v1/bars/BTC%2FUSD`) ----------------------------------------
# Servers hand the app the decoded path, where BTC%2FUSD has become BTC/USD and would be routed
# as two segments (404). EncodedSlashes gives the router the path with each segment's own `%` and
# `/` encoded (and nothing else), so `{symbol}` matches BTC%2FUSD whole; a path parameter then
# holds its value so encoded, and `params.like` decodes it (`params.from_path`) before it is
# checked. A path with neither character in a segment is left exactly as the server gave it.


class EncodedSlashes:
    """ASGI middleware: a path segment holding an encoded slash is routed as one segment.

    Locally (uvicorn, Starlette's test client) the segments come from `raw_path`, as the client
    sent it. Behind API Gateway, Mangum gives no raw path and a decoded one, so they come from
    the route API Gateway matched: its template and `pathParameters`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            segments = _raw_segments(scope) or _gateway_segments(scope)
            if segments is not None:
                path = "/".join(_escaped(segment) for segment in segments)
                if path != scope["path"]:
                    scope = {**scope, "path": path}
        await self.app(scope, receive, send)


def _raw_segments(scope: Scope) -> list[str] | None:
    """The decoded segments of the path the client sent, when it encodes anything (else the
    path is the raw path). Decoded once: Starlette's test client decodes its path twice."""
    raw = scope.get("raw_path")
    if not raw or b"%" not in raw:
        return None
    return [unquote(part) for part in raw.decode("latin-1").split("/")]


def _gateway_segments(scope: Scope) -> list[str] | None:
    """The decoded segments of the route API Gateway matched, its variables filled in
    (`GET /v1/bars/{symbol}` and {"symbol": "BTC/USD"}: ["", "v1", "bars", "BTC/USD"])."""
    event = scope.get("aws.event")
    if not isinstance(event, Mapping) or not event.get("pathParameters"):
        return None
    values = event["pathParameters"]
    template = str(event.get("routeKey") or "").partition(" ")[2] or str(event.get("resource") or "")
    parts = template.split("/")
    names = [part[1:-1] for part in parts if part.startswith("{") and part.endswith("}")]
    if not template.startswith("/") or any(name not in values for name in names):
        return None  # `$default`, or a greedy {proxy+}: nothing to rebuild the path from
    return [str(values[part[1:-1]]) if part.startswith("{") else part for part in parts]


def _escaped(segment: str) -> str:
    """A decoded segment as the router reads it: a `%` or `/` in it encoded, nothing else."""
    if "/" in segment or "%" in segment:
        return segment.replace("%", "%25").replace("/", "%2F")
    return segment


def _declared_methods(functions: Sequence[Function]) -> Callable[[str], list[str]]:
    """The methods the catalog declares for a request path (none for a path it does not have).
    The most specific path wins, as the document reads: /v1/bars/files is not /v1/bars/{symbol}."""
    by_path: dict[str, set[str]] = {}
    for function in functions:
        assert isinstance(function.trigger, Http)
        by_path.setdefault(function.trigger.path, set()).add(function.trigger.method)
    specific_first = sorted(by_path.items(), key=lambda item: item[0].count("{"))
    patterns = [(compile_path(path)[0], sorted(methods)) for path, methods in specific_first]

    def methods_of(path: str) -> list[str]:
        return next((methods for pattern, methods in patterns if pattern.match(path)), [])

    return methods_of


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with what the routes refer to but FastAPI cannot know: the problem
    document's schema and the ways to present a key."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {})
        components.setdefault("schemas", {})[SCHEMA_NAME] = PROBLEM_SCHEMA
        components["securitySchemes"] = SECURITY_SCHEMES
        app.openapi_schema = document
    return app.openapi_schema
