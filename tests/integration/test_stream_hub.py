"""The local stream hub served by uvicorn as `trading serve` serves it (ws_protocol.py's protocol,
no permessage-deflate): frames written straight to each connection's transport, in order, a slow
or stalled client neither delaying nor losing the others' frames, and the queue that still takes
a connection's frames while it is behind.

These tests also guard the uvicorn internals ws_protocol.py relies on (the protocol's `scope`,
`transport`, `conn`, `close_sent` and `run_asgi`): if uvicorn changes them, the direct writes
stop (`test_frames_are_written_straight_to_every_connection_in_order` fails) or fail.

The clients are raw sockets around the `websockets` package's sans-I/O client, so that a test
decides exactly when a client reads (the library's clients read in the background)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from trading_system.entrypoints.local import hub as hub_module
from trading_system.entrypoints.local.hub import StreamHub, text_frame
from trading_system.entrypoints.local.ws_protocol import WRITE_BUFFER_LIMIT, StreamWebSocketProtocol
from trading_system.identity.queries import Authenticate
from trading_system.kernel.bus import MessageContext
from trading_system.kernel.errors import DomainError, NotFound
from trading_system.kernel.messages import Envelope
from trading_system.kernel.principal import Principal, Role

TIMEOUT_S = 10.0
CHANNEL = "bars:AAA:1m"


def bus_ask(query: Any, context: MessageContext | None = None) -> Any:
    """Authenticate two keys; no account, scanner or deployment is anyone's."""
    if isinstance(query, Authenticate):
        roles = {"viewer-key": Role.VIEWER, "admin-key": Role.ADMIN}
        if query.token not in roles:
            raise DomainError("unknown API key", status=401)
        return Principal(key_id=f"id-{query.token}", role=roles[query.token], user="alice")
    raise NotFound("nothing is anyone's here")


@dataclass
class Served:
    hub: StreamHub
    port: int


@pytest.fixture
def served() -> Iterator[Served]:
    app = FastAPI()
    hub = StreamHub()
    app.state.container = SimpleNamespace(bus=SimpleNamespace(ask=bus_ask))
    app.add_api_websocket_route("/v1/stream", hub.endpoint)
    # As `trading serve` runs it (cli/runtime.py).
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        ws=StreamWebSocketProtocol,
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Served(hub, listening.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(TIMEOUT_S)
        listening.close()


class Client:
    """One WebSocket connection that reads only when told to."""

    def __init__(self, port: int, key: str = "viewer-key", receive_buffer: int | None = None):
        self.sock = socket.socket()
        if receive_buffer is not None:  # before connecting: the window is agreed then
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(("127.0.0.1", port))
        self.ws = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/v1/stream?api_key={key}"))
        self.ws.send_request(self.ws.connect())
        self.frames: list[Frame] = []
        self.closed = False
        self._flush()
        while not any(isinstance(event, Response) for event in self._read()):
            pass
        assert self.ws.handshake_exc is None, self.ws.handshake_exc

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def _read(self) -> list[object]:
        data = self.sock.recv(65536)
        if data:
            self.ws.receive_data(data)
        else:
            self.ws.receive_eof()
            self.closed = True
        events: list[object] = list(self.ws.events_received())
        self.frames += [event for event in events if isinstance(event, Frame)]
        self._flush()  # pongs, the close reply
        return events

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send_text(json.dumps(message).encode())
        self._flush()

    def receive(self) -> dict[str, Any]:
        """The next text message (TimeoutError after TIMEOUT_S; AssertionError once closed)."""
        while True:
            while self.frames:
                frame = self.frames.pop(0)
                if frame.opcode is Opcode.TEXT:
                    message: dict[str, Any] = json.loads(bytes(frame.data))
                    return message
                assert frame.opcode is not Opcode.CLOSE, f"closed: {self.ws.close_rcvd}"
            assert not self.closed, f"closed: {self.ws.close_rcvd}"
            self._read()

    def subscribe(self, *channels: str) -> dict[str, Any]:
        self.send({"action": "subscribe", "channels": list(channels)})
        return self.receive()

    def close(self) -> None:
        self.sock.close()


def bars(seq: int, symbol: str = "AAA", padding: int = 0) -> Envelope:
    payload: dict[str, Any] = {"timeframe": "1m", "symbols": [{"symbol": symbol}], "seq": seq}
    if padding:
        payload["padding"] = "x" * padding
    return Envelope(
        event_type="BarsIngested", version=1, correlation_id="c", producer="test", payload=payload
    )


def sequence(messages: list[dict[str, Any]]) -> list[int]:
    return [message["event"]["payload"]["seq"] for message in messages]


class WritesSpy:
    """Counts StreamWebSocketProtocol.write_frame's answers (the bound method is taken when a
    connection's app starts, so the spy is in place before the clients connect)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.written = self.refused = 0
        original = StreamWebSocketProtocol.write_frame

        def write_frame(protocol: StreamWebSocketProtocol, frame: bytes) -> bool:
            ok: bool = original(protocol, frame)
            if ok:
                self.written += 1
            else:
                self.refused += 1
            return ok

        monkeypatch.setattr(StreamWebSocketProtocol, "write_frame", write_frame)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_encoded_as_websockets_encodes_it(size: int) -> None:
    payload = b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


def test_frames_are_written_straight_to_every_connection_in_order(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = WritesSpy(monkeypatch)
    clients = [Client(served.port) for _ in range(3)]
    for client in clients:
        assert client.subscribe(CHANNEL) == {"type": "subscribed", "channels": [CHANNEL]}
    for seq in range(20):
        served.hub.publish(bars(seq))
    for client in clients:
        got = [client.receive() for _ in range(20)]
        assert {message["channel"] for message in got} == {CHANNEL}
        assert sequence(got) == list(range(20))
        client.send({"action": "ping"})  # and nothing else came before the pong
        assert client.receive() == {"type": "pong"}
        client.close()
    # Every frame went straight to its transport: the uvicorn internals ws_protocol.py uses work.
    assert (spy.written, spy.refused) == (60, 0)


def test_a_client_sees_only_the_channels_its_principal_may_have(served: Served) -> None:
    viewer, admin = Client(served.port, "viewer-key"), Client(served.port, "admin-key")
    assert viewer.subscribe("orders")["type"] == "error"  # admins only
    assert viewer.subscribe("orders:acc-bob")["type"] == "error"  # not theirs
    assert viewer.subscribe(CHANNEL) == {"type": "subscribed", "channels": [CHANNEL]}
    assert admin.subscribe("orders") == {"type": "subscribed", "channels": ["orders"]}
    order = Envelope(
        event_type="OrderFilled",
        version=1,
        correlation_id="c",
        producer="test",
        payload={"account_id": "acc-bob"},
    )
    served.hub.publish(order)
    served.hub.publish(bars(1))
    assert admin.receive()["event"]["event_type"] == "OrderFilled"
    assert viewer.receive()["channel"] == CHANNEL  # the order's frame never reached the viewer
    viewer.close()
    admin.close()


def test_an_event_published_on_the_event_loop_is_written_without_a_hand_off(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = WritesSpy(monkeypatch)
    client = Client(served.port)
    client.subscribe(CHANNEL)
    loop = served.hub._loop
    assert loop is not None

    async def publish() -> int:
        # Handed off, the fan-out could only run after this coroutine yields (and publish would
        # first wait HANDOFF_WAIT_S for it): written by the time publish returns, it was not.
        served.hub.publish(bars(7))
        return spy.written

    assert asyncio.run_coroutine_threadsafe(publish(), loop).result(TIMEOUT_S) == 1
    assert sequence([client.receive()]) == [7]
    client.close()


def _keep_reading(client: Client, count: int, into: list[dict[str, Any]]) -> threading.Thread:
    def read() -> None:
        while len(into) < count:
            into.append(client.receive())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_stalled_client_neither_delays_nor_costs_the_others_and_is_dropped(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropped sooner than 10,000 frames behind, yet with room for the fast readers, threads of a
    # busy test process, to fall a few megabytes behind now and then without being dropped.
    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 200)
    spy = WritesSpy(monkeypatch)
    stalled = Client(served.port, receive_buffer=4096)
    stalled.subscribe(CHANNEL)  # and then it reads nothing until the end
    fast = [Client(served.port) for _ in range(2)]
    for client in fast:
        client.subscribe(CHANNEL)
    frames, padding = 1000, 32 * 1024  # ~32 MB: more than loopback's socket buffers and the queue hold
    received: list[list[dict[str, Any]]] = [[] for _ in fast]
    readers = [_keep_reading(client, frames, got) for client, got in zip(fast, received, strict=True)]
    slowest = 0.0
    for seq in range(frames):
        started = time.monotonic()
        served.hub.publish(bars(seq, padding=padding))
        slowest = max(slowest, time.monotonic() - started)
    for reader in readers:
        reader.join(TIMEOUT_S * 3)
    # The others got every frame, in order, and the publisher never waited on the stalled one.
    assert [sequence(got) for got in received] == [list(range(frames))] * 2
    assert slowest < 2.0  # a publisher waits HANDOFF_WAIT_S at most, never for a client
    assert spy.refused > 0  # the stalled client's buffer filled: its frames queued, then it went
    assert len(served.hub._by_channel[CHANNEL]) == 2
    # What it did get is in order, without a gap, and then it was closed as too slow.
    got = []
    with pytest.raises(AssertionError, match="closed"):
        while True:
            got.append(stalled.receive())
    assert sequence(got) == list(range(len(got)))
    assert 0 < len(got) < frames
    assert stalled.ws.close_rcvd is not None
    assert (stalled.ws.close_rcvd.code, stalled.ws.close_rcvd.reason) == (1013, "too slow")
    for client in [stalled, *fast]:
        client.close()


def test_a_client_that_falls_behind_gets_every_frame_in_order_when_it_catches_up(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = WritesSpy(monkeypatch)
    behind = Client(served.port, receive_buffer=4096)
    behind.subscribe(CHANNEL)
    padding, frames = 16 * 1024, 600
    # The first half fills its socket buffers and WRITE_BUFFER_LIMIT, and the rest of it waits in
    # the hub's queue; the second half is published while it catches up, when its buffer has
    # room again before its queue is empty: a frame written directly then would overtake.
    assert frames // 2 * padding > 4 * WRITE_BUFFER_LIMIT
    for seq in range(frames // 2):
        served.hub.publish(bars(seq, padding=padding))
    assert spy.refused > 0
    got: list[dict[str, Any]] = []
    reader = _keep_reading(behind, frames, got)
    for seq in range(frames // 2, frames):
        served.hub.publish(bars(seq, padding=padding))
        time.sleep(0.001)
    reader.join(TIMEOUT_S * 3)
    assert sequence(got) == list(range(frames))
    # Caught up, it is written to directly again.
    written, refused = spy.written, spy.refused
    served.hub.publish(bars(frames))
    assert sequence([behind.receive()]) == [frames]
    assert (spy.written, spy.refused) == (written + 1, refused)
    behind.close()


def test_a_frame_never_overtakes_one_waiting_in_the_queue() -> None:
    """Between a slow connection's buffer draining and its sender task sending what waits in its
    queue, the connection would take a direct write again: the hub must still queue the frame."""
    sent: list[tuple[str, int]] = []
    answers = iter([False, True, True])  # full once; then it would take frames again

    def write_frame(frame: bytes) -> bool:
        ok = next(answers)
        if ok:
            payload = frame[4:] if frame[1] == 126 else frame[2:]
            sent.append(("direct", json.loads(payload)["event"]["payload"]["seq"]))
        return ok

    class Socket:
        async def send_text(self, text: str) -> None:
            sent.append(("queued", json.loads(text)["event"]["payload"]["seq"]))

    async def scenario() -> None:
        hub = StreamHub()
        principal = Principal(key_id="k", role=Role.VIEWER, user="alice")
        connection = hub_module._Connection(Socket(), principal, lambda kind, id_: False, write_frame)  # type: ignore[arg-type]
        connection.channels.add(CHANNEL)
        hub._by_channel[CHANNEL].add(connection)
        sender = asyncio.create_task(hub._send(connection))
        hub._fan_out(hub._pushes(bars(0)))  # refused: queued
        hub._fan_out(hub._pushes(bars(1)))  # the sender has not run yet: queued behind 0
        for _ in range(10):
            await asyncio.sleep(0)
        hub._fan_out(hub._pushes(bars(2)))  # the queue is empty: direct
        sender.cancel()

    asyncio.run(scenario())
    assert sent == [("queued", 0), ("queued", 1), ("direct", 2)]
