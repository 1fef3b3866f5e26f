"""The local WebSocket endpoint: the same protocol as the API Gateway WebSocket API.

How an event reaches many clients fast (issue 10, docs/BENCHMARKS.md):
- The frames are made once per channel, in the thread that publishes: the JSON text, and the
  encoded WebSocket frame (a server's frames are unmasked, so its bytes are the same for every
  client of the channel).
- The server may offer, in the ASGI scope's extensions (FRAMES_EXTENSION), to write such a frame
  straight to a connection (`trading serve` does: local/ws_protocol.py). Then the fan-out is one
  call per client, in one event-loop callback. Without it (the test client, another server), or
  while a connection has frames waiting, the frames go through the connection's queue and its
  sender task, as ASGI messages.
- The publishing thread waits, briefly, while the event loop writes the frames. It would
  otherwise go on to run the event's subscribers (about 90 ms of CPU for a bar), and the loop
  would get the GIL only in switch-interval slices while it writes to a thousand sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import threading
from collections import defaultdict
from collections.abc import Callable

from fastapi import WebSocket, WebSocketDisconnect

from trading_system.entrypoints.credentials import token_from
from trading_system.entrypoints.stream import (
    Sees,
    channels_of,
    parse_client_message,
    push_message,
    refusal,
    refused,
    sees_through,
)
from trading_system.identity.domain import authorize
from trading_system.identity.queries import Authenticate
from trading_system.kernel.bus import MessageBus, MessageContext
from trading_system.kernel.errors import DomainError
from trading_system.kernel.messages import Envelope
from trading_system.kernel.principal import Principal, Role

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000  # a client this far behind is dropped rather than let memory grow
FRAMES_EXTENSION = "trading_system.stream.frames"
"""The ASGI scope extension a server offers direct writes with: {"write_frame": WriteFrame}."""
HANDOFF_WAIT_S = 0.05
"""How long a publishing thread waits for the event loop to write an event's frames: the
fan-out takes milliseconds; a loop busy elsewhere must not hold the publisher up for longer."""

WriteFrame = Callable[[bytes], bool]
"""Writes one encoded server frame to the connection at once and returns True; or writes
nothing and returns False when the connection cannot take it now (closing, or its write buffer
is full: a slow reader). Called on the event loop only."""

Push = tuple[str, str, bytes]
"""One channel's message for an event: the channel, the JSON text, the encoded text frame."""


def text_frame(payload: bytes) -> bytes:
    """An unfragmented, unmasked WebSocket text frame (RFC 6455 §5.2) as a server sends it,
    without extensions (the server offers FRAMES_EXTENSION only when none was negotiated)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class _Connection:
    __slots__ = ("channels", "principal", "queue", "queued", "sees", "socket", "write_frame")

    def __init__(self, socket: WebSocket, principal: Principal, sees: Sees, write_frame: WriteFrame | None):
        self.socket = socket
        self.principal, self.sees = principal, sees
        self.channels: set[str] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)  # frames, as sent
        # Frames handed to the sender task and not sent yet: while there are any, new frames
        # queue behind them, so a frame written directly never overtakes one.
        self.queued = 0
        self.write_frame = write_frame


class StreamHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_channel: dict[str, set[_Connection]] = defaultdict(set)

    def publish(self, envelope: Envelope) -> None:
        """Called from any thread when an event is published on the bus; returns once the
        event loop has written the event's frames (or after HANDOFF_WAIT_S)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        pushes = self._pushes(envelope)
        if not pushes:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # published by a coroutine of the loop itself: no hand-off
            self._fan_out(pushes)
            return
        written = threading.Event()
        try:
            loop.call_soon_threadsafe(self._fan_out, pushes, written)
        except RuntimeError:  # the loop closed meanwhile
            return
        # Blocking here releases the GIL to the loop. Not waiting for the frames to be sent:
        # a slow client's frames wait in its own queue.
        written.wait(HANDOFF_WAIT_S)

    def _pushes(self, envelope: Envelope) -> list[Push]:
        """The event's message for each of its channels that has subscribers, serialised once.
        Runs in the publishing thread: it only looks subscribers up (a dict read, atomic under
        the GIL); the loop reads them again when it writes."""
        pushes = []
        for channel in channels_of(envelope):
            if self._by_channel.get(channel):
                text = json.dumps(push_message(channel, envelope))
                pushes.append((channel, text, text_frame(text.encode())))
        return pushes

    def _fan_out(self, pushes: list[Push], written: threading.Event | None = None) -> None:
        try:
            for channel, text, frame in pushes:
                for connection in list(self._by_channel.get(channel, ())):
                    write_frame = connection.write_frame
                    if write_frame is not None and not connection.queued and write_frame(frame):
                        continue
                    self._enqueue(connection, text)
        finally:
            if written is not None:
                written.set()

    def _enqueue(self, connection: _Connection, text: str) -> None:
        try:
            connection.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("dropping a WebSocket client that fell %d messages behind", QUEUE_LIMIT)
            self._forget(connection)
            connection.queue = asyncio.Queue(1)
            connection.queue.put_nowait(None)
        else:
            connection.queued += 1

    async def endpoint(self, socket: WebSocket) -> None:
        self._loop = asyncio.get_running_loop()
        token = token_from(socket.headers, dict(socket.query_params))
        try:
            if token is None:
                raise DomainError("an API key is required (api_key query parameter)", status=401)
            bus: MessageBus = socket.app.state.container.bus
            principal: Principal = bus.ask(Authenticate(token=token))
            authorize(principal, Role.VIEWER, "the stream")
        except DomainError as error:
            # Accept first: a close before the handshake completes becomes a bare HTTP 403,
            # and the client would never see the 4401/4403 code that says why.
            await socket.accept()
            await socket.close(code=4401 if error.status == 401 else 4403, reason=error.detail[:120])
            return
        await socket.accept()
        as_subscriber = MessageContext(principal=principal)
        sees = sees_through(lambda query: bus.ask(query, as_subscriber))
        offered = (socket.scope.get("extensions") or {}).get(FRAMES_EXTENSION) or {}
        connection = _Connection(socket, principal, sees, offered.get("write_frame"))
        sender = asyncio.create_task(self._send(connection))
        try:
            while True:
                await self._handle(connection, await socket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            self._forget(connection)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _handle(self, connection: _Connection, text: str) -> None:
        try:
            message = parse_client_message(text)
        except ValueError as error:
            await connection.socket.send_json({"type": "error", "detail": str(error)})
            return
        if message.action == "ping":
            await connection.socket.send_json({"type": "pong"})
        elif message.action == "subscribe":
            # The ownership checks read the store: off the event loop, so no other client waits.
            denied = await asyncio.to_thread(
                refused, message.channels, connection.principal.sees_all, connection.sees
            )
            if denied:  # the whole frame, as API Gateway's one reply per frame must
                await connection.socket.send_json(refusal(denied))
                return
            for channel in message.channels:
                connection.channels.add(channel)
                self._by_channel[channel].add(connection)
            await connection.socket.send_json({"type": "subscribed", "channels": sorted(connection.channels)})
        else:
            for channel in message.channels:
                connection.channels.discard(channel)
                self._by_channel[channel].discard(connection)
            await connection.socket.send_json({"type": "unsubscribed", "channels": message.channels})

    async def _send(self, connection: _Connection) -> None:
        while (message := await connection.queue.get()) is not None:
            await connection.socket.send_text(message)
            connection.queued -= 1
        await connection.socket.close(code=1013, reason="too slow")

    def _forget(self, connection: _Connection) -> None:
        for channel in connection.channels:
            self._by_channel[channel].discard(connection)
