"""The live-stream protocol, shared by the local WebSocket hub and the AWS fan-out.

Client -> server: {"action": "subscribe" | "unsubscribe", "channels": [...]}, {"action": "ping"}.
Server -> client: {"channel": ..., "event": <envelope>}, and {"type": "subscribed" | "unsubscribed"
| "pong" | "error", ...} replies.

Channels, and who may subscribe to them (`audience`; a refused channel is an error frame that
names it, and the client's other channels stand):
- everyone with a key: `bars:<SYMBOL>`, `bars:<SYMBOL>:<timeframe>` (a pair as it is named:
  `bars:BTC/USD:1m`; a symbol has no colon, so the timeframe is unambiguous), `symbols`, `signals` (the
  indicators' SignalGenerated: market data, shared by all), and `events:<Type>` of those events;
- the owner of the thing, its readers, and admins: `orders:<account_id>` and
  `positions:<account_id>` (that account's order and position events), `signals:<scanner_id>`
  (that scanner's SignalDetected), `deployments:<deployment_id>`;
- admins only, as they carry every user's events: `events`, any other `events:<Type>`, `orders`,
  `positions`, `scans` (every scanner's SignalDetected), `backtests` (backtests and sweeps
  queued, completed, failed, and a sweep's blocks), `deployments`.
A subscription is checked when it is made: a reader whose grant is revoked keeps the channel
until the connection closes (at most 2 hours in AWS).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from trading_system.kernel.messages import Envelope
from trading_system.market_data.symbols import SYMBOL_RULE

MAX_CHANNELS = 200
_ID = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
_CHANNEL = re.compile(
    r"^(events(:[A-Za-z]+)?|symbols|orders|positions|signals|scans|backtests|deployments"
    rf"|(orders|positions|signals|deployments):{_ID}"
    rf"|bars:{SYMBOL_RULE}(:(1m|5m|15m|1h|1d))?)$"
)
PUBLIC_EVENTS = frozenset({"BarsIngested", "SymbolRegistered", "SignalGenerated"})
# A channel `<prefix>:<id>` belongs to the thing of this kind with that id.
OWNED_CHANNELS = {
    "orders": "account",
    "positions": "account",
    "signals": "scanner",
    "deployments": "deployment",
}

Audience = Literal["everyone", "admin"] | tuple[str, str]
"""Who may subscribe to a channel: everyone, admins, or (kind, id): those who may see that thing."""

Sees = Callable[[str, str], bool]
"""Whether the subscriber may see the thing of a kind ("account", "scanner", "deployment") and id."""


class ClientMessage(BaseModel):
    action: Literal["subscribe", "unsubscribe", "ping"]
    channels: list[str] = Field(default_factory=list, max_length=MAX_CHANNELS)


def parse_client_message(text: str) -> ClientMessage:
    """The client's message, or ValueError with a message fit to send back."""
    try:
        message = ClientMessage.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise ValueError(f"{where}: {first['msg']}") from None
    bad = [c for c in message.channels if not _CHANNEL.match(c)]
    if bad:
        raise ValueError(
            f"unknown channel(s) {', '.join(bad)}: use bars:<SYMBOL>[:tf], symbols, signals, "
            "orders:<account_id>, positions:<account_id>, signals:<scanner_id>, deployments:<deployment_id>, "
            "events:<Type>, or (admins) events, orders, positions, scans, backtests, deployments"
        )
    return message


def audience(channel: str) -> Audience:
    prefix, _, rest = channel.partition(":")
    if prefix == "bars" or channel in ("symbols", "signals"):
        return "everyone"
    if prefix == "events" and rest in PUBLIC_EVENTS:
        return "everyone"
    if rest and prefix in OWNED_CHANNELS:
        return OWNED_CHANNELS[prefix], rest
    return "admin"


def refused(channels: list[str], is_admin: bool, sees: Sees) -> list[str]:
    """The channels, of those asked for, that this subscriber may not have."""
    out = []
    for channel in channels:
        who = audience(channel)
        if who == "everyone" or is_admin:
            continue
        if who == "admin" or not sees(*who):
            out.append(channel)
    return out


def refusal(channels: list[str]) -> dict[str, Any]:
    """The error frame for refused channels: the same whether the thing is another user's or
    does not exist, so ids do not leak."""
    return {
        "type": "error",
        "channels": channels,
        "detail": f"not subscribed to {', '.join(channels)}: no such account, scanner or deployment of "
        "yours, or a channel for admins only (events, orders, positions, scans, backtests, deployments)",
    }


def channels_of(envelope: Envelope) -> list[str]:
    channels = ["events", f"events:{envelope.event_type}"]
    payload: dict[str, Any] = envelope.payload
    if envelope.event_type == "BarsIngested":
        for entry in payload["symbols"]:
            channels += [f"bars:{entry['symbol']}", f"bars:{entry['symbol']}:{payload['timeframe']}"]
    elif envelope.event_type == "SymbolRegistered":
        channels.append("symbols")
    elif envelope.event_type.startswith("Order"):
        channels += ["orders", *_owned("orders", payload.get("account_id"))]
    elif envelope.event_type.startswith("Position"):
        channels += ["positions", *_owned("positions", payload.get("account_id"))]
    elif envelope.event_type == "SignalGenerated":
        channels.append("signals")
    elif envelope.event_type == "SignalDetected":
        channels += ["scans", *_owned("signals", payload.get("scanner_id"))]
    elif envelope.event_type.startswith(("Backtest", "Sweep")):
        channels.append("backtests")
    elif envelope.event_type.startswith("Deployment") or envelope.event_type == "StaleBars":
        channels += ["deployments", *_owned("deployments", payload.get("deployment_id"))]
    return channels


def _owned(prefix: str, thing_id: object) -> list[str]:
    return [f"{prefix}:{thing_id}"] if thing_id else []


def push_message(channel: str, envelope: Envelope) -> dict[str, Any]:
    return {"channel": channel, "event": envelope.model_dump(mode="json")}


def sees_through(ask: Callable[[Any], object]) -> Sees:
    """`Sees` answered by the contexts' own queries, asked as the subscriber (`ask` carries its
    context): a NotFound means not theirs, or not there."""
    from trading_system.kernel.errors import NotFound

    def sees(kind: str, thing_id: str) -> bool:
        try:
            ask(_query(kind, thing_id))
        except (NotFound, ValueError):  # ValueError: an id that cannot be one (pydantic's)
            return False
        return True

    return sees


def _query(kind: str, thing_id: str) -> object:
    # Imported here: the stream's functions load a context only when a subscription needs it.
    if kind == "account":
        from trading_system.trading.queries import GetAccount

        return GetAccount(account_id=thing_id)
    if kind == "scanner":
        from trading_system.scanning.queries import GetScanner

        return GetScanner(scanner_id=thing_id)
    from trading_system.strategies.queries import GetDeployment

    return GetDeployment(deployment_id=thing_id)
