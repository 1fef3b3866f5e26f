"""Conventions shared by the routers: query parameters validated as their message's fields,
dates and times in, ISO 8601 UTC out, and large pages serialised with orjson and linked to the
next one."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

import annotated_types
import orjson
from fastapi import Query, Request, Response
from pydantic import BaseModel

_CONSTRAINTS = {
    annotated_types.Ge: "ge",
    annotated_types.Gt: "gt",
    annotated_types.Le: "le",
    annotated_types.Lt: "lt",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}


def like(message: type[BaseModel], field: str) -> Any:
    """A query parameter with the default and the limits of the message's field, so each limit
    is declared once, on the message, and the OpenAPI document shows it."""
    info = message.model_fields[field]
    constraints = {
        _CONSTRAINTS[type(m)]: getattr(m, _CONSTRAINTS[type(m)])
        for m in info.metadata
        if type(m) in _CONSTRAINTS
    }
    return Query(default=info.default, description=info.description, **constraints)


def moment(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def page_response(request: Request, body: dict[str, Any], next_start: datetime | None) -> Response:
    """A page of tens of thousands of rows: orjson is several times faster than json (NaN becomes
    null), and a `Link: rel="next"` header points at the next page when there is one."""
    headers = {}
    if next_start is not None:
        params = dict(request.query_params) | {"start": iso(next_start)}
        headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)
