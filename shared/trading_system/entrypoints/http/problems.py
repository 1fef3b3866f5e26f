"""Errors as RFC 9457 problem documents (application/problem+json), and their place in the
OpenAPI document: every operation lists each error status it can answer, with this media type."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from trading_system.kernel.errors import DomainError, Problem, RateLimited

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
SCHEMA_NAME = "Problem"

# What problem_response writes: the members of RFC 9457 and ours (errors, error_count,
# correlation_id); an error may add more (a rejected order carries the order).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": SCHEMA_NAME,
    "description": "An RFC 9457 problem document",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "/problems/<slug>, e.g. /problems/not-found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request's path"},
        "errors": {
            "type": "array",
            "description": "what is wrong with the request, up to 100 items",
            "items": {
                "type": "object",
                "required": ["reason"],
                "properties": {
                    "reason": {"type": "string"},
                    "field": {"type": "string"},
                    "row": {"type": "integer", "description": "1-based row of a batch"},
                    "value": {"description": "the value refused"},
                },
            },
        },
        "error_count": {"type": "integer", "description": "every problem found, listed or not"},
        "correlation_id": {"type": "string"},
    },
    "additionalProperties": True,
}

# What each error status means on this API, as the OpenAPI document describes it.
ERROR_STATUSES: dict[int, str] = {
    401: "No API key, or one that is unknown or revoked",
    403: "The key's role may not use this route",
    404: "Something the request names does not exist",
    409: "A conflict with the current state (e.g. a write lost a race: retry)",
    413: "The body is larger than the server accepts",
    422: "The request is not valid: `errors` says where and why",
    500: "An unexpected error, logged with the correlation id",
    503: "A service the route needs did not answer (e.g. SNS for an e-mail alert): retry later",
}


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    slug: str,
    problems: list[Problem] | None = None,
    total: int | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if problems:
        body["errors"] = [p.as_dict() for p in problems]
        body["error_count"] = total if total is not None else len(problems)
    body.update(extensions or {})
    correlation_id = getattr(request.state, "correlation_id", None)
    if correlation_id:
        body["correlation_id"] = correlation_id
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_responses(statuses: Iterable[int]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error statuses: each a problem document."""
    content = {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}}}
    return {
        status: {"description": ERROR_STATUSES[status], "content": content} for status in sorted(statuses)
    }


def _headers_of(error: DomainError) -> dict[str, str] | None:
    if error.status == 401:
        return {"WWW-Authenticate": 'ApiKey header="x-api-key"'}
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after_s)}
    return None


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        total = getattr(error, "total", None)
        return problem_response(
            request,
            error.status,
            error.title,
            error.detail,
            error.type_slug,
            error.problems,
            total,
            _headers_of(error),
            error.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_from_pydantic(e) for e in error.errors()]
        detail = "; ".join(f"{p.field}: {p.reason}" if p.field else p.reason for p in problems[:5])
        return problem_response(
            request, 422, "Validation failed", detail, "validation-failed", problems[:100], len(problems)
        )

    @app.exception_handler(ValidationError)
    async def invalid_message(request: Request, error: ValidationError) -> JSONResponse:
        # A route built a command or query from path/query values its model refuses.
        problems = [_from_pydantic(e) for e in error.errors()]
        detail = "; ".join(f"{p.field}: {p.reason}" if p.field else p.reason for p in problems[:5])
        return problem_response(
            request, 422, "Validation failed", detail, "validation-failed", problems[:100], len(problems)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        title = {404: "Not found", 405: "Method not allowed"}.get(error.status_code, "HTTP error")
        # its headers too: a 405's Allow says which methods the path takes
        return problem_response(
            request, error.status_code, title, str(error.detail), slug, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "Internal error", "an unexpected error occurred; it has been logged", "internal"
        )


def _from_pydantic(error: Any) -> Problem:
    """`("body", "bars", 3, "open")` -> row 4 (1-based), field `open`."""
    location = [part for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    row = None
    names = []
    for part in location:
        if isinstance(part, int) and row is None:
            row = part + 1
        elif not isinstance(part, int):
            names.append(str(part))
    # Union members show up in the location ("datetime", "date"); they name no field.
    names = [n for n in names if n not in ("datetime", "date", "function-after[parse_symbol(), str]")]
    value = error.get("input")
    shown = value if isinstance(value, (str, int, float, bool)) else None
    if isinstance(shown, float) and not math.isfinite(shown):
        shown = str(shown)  # a problem document is JSON too: no NaN in it
    return Problem(error.get("msg", "invalid"), field=".".join(names) or None, row=row, value=shown)
