"""A webhook receiver on 127.0.0.1: records each request it is sent (path, headers, body) and
answers with the statuses a test scripts, one per request, then `default` (200). What an alert's
target, a Slack or a Discord webhook is to the platform, without leaving the machine."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, delay_s, location = receiver.next_answer()
        with receiver.lock:
            receiver.received.append(Received(self.path, headers, body))
        if delay_s:
            time.sleep(delay_s)
        self.send_response(status)
        if location:
            self.send_header("location", location)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver:
    """Started with `start`, stopped with `stop` (or as a context manager)."""

    def __init__(self, default: int = 200) -> None:
        self.default = default
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self._script: deque[tuple[int, float, str | None]] = deque()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    def url(self, path: str = "/hook") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}{path}"

    def answer(self, *statuses: int, delay_s: float = 0.0, location: str | None = None) -> None:
        """The next requests' statuses, in order (then `default`)."""
        with self.lock:
            self._script.extend((status, delay_s, location) for status in statuses)

    def next_answer(self) -> tuple[int, float, str | None]:
        with self.lock:
            return self._script.popleft() if self._script else (self.default, 0.0, None)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
