"""The local event bus: delivers each envelope to the subscribers the catalog routes it to,
with bounded retries and a dead-letter table, like EventBridge + SQS DLQs in AWS."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from trading_system.adapters.deliveries import DocumentDeadLetters
from trading_system.kernel.messages import Envelope

log = logging.getLogger(__name__)

Deliver = Callable[[str, Envelope], object]
Listener = Callable[[Envelope], None]
DeadLetterListener = Callable[[str, Envelope], None]


class InProcessPublisher:
    def __init__(
        self,
        routes: Mapping[str, Sequence[str]],
        deliver: Deliver,
        dead_letters: DocumentDeadLetters,
        attempts: int = 3,
        backoff_s: float = 0.01,
    ):
        self.routes = routes
        self.deliver = deliver
        self.dead_letters = dead_letters
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.listeners: list[Listener] = []
        self.dead_letter_listeners: list[DeadLetterListener] = []  # (subscriber, envelope)

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            for listener in self.listeners:
                listener(envelope)
            for subscriber in self.routes.get(envelope.event_type, ()):
                self._deliver_with_retries(subscriber, envelope)

    def _deliver_with_retries(self, subscriber: str, envelope: Envelope) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                self.deliver(subscriber, envelope)
                return
            except Exception as error:
                log.warning(
                    "subscriber %s failed on %s (attempt %d/%d): %s",
                    subscriber,
                    envelope.event_id,
                    attempt,
                    self.attempts,
                    error,
                )
                if attempt == self.attempts:
                    self.dead_letters.add(subscriber, envelope, repr(error), attempt)
                    for listener in self.dead_letter_listeners:
                        listener(subscriber, envelope)
                else:
                    time.sleep(self.backoff_s * attempt)
