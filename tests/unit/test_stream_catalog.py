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
from trading_system.entrypoints.stream import ClientMessage, audience, channels_of, refused
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
        # A subscription to an account's channel reads whose the account is (folded from the
        # account's stream), and nothing else of Trading's: no orders, fills or order streams.
        accounts = {kinds.ACCOUNTS, kinds.streams(kinds.ACCOUNT_STREAMS), kinds.QUOTES}
        assert (accounts <= set(granted)) == (function.name == "stream_messages"), function.name
        money = [k for k in granted if k.startswith(("trading_", kinds.STREAM)) and k not in accounts]
        assert money == [], function.name


def test_one_fan_out_hears_each_streamed_event_and_the_local_bus_does_not_route_to_it() -> None:
    (fan_out,) = [f for f in CATALOG if isinstance(f.trigger, Streamed)]
    assert fan_out.trigger == Streamed(*STREAMED_EVENTS)
    assert fan_out.name not in {name for names in subscriptions().values() for name in names}
    known = domain_events()
    assert set(STREAMED_EVENTS) <= set(known)


@pytest.mark.parametrize("event_type", STREAMED_EVENTS)
def test_each_streamed_event_has_a_channel_for_those_who_are_not_admins(event_type: str) -> None:
    """What a client may see: market data and indicator signals (everyone's), its scanners'
    signals and its accounts' orders (their fills are OrderFilled)."""
    payload: dict[str, object] = {"account_id": "acc-1", "scanner_id": "s-1"}
    if event_type == "BarsIngested":
        payload = {"symbols": [{"symbol": "AAPL"}], "timeframe": "1d"}
    channels = channels_of(
        Envelope(event_type=event_type, version=1, correlation_id="c", producer="p", payload=payload)
    )
    assert [c for c in channels if audience(c) != "admin" and not c.startswith("events")]


def test_triggers_need_something_to_trigger_on() -> None:
    with pytest.raises(ValueError):
        WebSocket()
    with pytest.raises(ValueError):
        Streamed()


@pytest.mark.parametrize(
    ("channel", "who"),
    [
        ("bars:AAPL", "everyone"),
        ("bars:AAPL:1h", "everyone"),
        ("symbols", "everyone"),
        ("signals", "everyone"),
        ("events:BarsIngested", "everyone"),
        ("events:OrderFilled", "admin"),
        ("events", "admin"),
        ("orders", "admin"),
        ("positions", "admin"),
        ("scans", "admin"),
        ("backtests", "admin"),
        ("deployments", "admin"),
        ("orders:acc-1", ("account", "acc-1")),
        ("positions:acc-1", ("account", "acc-1")),
        ("signals:s-1", ("scanner", "s-1")),
        ("deployments:d-1", ("deployment", "d-1")),
    ],
)
def test_who_may_subscribe_to_a_channel(channel: str, who: object) -> None:
    assert audience(channel) == who


def test_refused_asks_about_owned_channels_only_and_admins_get_everything() -> None:
    asked: list[tuple[str, str]] = []

    def sees(kind: str, thing_id: str) -> bool:
        asked.append((kind, thing_id))
        return thing_id == "mine"

    channels = ["bars:AAPL", "orders:mine", "orders:theirs", "events", "signals:mine"]
    assert refused(channels, False, sees) == ["orders:theirs", "events"]
    assert asked == [("account", "mine"), ("account", "theirs"), ("scanner", "mine")]
    asked.clear()
    assert refused(channels, True, sees) == [] and asked == []
