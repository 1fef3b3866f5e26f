"""The delivery records over the document store: the inbox that makes redelivery harmless and
the dead letters (the local DLQ). Apart from the other repositories so that building a bus
(every function's init phase) does not import the contexts' domain models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.kinds import DEAD_LETTERS, INBOX
from trading_system.kernel.messages import Envelope


class DocumentInbox:
    """Processed event ids per subscriber (the consumer side of at-least-once delivery)."""

    def __init__(self, store: DocumentStore):
        self.store = store

    def seen(self, subscriber: str, event_id: UUID) -> bool:
        return self.store.get(INBOX, f"{subscriber}#{event_id}") is not None

    def remember(self, subscriber: str, event_id: UUID) -> None:
        self.store.put(INBOX, f"{subscriber}#{event_id}", {"at": datetime.now(UTC).isoformat()})


class ScheduledInput(BaseModel):
    """What a scheduled function was invoked with: its command, and a timetabled item's key."""

    # Built on first use: every function's bus imports this module, and only a failing delivery
    # (locally) ever makes one; building it with the Envelope inside cost ~25 ms of each cold start.
    model_config = ConfigDict(defer_build=True)

    function: str
    command: str
    input: dict[str, str] = Field(default_factory=dict)


class DeadLetter(BaseModel):
    """An event a subscriber kept failing on (`envelope`), or a scheduled run that kept failing
    (`scheduled`; its `subscriber` is the scheduled function): exactly one of the two."""

    model_config = ConfigDict(defer_build=True)  # as ScheduledInput's

    letter_id: str
    subscriber: str
    envelope: Envelope | None = None
    scheduled: ScheduledInput | None = None
    error: str
    attempts: int
    failed_at: datetime


class DocumentDeadLetters:
    """Events a subscriber kept failing on, kept for inspection and replay (the local DLQ)."""

    def __init__(self, store: DocumentStore):
        self.store = store

    def add(self, subscriber: str, envelope: Envelope, error: str, attempts: int) -> DeadLetter:
        return self._add(f"{subscriber}#{envelope.event_id}", subscriber, error, attempts, envelope=envelope)

    def add_scheduled(
        self, scheduled: ScheduledInput, invocation: str, error: str, attempts: int
    ) -> DeadLetter:
        """A scheduled firing whose every attempt failed (the local runtime's; EventBridge's go to
        the function's dead-letter queue in AWS)."""
        letter_id = f"{scheduled.function}#{invocation}"
        return self._add(letter_id, scheduled.function, error, attempts, scheduled=scheduled)

    def _add(self, letter_id: str, subscriber: str, error: str, attempts: int, **what: Any) -> DeadLetter:
        """`what` failed: the event (`envelope`) or the scheduled firing (`scheduled`)."""
        letter = DeadLetter(
            letter_id=letter_id,
            subscriber=subscriber,
            error=error,
            attempts=attempts,
            failed_at=datetime.now(UTC),
            **what,
        )
        self.store.put(DEAD_LETTERS, letter.letter_id, letter.model_dump(mode="json"))
        return letter

    def list(self, limit: int = 100) -> Sequence[DeadLetter]:
        return [DeadLetter.model_validate(d) for _, d in self.store.scan(DEAD_LETTERS, limit=limit)]

    def remove(self, letter_id: str) -> None:
        self.store.delete(DEAD_LETTERS, letter_id)
