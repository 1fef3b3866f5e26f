"""The local WebSocket endpoint: the same protocol as the API Gateway WebSocket API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict

from fastapi import WebSocket, WebSocketDisconnect

from trading_system.entrypoints.http.auth import token_from
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


class _Connection:
    def __init__(self, socket: WebSocket, principal: Principal, sees: Sees):
        self.socket = socket
        self.principal, self.sees = principal, sees
        self.channels: set[str] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)  # frames, as sent


class StreamHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_channel: dict[str, set[_Connection]] = defaultdict(set)

    def publish(self, envelope: Envelope) -> None:
        """Called from any thread when an event is published on the bus."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._fan_out, envelope)

    def _fan_out(self, envelope: Envelope) -> None:
        for channel in channels_of(envelope):
            subscribers = list(self._by_channel.get(channel, ()))
            if not subscribers:
                continue
            # One frame for all of a channel's subscribers: serialising the envelope once per
            # client was most of the fan-out's time with a thousand of them.
            frame = json.dumps(push_message(channel, envelope))
            for connection in subscribers:
                try:
                    connection.queue.put_nowait(frame)
                except asyncio.QueueFull:
                    log.warning("dropping a WebSocket client that fell %d messages behind", QUEUE_LIMIT)
                    self._forget(connection)
                    connection.queue = asyncio.Queue(1)
                    connection.queue.put_nowait(None)

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
        connection = _Connection(socket, principal, sees_through(lambda query: bus.ask(query, as_subscriber)))
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
        await connection.socket.close(code=1013, reason="too slow")

    def _forget(self, connection: _Connection) -> None:
        for channel in connection.channels:
            self._by_channel[channel].discard(connection)
