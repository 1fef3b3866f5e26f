"""Request bodies: read only once the key is checked, bounded, and strict JSON.

- **The key first.** FastAPI reads and parses a body before it runs a route's dependencies, so
  an anonymous client could make the server read and parse anything. Here the route's guard
  (CheckKey locally, TrustAuthorizer in Lambda) runs before a byte of the body is read.
- **Bounded.** A body larger than `max_json_bytes` (JSON) or `max_upload_bytes` (uploads) is a
  413, from its Content-Length before reading, or as soon as a streamed body passes the limit.
- **Strict JSON.** Python's json module accepts NaN, Infinity and -Infinity as numbers, and
  reads 1e400 as infinity; JSON has none of them, and a NaN price stored as a bar, or an infinite
  limit, has no meaning anywhere downstream. A body carrying one is a 422 naming every field
  where it appears; the body is parsed once, and FastAPI reads that parse.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.types import Message

from trading_system.entrypoints.http.auth import Guard
from trading_system.kernel.errors import TooLarge

_FORM_ROOM = 64 * 1024  # multipart boundaries and the form's other fields


class GuardedRoute(APIRoute):
    """A route whose body is read after its key check, within a limit, as strict JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        route_keys = [f"{method} {self.path}" for method in self.methods or ()]

        async def guarded(request: Request) -> Response:
            guards: Mapping[str, Guard] = request.app.state.guards  # set by create_app
            for key in route_keys:
                if key in guards:
                    guards[key](request)  # before the body: an anonymous request reads nothing
            if request.method in ("POST", "PUT", "PATCH"):
                settings = request.app.state.container.settings
                content_type = request.headers.get("content-type", "")
                upload = content_type.startswith("multipart/")
                # an upload's limit is its file's; the form around it gets some room
                limit = settings.max_upload_bytes + _FORM_ROOM if upload else settings.max_json_bytes
                _bound(request, limit, "an upload" if upload else "a JSON body")
                if not upload and (not content_type or "json" in content_type):
                    body = await request.body()
                    # A body that is not JSON at all: FastAPI parses it again and says where it breaks.
                    with contextlib.suppress(json.JSONDecodeError):
                        if body:
                            request._json = parse_strict(body)  # what Request.json() returns from now on
            return await handler(request)

        return guarded


def _bound(request: Request, limit: int, what: str) -> None:
    """A 413 for a declared length over `limit`, and a receive that stops at it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(what, limit)
    receive = request._receive
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(what, limit)
        return message

    request._receive = bounded


def _too_large(what: str, limit: int) -> TooLarge:
    return TooLarge(f"{what} may be {limit:,} bytes at most (the max_json_bytes / max_upload_bytes settings)")


class _NonFinite:
    """What a non-finite literal parses to, so that its place can be found and named."""

    def __init__(self, literal: str):
        self.literal = literal


def _finite(text: str) -> float | _NonFinite:
    """A JSON number as a float, unless it is too large for one (1e400 would be infinity)."""
    number = float(text)
    return number if math.isfinite(number) else _NonFinite(text)


def non_finite_places(value: Any, place: tuple[str | int, ...] = ("body",)) -> Iterator[tuple[Any, str]]:
    if isinstance(value, _NonFinite):
        yield place, value.literal
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from non_finite_places(inner, (*place, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from non_finite_places(inner, (*place, index))


def parse_strict(body: bytes) -> Any:
    """The body's JSON; RequestValidationError naming each NaN or Infinity; JSONDecodeError as
    json raises it (FastAPI reports that one itself)."""
    parsed = json.loads(body, parse_constant=_NonFinite, parse_float=_finite)
    errors = [
        {
            "type": "finite_number",
            "loc": place,
            "msg": f"{literal} is not a finite number: send one a float can hold",
            "input": literal,
        }
        for place, literal in non_finite_places(parsed)
    ]
    if errors:
        raise RequestValidationError(errors)
    return parsed
