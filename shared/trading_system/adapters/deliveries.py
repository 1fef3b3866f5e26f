"""The delivery records over the document store: the inbox that makes redelivery harmless and
the dead letters (the local DLQ). Apart from the other repositories so that building a bus
(every function's init phase) does not import the contexts' domain models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel

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


class DeadLetter(BaseModel):
    letter_id: str
    subscriber: str
    envelope: Envelope
    error: str
    attempts: int
    failed_at: datetime


class DocumentDeadLetters:
    """Events a subscriber kept failing on, kept for inspection and replay (the local DLQ)."""

    def __init__(self, store: DocumentStore):
        self.store = store

    def add(self, subscriber: str, envelope: Envelope, error: str, attempts: int) -> DeadLetter:
        letter = DeadLetter(
            letter_id=f"{subscriber}#{envelope.event_id}",
            subscriber=subscriber,
            envelope=envelope,
            error=error,
            attempts=attempts,
            failed_at=datetime.now(UTC),
        )
        self.store.put(DEAD_LETTERS, letter.letter_id, letter.model_dump(mode="json"))
        return letter

    def list(self, limit: int = 100) -> Sequence[DeadLetter]:
        return [DeadLetter.model_validate(d) for _, d in self.store.scan(DEAD_LETTERS, limit=limit)]

    def remove(self, letter_id: str) -> None:
        self.store.delete(DEAD_LETTERS, letter_id)
