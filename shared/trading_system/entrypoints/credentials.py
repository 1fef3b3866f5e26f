"""Where a request's API key or bearer token is found, for every entry point that takes one: the
local app's route guards, the API's Lambda authorizer and both WebSocket hubs. Kept apart from
the HTTP app (no FastAPI here), so that the authorizer and the WebSocket `$connect` do not import
a web framework to read a header (FastAPI is 100-170 ms of a cold start)."""

from __future__ import annotations

API_KEY_HEADER = "x-api-key"


def token_from(headers: dict[str, str] | object, query: dict[str, str] | None = None) -> str | None:
    """The API key or bearer JWT: `x-api-key` header, `Authorization: Bearer <key or JWT>`, or
    (for browsers' WebSockets, which cannot set headers) the `api_key` query parameter.
    Authenticate tells the two apart (a JWT has dots, a key none)."""
    get = getattr(headers, "get")  # noqa: B009 - works for dicts and Starlette's Headers alike
    token = get(API_KEY_HEADER)
    if not token:
        authorization = get("authorization") or ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value:
            token = value
    if not token and query:
        token = query.get("api_key")
    return str(token).strip() if token else None
