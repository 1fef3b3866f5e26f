"""Conventions shared by the routers: query parameters validated as their message's fields,
dates and times in, ISO 8601 UTC out, and large pages serialised with orjson and linked to the
next one."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, get_args
from urllib.parse import unquote, urlencode

import annotated_types
import orjson
from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

# From `symbols`, where they live (`domain` re-exports them): a route that takes no symbol, as
# health, does not pay for building the market data models.
from trading_system.market_data.symbols import SYMBOL_INPUT_PATTERN, parse_symbol, symbol_of_segment

_CONSTRAINTS = {
    annotated_types.Ge: "ge",
    annotated_types.Gt: "gt",
    annotated_types.Le: "le",
    annotated_types.Lt: "lt",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}


def like(message: type[BaseModel], field: str, in_path: bool = False, description: str | None = None) -> Any:
    """A query (or path) parameter with the default and the limits of the message's field, so
    each limit is declared once, on the message, and the OpenAPI document shows it: a request
    the document allows is not refused for a limit it does not show."""
    info = message.model_fields[field]
    constraints: dict[str, Any] = {}
    is_symbol = False
    for item in _metadata_of(info):
        if type(item) in _CONSTRAINTS:
            name = _CONSTRAINTS[type(item)]
            constraints[name] = getattr(item, name)
        elif getattr(item, "pattern", None) is not None:
            constraints["pattern"] = item.pattern
        elif getattr(item, "func", None) is parse_symbol:
            constraints["pattern"] = SYMBOL_INPUT_PATTERN
            is_symbol = True
    described = description or info.description
    if in_path:
        if is_symbol:
            said = f"{described}; " if described else ""
            described = f"{said}a pair's slash percent-encoded, as in /v1/bars/BTC%2FUSD"
        param = Path(description=described, **constraints)
        # Decoded before the limits are checked (a validator shows in no schema, the limits do).
        param.metadata.append(BeforeValidator(symbol_from_path if is_symbol else from_path))
        return param
    return Query(default=info.default, description=described, **constraints)


def from_path(value: Any) -> Any:
    """A path parameter's value: the router hands it with its own `%` and `/` still encoded
    (app.EncodedSlashes), so that `/v1/bars/BTC%2FUSD` reaches `/v1/bars/{symbol}`."""
    return unquote(value) if isinstance(value, str) and "%" in value else value


def symbol_from_path(value: Any) -> Any:
    """A symbol's path segment, decoded and checked: BTC%2FUSD is BTC/USD. A symbol never holds
    a `%`, so one left after that is a second encoding, decoded too: a gateway that decodes the
    path before it routes (API Gateway's HTTP API may) needs the slash encoded twice, BTC%252FUSD.
    Checked here, so that a bad one is refused with what is wrong with it, not with the pattern."""
    value = from_path(value)
    if not isinstance(value, str):
        return value
    return parse_symbol(symbol_of_segment(value) if "%" in value else value)


def _metadata_of(info: FieldInfo) -> list[Any]:
    """The field's constraints and validators, with those of an optional annotated type
    (`AccountId | None` keeps AccountId's inside the union)."""
    found = list(info.metadata)
    for member in get_args(info.annotation):
        for item in getattr(member, "__metadata__", ()):
            found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return found


def _not_a_number(value: Any) -> Any:
    """Pydantic reads "0.5" as a Unix time; the document says an ISO 8601 date or date-time."""
    if isinstance(value, str) and _is_number(value):
        raise ValueError("use an ISO 8601 date or date-time, e.g. 2024-01-31 or 2024-01-31T14:30:00Z")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# A date or a date-time in a query string, and nothing else.
IsoMoment = Annotated[datetime | date, BeforeValidator(_not_a_number)]


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
