"""The live stream in AWS: the API Gateway WebSocket API's routes and the fan-out, speaking the
protocol of entrypoints/stream.py as the local hub (entrypoints/local/hub.py) does.

- `$connect`: the key or token in the query string (`?api_key=...`; browsers cannot set headers)
  gets the HTTP API's check (identity's Authenticate, viewer role at least); a refusal is the
  handshake's HTTP 401 or 403 (API Gateway cannot accept and then close with the hub's 4401/4403).
- `subscribe`, `unsubscribe`, `ping` and `$default` (any other frame): the hub's replies, sent back
  by API Gateway as the route's response.
- `$disconnect`: the connection and its subscriptions are forgotten.
- the fan-out: each event goes, once per matching channel, to every connection subscribed to it,
  through the management API; gone connections (410) are forgotten; a message over API Gateway's
  128 KB limit is replaced by an error frame that names the event; posts run on a few threads, so
  a slow or failing post holds up no other connection's.

Heartbeats: API Gateway closes a connection idle for 10 minutes (and any after 2 hours). The server
cannot send WebSocket pings through API Gateway, so a client keeps an idle connection open by
sending `{"action": "ping"}` at least every 9 minutes (the reply is `{"type": "pong"}`), and
reconnects and resubscribes after 2 hours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol

from trading_system.entrypoints.credentials import token_from
from trading_system.entrypoints.stream import (
    MAX_CHANNELS,
    Sees,
    channels_of,
    parse_client_message,
    push_message,
    refusal,
    refused,
)
from trading_system.kernel.clock import Clock
from trading_system.kernel.connections import Connection, ConnectionStore, Posted
from trading_system.kernel.errors import DomainError
from trading_system.kernel.messages import Envelope
from trading_system.kernel.principal import Principal, Role

log = logging.getLogger(__name__)

# API Gateway closes every WebSocket connection after 2 hours; a row outliving that by a margin
# belongs to a connection whose $disconnect never arrived.
CONNECTION_LIFETIME = timedelta(hours=2, minutes=5)
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's limit on one WebSocket message
POSTERS = 16  # posts in flight at once

Response = dict[str, Any]


class Poster(Protocol):
    def post(self, connection_id: str, data: bytes) -> Posted: ...


def connect(
    event: dict[str, Any],
    authenticate: Callable[[str], Principal],
    connections: ConnectionStore,
    clock: Clock,
) -> Response:
    """$connect: a 200 opens the connection, any other status refuses the handshake."""
    # Here, not at the top: Identity's models, which the other stream functions never need
    from trading_system.identity.domain import authorize

    connection_id = event["requestContext"]["connectionId"]
    # A WebSocket event's headers keep the client's spelling (an HTTP API's are lower case)
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    token = token_from(headers, event.get("queryStringParameters"))
    try:
        if token is None:
            raise DomainError("an API key is required (api_key query parameter)", status=401)
        principal = authenticate(token)
        authorize(principal, Role.VIEWER, "the stream")
    except DomainError as error:
        status = 401 if error.status == 401 else 403
        log.info("refused stream connection %s: %s", connection_id, error.detail)
        return {"statusCode": status, "body": json.dumps({"type": "error", "detail": error.detail})}
    now = clock.now()
    connections.open(
        Connection(
            connection_id,
            principal.key_id,
            principal.role.value,
            now,
            now + CONNECTION_LIFETIME,
            user=principal.user,
        )
    )
    return {"statusCode": 200}


def message(
    event: dict[str, Any], connections: ConnectionStore, sees_for: Callable[[Principal], Sees]
) -> Response:
    """$disconnect and every frame a client sends (subscribe, unsubscribe, ping, $default).
    `sees_for(principal)` answers what the connection's principal may see (its subscriptions)."""
    request = event["requestContext"]
    connection_id = request["connectionId"]
    if request.get("eventType") == "DISCONNECT":
        connections.close(connection_id)
        return {"statusCode": 200}
    reply = answer(connections, connection_id, event.get("body") or "", sees_for)
    return {"statusCode": 200, "body": json.dumps(reply)}


def answer(
    connections: ConnectionStore, connection_id: str, text: str, sees_for: Callable[[Principal], Sees]
) -> dict[str, Any]:
    """The reply to one client frame: the local hub's replies, word for word. A subscription with
    a refused channel is refused whole (one reply per frame), so the client learns exactly what
    it has."""
    try:
        frame = parse_client_message(text)
    except ValueError as error:
        return {"type": "error", "detail": str(error)}
    if frame.action == "ping":
        return {"type": "pong"}
    try:
        if frame.action == "subscribe":
            current = connections.get(connection_id)
            if current is None:
                raise KeyError(connection_id)
            if len({*current.channels, *frame.channels}) > MAX_CHANNELS:
                return {"type": "error", "detail": f"at most {MAX_CHANNELS} channels per connection"}
            principal = current.principal
            denied = refused(frame.channels, principal.sees_all, sees_for(principal))
            if denied:
                return refusal(denied)
            return {
                "type": "subscribed",
                "channels": list(connections.subscribe(connection_id, frame.channels)),
            }
        connections.unsubscribe(connection_id, frame.channels)
    except KeyError:
        # Its row expired or was dropped as gone: the client's next step is to reconnect.
        return {"type": "error", "detail": "this connection is closed or expired: reconnect"}
    return {"type": "unsubscribed", "channels": frame.channels}


def frames_for(envelope: Envelope, connections: ConnectionStore) -> Iterable[tuple[str, bytes]]:
    """(connection id, message) for each subscriber of each of the event's channels."""
    for channel in channels_of(envelope):
        subscribers = connections.subscribers(channel)
        if not subscribers:
            continue
        data = json.dumps(push_message(channel, envelope)).encode()
        if len(data) > MAX_MESSAGE_BYTES:
            log.warning(
                "%s %s is %d bytes: too large to stream", envelope.event_type, envelope.event_id, len(data)
            )
            data = json.dumps(too_large(channel, envelope, len(data))).encode()
        for connection_id in subscribers:
            yield connection_id, data


def too_large(channel: str, envelope: Envelope, size: int) -> dict[str, Any]:
    return {
        "type": "error",
        "channel": channel,
        "detail": (
            f"{envelope.event_type} {envelope.event_id} is {size} bytes, over the stream's "
            f"{MAX_MESSAGE_BYTES // 1024} KB limit: read it from the HTTP API"
        ),
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
    }


def fan_out(envelope: Envelope, connections: ConnectionStore, poster: Callable[[], Poster]) -> dict[str, int]:
    """Post the event to its subscribers; answers how many posts were sent, gone and failed.
    `poster` is called only when there is something to post."""
    frames = list(frames_for(envelope, connections))
    counts = {"sent": 0, "gone": 0, "failed": 0}
    if not frames:
        return counts
    sender = poster()

    def post(frame: tuple[str, bytes]) -> Posted:
        try:
            return sender.post(*frame)
        except Exception:  # one connection's failure, whatever it is, is not the others'
            log.exception("posting to stream connection %s failed", frame[0])
            return "failed"

    with ThreadPoolExecutor(max_workers=min(POSTERS, len(frames))) as pool:
        results = list(pool.map(post, frames))
    gone: set[str] = set()
    for (connection_id, _), result in zip(frames, results, strict=True):
        counts[result] += 1
        if result == "gone":
            gone.add(connection_id)
    for connection_id in sorted(gone):
        connections.close(connection_id)
    return counts
