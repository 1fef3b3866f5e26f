"""Webhooks in the write store (SQLite locally, DynamoDB in AWS), one document each."""

from __future__ import annotations

from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.kinds import WEBHOOKS
from trading_system.strategies.webhooks import Webhook


class DocumentWebhooks:
    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, webhook_id: str) -> Webhook | None:
        doc = self.store.get(WEBHOOKS, webhook_id)
        return Webhook.model_validate(doc) if doc else None

    def add(self, webhook: Webhook) -> None:
        self.store.put(WEBHOOKS, webhook.webhook_id, webhook.model_dump(mode="json"), if_absent=True)

    def delete(self, webhook_id: str) -> None:
        self.store.delete(WEBHOOKS, webhook_id)

    def list(self) -> list[Webhook]:
        return [Webhook.model_validate(doc) for _, doc in scan_all(self.store, WEBHOOKS)]
