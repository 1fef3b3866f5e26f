"""Webhooks in the write store (SQLite locally, DynamoDB in AWS), one document each, and the
alerts each took in each minute (its rate limit).

The store has no atomic counter, but it has a conditional put: a minute's allowance is `limit`
slots, `<minute>:<slot>` under `webhook_hit:<webhook id>`, and an alert is admitted by claiming
the first free one. One batch read finds which are taken; two alerts racing for a slot both try
the next. The minute's first alert purges the webhook's earlier minutes (locally nothing else
would; in DynamoDB the slots also expire by TTL, should a purge fail).
"""

from __future__ import annotations

from trading_system.kernel.documents import TTL_FIELD, DocumentStore, scan_all
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.kinds import WEBHOOK_HITS, WEBHOOKS
from trading_system.strategies.webhooks import Webhook

_KEPT_S = 3600  # a minute's slots expire an hour after it (DynamoDB's TTL is approximate anyway)


def hits_kind(webhook_id: str) -> str:
    return f"{WEBHOOK_HITS}:{webhook_id}"


def _slot(minute: int, slot: int) -> str:
    # Fixed width, so that keys sort by minute and a purge reads the old ones first.
    return f"{minute:012d}:{slot:03d}"


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
        self._purge(webhook_id, before=None)

    def list(self) -> list[Webhook]:
        return [Webhook.model_validate(doc) for _, doc in scan_all(self.store, WEBHOOKS)]

    def admit(self, webhook_id: str, minute: int, limit: int) -> bool:
        kind = hits_kind(webhook_id)
        slots = [_slot(minute, n) for n in range(limit)]
        taken = self.store.get_many(kind, slots)
        expires = {TTL_FIELD: (minute + 1) * 60 + _KEPT_S}
        for key in slots:
            if key in taken:
                continue
            try:
                self.store.put(kind, key, expires, if_absent=True)
            except ConcurrencyConflict:
                continue  # another alert took it first: try the next
            if key == slots[0]:
                self._purge(webhook_id, before=minute)
            return True
        return False

    def _purge(self, webhook_id: str, before: int | None) -> None:
        """Delete the webhook's slots of minutes before `before` (all of them with None)."""
        kind = hits_kind(webhook_id)
        first_kept = None if before is None else _slot(before, 0)
        while True:
            page = self.store.scan(kind, limit=100)
            old = [key for key, _ in page if first_kept is None or key < first_kept]
            for key in old:
                self.store.delete(kind, key)
            if len(old) < len(page) or len(page) < 100:
                return
