"""The path the router reads: a segment's own `%` and `/` encoded, from the raw path locally and
from the route API Gateway matched in AWS; and a path parameter decoded back before it is checked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from trading_system.entrypoints.http.app import EncodedSlashes
from trading_system.entrypoints.http.params import from_path, symbol_from_path


def routed_path(scope: dict[str, Any]) -> str:
    """The path the app behind the middleware is handed."""
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    async def nothing() -> Any:
        return None

    async def ignore(message: Any) -> None:
        return None

    asyncio.run(EncodedSlashes(inner)({"type": "http", **scope}, nothing, ignore))
    return seen[0]


@pytest.mark.parametrize(
    ("raw", "decoded", "routed"),
    [
        (b"/v1/bars/BTC%2FUSD", "/v1/bars/BTC/USD", "/v1/bars/BTC%2FUSD"),
        (b"/v1/bars/btc%2fusd", "/v1/bars/btc/usd", "/v1/bars/btc%2Fusd"),
        (
            b"/v1/symbols/BTC%2FUSD/corporate-actions",
            "/v1/symbols/BTC/USD/corporate-actions",
            "/v1/symbols/BTC%2FUSD/corporate-actions",
        ),
        (b"/v1/bars/A%25B", "/v1/bars/A%B", "/v1/bars/A%25B"),  # a % of its own stays one
        (b"/v1/bars/A%20B", "/v1/bars/A B", "/v1/bars/A B"),  # nothing else is re-encoded
        (b"/v1/bars/AAPL", "/v1/bars/AAPL", "/v1/bars/AAPL"),
    ],
)
def test_locally_the_raw_path_says_which_slashes_separate(raw: bytes, decoded: str, routed: str) -> None:
    assert routed_path({"path": decoded, "raw_path": raw}) == routed


def gateway(path: str, route_key: str, params: dict[str, str] | None) -> dict[str, Any]:
    event = {"version": "2.0", "routeKey": route_key, "rawPath": path, "pathParameters": params}
    return {"path": path, "raw_path": None, "aws.event": event}


def test_behind_api_gateway_the_matched_route_says_which_slashes_separate() -> None:
    pair = gateway("/v1/bars/BTC/USD", "GET /v1/bars/{symbol}", {"symbol": "BTC/USD"})
    assert routed_path(pair) == "/v1/bars/BTC%2FUSD"
    nested = gateway(
        "/v1/accounts/a/readers/x/y",
        "DELETE /v1/accounts/{account_id}/readers/{user}",
        {"account_id": "a", "user": "x/y"},
    )
    assert routed_path(nested) == "/v1/accounts/a/readers/x%2Fy"
    assert (
        routed_path(gateway("/v1/bars/AAPL", "GET /v1/bars/{symbol}", {"symbol": "AAPL"})) == "/v1/bars/AAPL"
    )
    assert routed_path(gateway("/v1/symbols", "GET /v1/symbols", None)) == "/v1/symbols"
    # `$default` names no template: the path is left as Mangum gave it
    assert routed_path(gateway("/v1/x/A/B", "$default", {"symbol": "A/B"})) == "/v1/x/A/B"


def test_a_path_parameter_is_decoded_back_exactly() -> None:
    assert from_path("BTC%2FUSD") == "BTC/USD"
    assert from_path("A%25B") == "A%B"
    assert from_path("plain") == "plain"


def test_a_symbol_in_a_path_is_decoded_once_more_and_checked() -> None:
    assert symbol_from_path("btc%2Fusd") == "BTC/USD"
    assert symbol_from_path("BTC%252FUSD") == "BTC/USD"  # encoded twice, for a decoding gateway
    with pytest.raises(ValueError, match="is not a valid symbol"):
        symbol_from_path("BTC%25252FUSD")  # three times: a % is left
    with pytest.raises(ValueError, match="nothing after its '/'"):
        symbol_from_path("BTC%2F")
