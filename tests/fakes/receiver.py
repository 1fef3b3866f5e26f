"""An HTTP(S) receiver on 127.0.0.1 for tests: what an alert's target, a Slack or a Discord webhook
is to the platform, without leaving the machine.

It records each request it is sent (`received`: method, path, headers, body) and answers what a
test sets: `answer(*statuses, ...)` scripts the next requests' answers, one each, in order;
`always(...)` sets the answer for every request after that (200 "ok" unless set). It speaks
HTTP/1.1 with keep-alive, as real receivers do, and, given an `ssl.SSLContext`, TLS, recording the
name each client sent for SNI (`server_names`). A client that hangs up first (a timed-out send, a
large answer read in part, a certificate it refused) is expected and not reported.

    with Receiver() as receiver:
        receiver.answer(503)  # the first request; then the default, 200
        ...
        [request] = receiver.received
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "Received", "Receiver"]

HANG_UPS = (ConnectionError, ssl.SSLError, TimeoutError)  # a client gone first: expected


@dataclass(frozen=True)
class Answer:
    """What the receiver answers one request: `status` with `body`, after `delay_s`."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    location: str | None = None  # sent as the Location header (a redirect's target)


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    method: str
    path: str  # with its query, as sent
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping out a delay must not hold a test up

    def __init__(self, receiver: Receiver, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver
        self.tls = tls
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls is not None:
            # The handshake happens in the connection's own thread (see `_Handler.setup`), so a
            # slow or failing client does not hold up the others.
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        with self._open_lock:
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def hang_up_all(self) -> None:
        """Ends the connections still open (kept alive, or waiting on a delay)."""
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):  # gone already
                # The socket's own shutdown, under any TLS: a handler may still be using that.
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], HANG_UPS):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def _handle(self) -> None:
        receiver = self.server.receiver
        body = self._body()
        receiver._record(
            Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        answer = receiver._next_answer()
        if answer.delay_s:
            time.sleep(answer.delay_s)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.location is not None:
            self.send_header("Location", answer.location)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the chunk's CRLF
            while self.rfile.readline().strip():  # any trailers, up to the blank line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


class Receiver:
    """Started with `start` and stopped with `stop`, or used as a context manager.

    `default` is the answer once the script is spent: a status (with the body "ok") or an Answer.
    `tls`, when given, makes it an HTTPS receiver (its certificate is the context's)."""

    def __init__(self, default: int | Answer = 200, *, tls: ssl.SSLContext | None = None) -> None:
        self._lock = threading.Lock()
        self._default = _as_answer(default)
        self._script: deque[Answer] = deque()
        self.received: list[Received] = []
        self.server_names: list[str | None] = []  # the SNI name each TLS client sent (None: none)
        if tls is not None:
            tls.sni_callback = self._remember_name
        self._server = _Server(self, tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        """Where to send to reach it: `host` may be any name a test resolves to 127.0.0.1."""
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def default(self) -> Answer:
        """The answer once the script is spent."""
        with self._lock:
            return self._default

    def answer(self, *answers: int | Answer, delay_s: float = 0.0, location: str | None = None) -> None:
        """Scripts the next requests' answers, in order (then the default). A status is answered
        with the body "ok", after `delay_s`, with `location` as its Location header if given."""
        scripted = [
            answer if isinstance(answer, Answer) else Answer(answer, delay_s=delay_s, location=location)
            for answer in answers
        ]
        with self._lock:
            self._script.extend(scripted)

    def always(self, answer: int | Answer) -> None:
        """Answers every following request with `answer` (dropping what is still scripted)."""
        with self._lock:
            self._script.clear()
            self._default = _as_answer(answer)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.hang_up_all()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._script.popleft() if self._script else self._default

    def _remember_name(self, _connection: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        with self._lock:
            self.server_names.append(name)


def _as_answer(answer: int | Answer) -> Answer:
    return answer if isinstance(answer, Answer) else Answer(answer)
