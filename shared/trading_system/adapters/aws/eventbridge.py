"""The domain bus on EventBridge, for the AWS runtime.

PutEvents takes at most 10 entries (and 256 KB) per call and reports failures per entry without
raising, so a publisher that only checks for exceptions silently loses events under throttling.
This one resends exactly the failed entries, a bounded number of times, then raises naming every
event it could not publish. Delivery stays at least once: consumers deduplicate by event_id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from trading_system.adapters.aws.event_format import envelope_from_eventbridge
from trading_system.config import Settings
from trading_system.kernel.messages import Envelope

log = logging.getLogger(__name__)

__all__ = ["EventBridgePublisher", "EventPublishError", "envelope_from_eventbridge"]

MAX_ENTRIES = 10  # PutEvents' limit per call
MAX_REQUEST_BYTES = 256 * 1024  # PutEvents' limit on the summed entry sizes of one call
_ENTRY_OVERHEAD_BYTES = 14  # what AWS adds per entry for the Time field when sizing a request

# Entry error codes that another attempt cannot fix; everything else (InternalFailure,
# ThrottlingException, ...) is worth retrying.
PERMANENT_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "InvalidArgument",
        "MalformedDetail",
        "NotAuthorizedForDetailTypeException",
        "NotAuthorizedForSourceException",
        "ValidationException",
    }
)


class EventPublishError(RuntimeError):
    """Some events did not reach the bus; `failures` maps each event id to why."""

    def __init__(self, bus: str, failures: Mapping[UUID, str], attempts: int):
        self.bus = bus
        self.failures = dict(failures)
        self.event_ids = list(failures)
        shown = ", ".join(f"{event_id} ({why})" for event_id, why in list(failures.items())[:20])
        more = f" and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(
            f"could not publish {len(failures)} event(s) to EventBridge bus {bus!r} "
            f"after up to {attempts} attempt(s): {shown}{more}"
        )


class EventBridgePublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        attempts: int = 5,
        backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.bus_name = bus_name
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> EventBridgePublisher:
        from trading_system.adapters.aws.clients import client

        return cls(client("events", settings), settings.event_bus_name)

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Put every envelope on the bus; raise EventPublishError naming those that never made it.

        Every chunk is attempted even when an earlier one failed, so one bad event does not hold
        back the others.
        """
        failures: dict[UUID, str] = {}
        entries = [(envelope.event_id, self._entry(envelope)) for envelope in envelopes]
        for chunk in _chunks(entries):
            failures.update(self._put_chunk(chunk))
        if failures:
            raise EventPublishError(self.bus_name, failures, self.attempts)

    def _entry(self, envelope: Envelope) -> dict[str, str]:
        return {
            "Source": envelope.bus_source,
            "DetailType": envelope.event_type,
            "Detail": envelope.model_dump_json(),
            "EventBusName": self.bus_name,
        }

    def _put_chunk(self, chunk: list[tuple[UUID, dict[str, str]]]) -> dict[UUID, str]:
        """Put one chunk, resending only the entries PutEvents reports as failed; return the
        entries that never made it, with why."""
        pending = chunk
        given_up: dict[UUID, str] = {}
        retrying: dict[UUID, str] = {}
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.put_events(Entries=[entry for _, entry in pending])
            except (ClientError, BotoCoreError) as error:
                # botocore has already retried throttling and transient errors of the whole call.
                return given_up | {event_id: f"PutEvents failed: {error}" for event_id, _ in pending}
            if not response.get("FailedEntryCount"):
                return given_up
            retry: list[tuple[UUID, dict[str, str]]] = []
            retrying = {}
            # Result entries are in the order of the request entries.
            for (event_id, entry), result in zip(pending, response["Entries"], strict=True):
                code = result.get("ErrorCode")
                if not code:
                    continue
                why = f"{code}: {result.get('ErrorMessage') or 'no message'}"
                if code in PERMANENT_ERRORS:
                    given_up[event_id] = why
                else:
                    retry.append((event_id, entry))
                    retrying[event_id] = why
            log.warning(
                "PutEvents to %s: %d of %d entries failed (attempt %d/%d)",
                self.bus_name,
                response["FailedEntryCount"],
                len(pending),
                attempt,
                self.attempts,
            )
            if not retry:
                return given_up
            if attempt < self.attempts:
                self._sleep(min(self.backoff_s * 2 ** (attempt - 1), 1.0))
            pending = retry
        return given_up | retrying


def _entry_size(entry: Mapping[str, str]) -> int:
    return _ENTRY_OVERHEAD_BYTES + sum(
        len(entry[name].encode()) for name in ("Source", "DetailType", "Detail")
    )


def _chunks(
    entries: list[tuple[UUID, dict[str, str]]],
) -> list[list[tuple[UUID, dict[str, str]]]]:
    """Split entries into PutEvents calls: at most 10 entries and 256 KB each."""
    chunks: list[list[tuple[UUID, dict[str, str]]]] = []
    current: list[tuple[UUID, dict[str, str]]] = []
    size = 0
    for event_id, entry in entries:
        entry_size = _entry_size(entry)
        if current and (len(current) == MAX_ENTRIES or size + entry_size > MAX_REQUEST_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append((event_id, entry))
        size += entry_size
    if current:
        chunks.append(current)
    return chunks
