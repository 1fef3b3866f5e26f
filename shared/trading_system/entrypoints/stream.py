"""The live-stream protocol, shared by the local WebSocket hub and the AWS fan-out.

Client -> server: {"action": "subscribe" | "unsubscribe", "channels": [...]}, {"action": "ping"}.
Server -> client: {"channel": ..., "event": <envelope>}, and {"type": "subscribed" | "unsubscribed"
| "pong" | "error", ...} replies.
Channels: `events` (everything), `events:<EventType>`, `bars:<SYMBOL>:<timeframe>`,
`bars:<SYMBOL>`, `symbols`, `orders` (every order event), `positions` (every position event),
`signals` (SignalGenerated and SignalDetected), `backtests` (a backtest or sweep queued,
completed or failed, and each block of a sweep as it runs), `deployments` (started, paused,
stopped, ordered, stale bars).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from trading_system.kernel.messages import Envelope

MAX_CHANNELS = 200
_CHANNEL = re.compile(
    r"^(events(:[A-Za-z]+)?|symbols|orders|positions|signals|backtests|deployments|bars:[A-Z0-9][A-Z0-9._-]{0,19}(:(1m|5m|15m|1h|1d))?)$"
)


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
            f"unknown channel(s) {', '.join(bad)}: use events, events:<Type>, symbols, orders, "
            "positions, signals, backtests, deployments, bars:<SYMBOL>[:tf]"
        )
    return message


def channels_of(envelope: Envelope) -> list[str]:
    channels = ["events", f"events:{envelope.event_type}"]
    payload: dict[str, Any] = envelope.payload
    if envelope.event_type == "BarsIngested":
        for entry in payload["symbols"]:
            channels += [f"bars:{entry['symbol']}", f"bars:{entry['symbol']}:{payload['timeframe']}"]
    elif envelope.event_type == "SymbolRegistered":
        channels.append("symbols")
    elif envelope.event_type.startswith("Order"):
        channels.append("orders")
    elif envelope.event_type.startswith("Position"):
        channels.append("positions")
    elif envelope.event_type in ("SignalGenerated", "SignalDetected"):
        channels.append("signals")
    elif envelope.event_type.startswith(("Backtest", "Sweep")):
        channels.append("backtests")
    elif envelope.event_type.startswith("Deployment") or envelope.event_type == "StaleBars":
        channels.append("deployments")
    return channels


def push_message(channel: str, envelope: Envelope) -> dict[str, Any]:
    return {"channel": channel, "event": envelope.model_dump(mode="json")}
