"""JSON request bodies as RFC 8259 defines them. Python's json module accepts NaN, Infinity and
-Infinity as numbers, and reads 1e400 as infinity; JSON has none of them, and a NaN price stored
as a bar, or an infinite limit, has no meaning anywhere downstream. A body carrying one is a 422
naming every field where it appears, before any handler sees it; the body is parsed once, and
FastAPI reads that parse."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


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


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed strictly (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            content_type = request.headers.get("content-type", "")
            if request.method in ("POST", "PUT", "PATCH") and (not content_type or "json" in content_type):
                body = await request.body()
                # A body that is not JSON at all: FastAPI parses it again and says where it breaks.
                with contextlib.suppress(json.JSONDecodeError):
                    if body:
                        request._json = parse_strict(body)  # what Request.json() returns from now on
            return await handler(request)

        return strict
