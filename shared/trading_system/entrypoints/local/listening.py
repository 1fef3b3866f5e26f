"""Whether `serve` can listen where it is asked to, checked before anything is printed."""

from __future__ import annotations

import socket


def why_cannot_listen(host: str, port: int) -> str | None:
    """None when every address of host:port can be bound (as uvicorn binds them: SO_REUSEADDR,
    so a port another server just closed counts as free), else one line naming the port and how
    to choose another."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return f"cannot listen on {host}:{port}: {host!r} is not a known host ({error.strerror})"
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return (
                    f"cannot listen on {host}:{port}: {error.strerror or error} "
                    f"(another `trading serve`?); choose another port with --port or TRADING_PORT"
                )
    return None
