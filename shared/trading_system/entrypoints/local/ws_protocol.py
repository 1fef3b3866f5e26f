"""uvicorn's WebSocket protocol for `trading serve`, offering the stream hub direct frame writes.

The hub encodes an event's frame once per channel; writing those bytes to each connection's
transport costs a few microseconds, where an ASGI `websocket.send` per client (the hub's queue,
a task wake-up, Starlette's, uvicorn's and websockets' send layers) cost about 20 µs each
(docs/BENCHMARKS.md, issue 10). ASGI has no way to hand an app a connection's transport, so this
subclass of uvicorn's own protocol (the one `ws="auto"` picks when `websockets` is installed)
offers a `write_frame` callable in the scope's extensions (hub.FRAMES_EXTENSION).

It relies on attributes of uvicorn's WebSocketsSansIOProtocol that are not a public API:
`scope`, `transport`, `conn` (websockets' ServerProtocol) and `close_sent`.
tests/integration/test_stream_hub.py serves the hub through this class with uvicorn and fails
if any of them changes (the pins are in pyproject.toml).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from trading_system.entrypoints.local.hub import FRAMES_EXTENSION

WRITE_BUFFER_LIMIT = 64 * 1024
"""Above this many unsent bytes a connection takes no direct writes (a slow reader): its frames
wait in the hub's queue for it instead. asyncio's default high-water mark, where uvicorn's own
sends start to wait too."""


class StreamWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sans-I/O protocol, plus direct frame writes for the stream hub."""

    async def run_asgi(self) -> None:
        # The handshake has been checked and its extensions negotiated (handle_connect), the app
        # not yet called. A frame written directly is not compressed: offered only when no
        # extension (permessage-deflate) was agreed, so every frame is valid as it is.
        if not self.conn.extensions:
            extensions = cast(dict[str, Any], self.scope.setdefault("extensions", {}))
            extensions[FRAMES_EXTENSION] = {"write_frame": self.write_frame}
        await super().run_asgi()

    def write_frame(self, frame: bytes) -> bool:
        """Write an encoded frame now (hub.WriteFrame). On the event loop only, as every write
        to the transport is, so frames never interleave within one another."""
        transport: asyncio.Transport = self.transport
        if (
            self.close_sent
            or self.conn.state is not State.OPEN
            or transport.is_closing()
            or transport.get_write_buffer_size() >= WRITE_BUFFER_LIMIT
        ):
            return False
        transport.write(frame)
        return True
