"""Time and identifiers. Injected as dependencies so tests can pin them."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def sortable_id() -> str:
    """A 26-character id whose lexical order is creation order (ns timestamp + randomness).

    The lake uses it to let the newest ingestion win without a separate sequence.
    """
    return f"{time.time_ns():019d}{os.urandom(4).hex()[:7]}"


def newest_first_id(prefix: str) -> str:
    """`<prefix>_` and 26 characters whose ascending order is newest first (nanoseconds counted
    down from 2286, then randomness), so a store's key order is a listing's order (jobs)."""
    return f"{prefix}_{10**19 - 1 - time.time_ns():019d}{os.urandom(4).hex()[:7]}"


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
