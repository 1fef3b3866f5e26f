"""The correlation id of the work in progress, for log lines: set by the bus for each message it
handles (and by the HTTP layer for each request), read by whatever formats a log record. A
context variable, so threads and tasks each see their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@contextmanager
def correlated(correlation_id: str) -> Iterator[None]:
    token = current.set(correlation_id)
    try:
        yield
    finally:
        current.reset(token)
