"""The live stream's catalog entries (AWS): the WebSocket routes cover the protocol, and the
fan-out hears only events the protocol streams, limited to market data, signals and orders."""

from __future__ import annotations

import typing

import pytest

from trading_system.catalog import (
    CATALOG,
    STREAMED_EVENTS,
    Streamed,
    WebSocket,
    subscriptions,
    websocket_routes,
)
from trading_system.entrypoints.schemas import domain_events
from trading_system.entrypoints.stream import ClientMessage, channels_of
from trading_system.kernel import kinds
from trading_system.kernel.messages import Envelope


def test_the_routes_are_the_protocols_actions_and_the_lifecycle() -> None:
    actions = set(typing.get_args(ClientMessage.model_fields["action"].annotation))
    assert set(websocket_routes()) == {"$connect", "$disconnect", "$default", *actions}
    routes = [r for f in CATALOG if isinstance(f.trigger, WebSocket) for r in f.trigger.routes]
    assert len(routes) == len(set(routes)), "a route is served by one function"


def test_only_connect_reads_keys_and_no_stream_function_touches_money() -> None:
    for function in {f.name: f for f in CATALOG if isinstance(f.trigger, WebSocket | Streamed)}.values():
        granted = function.kinds
        assert kinds.WS_CONNECTIONS in granted, function.name
        assert (kinds.API_KEYS in granted) == (function.name == "stream_connect"), function.name
        assert not any(k.startswith(("trading_", kinds.STREAM)) for k in granted), function.name


def test_one_fan_out_hears_each_streamed_event_and_the_local_bus_does_not_route_to_it() -> None:
    (fan_out,) = [f for f in CATALOG if isinstance(f.trigger, Streamed)]
    assert fan_out.trigger == Streamed(*STREAMED_EVENTS)
    assert fan_out.name not in {name for names in subscriptions().values() for name in names}
    known = domain_events()
    assert set(STREAMED_EVENTS) <= set(known)


@pytest.mark.parametrize("event_type", STREAMED_EVENTS)
def test_each_streamed_event_has_a_public_or_order_channel(event_type: str) -> None:
    """What a client may see: market data, signals, orders (their fills are OrderFilled)."""
    payload = {"symbols": [{"symbol": "AAPL"}], "timeframe": "1d"} if event_type == "BarsIngested" else {}
    channels = channels_of(
        Envelope(event_type=event_type, version=1, correlation_id="c", producer="p", payload=payload)
    )
    specific = [c for c in channels if not c.startswith("events")]
    assert specific and all(c.startswith(("bars:", "symbols", "signals", "orders")) for c in specific)


def test_triggers_need_something_to_trigger_on() -> None:
    with pytest.raises(ValueError):
        WebSocket()
    with pytest.raises(ValueError):
        Streamed()
