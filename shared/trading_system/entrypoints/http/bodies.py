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
- **Strict booleans and integers.** Pydantic's lax mode reads `0` and `"false"` as False and
  `"5"` as 5, so `{"cancel_open_orders": 0}` would halt trading; the OpenAPI document says
  boolean and integer, and only those are taken. A JSON body is validated once more in strict
  JSON mode, and its strict-only refusals of booleans and integers are a 422. (Strict mode
  everywhere would also refuse a date for a datetime, which clients rely on.)
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Coroutine, Iterator, Mapping
from functools import cached_property
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.types import Message

from trading_system.entrypoints.http.auth import Guard
from trading_system.kernel.errors import TooLarge

_FORM_ROOM = 64 * 1024  # multipart boundaries and the form's other fields
# What strict mode refuses and lax mode would have coerced: 0/"true" for a boolean, "5" or 5.0
# for an integer.
_COERCIONS = frozenset({"bool_type", "int_type"})


class GuardedRoute(APIRoute):
    """A route whose body is read after its key check, within a limit, as strict JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        route_keys = [f"{method} {self.path}" for method in self.methods or ()]

        async def guarded(request: Request) -> Response:
            guards: Mapping[str, Guard] = request.app.state.guards  # set by create_app
            for key in route_keys:
                if key in guards:
                    guards[key].check(request)  # before the body: an anonymous request reads nothing
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
                            if self._body_type is not None:
                                refuse_coercions(self._body_type, body)
            return await handler(request)

        return guarded

    @cached_property
    def _body_type(self) -> TypeAdapter[Any] | None:
        """The JSON body's type when it has a boolean or an integer to hold strictly (built on
        first use: a Lambda builds only the routes it runs). None otherwise, so a body with
        neither (a batch of bars) is validated once, not twice."""
        if self.body_field is None or isinstance(self.body_field.field_info, Form):
            return None
        annotation: Any = self.body_field.field_info.annotation
        adapter = TypeAdapter(annotation)
        return adapter if _validates_bool_or_int(adapter.core_schema) else None


def refuse_coercions(body_type: TypeAdapter[Any], body: bytes) -> None:
    """RequestValidationError for each boolean or integer that only lax mode would take."""
    try:
        body_type.validate_json(body, strict=True)
    except ValidationError as error:
        coerced = [
            {**e, "loc": ("body", *e["loc"])}
            for e in error.errors(include_url=False)
            if e["type"] in _COERCIONS
        ]
        if coerced:
            raise RequestValidationError(coerced) from None


def _validates_bool_or_int(schema: Any) -> bool:
    """Whether a pydantic core schema validates a boolean or an integer somewhere (what a custom
    validator only shows in its OpenAPI schema does not count)."""
    if isinstance(schema, dict):
        if schema.get("type") in ("bool", "int"):
            return True
        return any(
            _validates_bool_or_int(value)
            for key, value in schema.items()
            if key not in ("json_schema_input_schema", "metadata")
        )
    if isinstance(schema, (list, tuple)):
        return any(_validates_bool_or_int(value) for value in schema)
    return False


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
    """The body's JSON; RequestValidationError for a body that is not UTF-8 and naming each NaN
    or Infinity; JSONDecodeError as json raises it (FastAPI reports that one itself)."""
    try:
        text = body.decode("utf-8")  # JSON is UTF-8 (RFC 8259); FastAPI would answer a bare 400
    except UnicodeDecodeError as error:
        reason = f"the body is not UTF-8 text (byte {error.start})"
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": reason, "input": None}]
        ) from None
    parsed = json.loads(text, parse_constant=_NonFinite, parse_float=_finite)
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
