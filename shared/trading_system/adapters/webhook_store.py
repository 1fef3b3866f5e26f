"""Webhooks in the write store (SQLite locally, DynamoDB in AWS), one document each, and the
alerts each took in each minute (its rate limit): slots claimed with conditional puts under
`webhook_hit:<webhook id>`, the mechanism of adapters/minute_slots.py (which alerts out share).
"""

from __future__ import annotations

from trading_system.adapters.minute_slots import MinuteSlots
from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.kinds import WEBHOOK_HITS, WEBHOOKS
from trading_system.strategies.webhooks import Webhook


def hits_kind(webhook_id: str) -> str:
    return f"{WEBHOOK_HITS}:{webhook_id}"


class DocumentWebhooks:
    def __init__(self, store: DocumentStore):
        self.store = store
        self.hits = MinuteSlots(store, WEBHOOK_HITS)

    def get(self, webhook_id: str) -> Webhook | None:
        doc = self.store.get(WEBHOOKS, webhook_id)
        return Webhook.model_validate(doc) if doc else None

    def add(self, webhook: Webhook) -> None:
        self.store.put(WEBHOOKS, webhook.webhook_id, webhook.model_dump(mode="json"), if_absent=True)

    def delete(self, webhook_id: str) -> None:
        self.store.delete(WEBHOOKS, webhook_id)
        self._purge(webhook_id, before=None)

    def list(self) -> list[Webhook]:
        return [Webhook.model_validate(doc) for _, doc in scan_all(self.store, WEBHOOKS)]

    def admit(self, webhook_id: str, minute: int, limit: int) -> bool:
        return self.hits.claim(webhook_id, minute, limit).admitted

    def _purge(self, webhook_id: str, before: int | None) -> None:
        self.hits.purge(webhook_id, before)
