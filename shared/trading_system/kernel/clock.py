"""Time and identifiers. Injected as dependencies so tests can pin them."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def sortable_id(at: datetime | None = None) -> str:
    """A 26-character id whose lexical order is creation order (ns timestamp + randomness), or
    the order of `at` when given (an id that sorts as a record's own time, from its clock).

    The lake uses it to let the newest ingestion win without a separate sequence.
    """
    ns = time.time_ns() if at is None else (at - _EPOCH) // timedelta(microseconds=1) * 1_000
    return f"{ns:019d}{os.urandom(4).hex()[:7]}"


def newest_first_id(prefix: str) -> str:
    """`<prefix>_` and 26 characters whose ascending order is newest first (nanoseconds counted
    down from 2286, then randomness), so a store's key order is a listing's order (jobs)."""
    return f"{prefix}_{10**19 - 1 - time.time_ns():019d}{os.urandom(4).hex()[:7]}"


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
