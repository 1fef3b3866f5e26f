"""The webhook store's rate limit over both write stores (SQLite, DynamoDB on moto): a minute admits
exactly `limit` alerts however they race, the next minute starts again and purges the last, and a
deleted webhook leaves no counts behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

from tests.contract.document_stores import dynamodb_table, store
from trading_system.adapters.webhook_store import DocumentWebhooks, hits_kind
from trading_system.kernel.documents import TTL_FIELD, DocumentStore, scan_all

__all__ = ["dynamodb_table", "store"]  # fixtures these tests use

MINUTE = 29_415_000  # 2025-12-06, in minutes since the epoch


def webhook_id() -> str:
    return f"wh_{uuid4().hex[:12]}"  # a partition of its own: tests share the module's table


def test_a_minute_admits_its_limit_and_no_more(store: DocumentStore) -> None:
    webhooks, hook = DocumentWebhooks(store), webhook_id()
    assert [webhooks.admit(hook, MINUTE, 3) for _ in range(5)] == [True, True, True, False, False]
    # Another webhook has its own allowance.
    assert webhooks.admit(webhook_id(), MINUTE, 3) is True
    # A raised limit takes effect at once: the taken slots still count.
    assert [webhooks.admit(hook, MINUTE, 4) for _ in range(2)] == [True, False]
    counted = scan_all(store, hits_kind(hook))
    assert len(counted) == 4
    assert all(doc[TTL_FIELD] == (MINUTE + 1) * 60 + 3600 for _, doc in counted)  # DynamoDB's TTL


def test_the_next_minute_starts_again_and_purges_the_last(store: DocumentStore) -> None:
    webhooks, hook = DocumentWebhooks(store), webhook_id()
    for minute in (MINUTE, MINUTE + 1):
        assert [webhooks.admit(hook, minute, 2) for _ in range(3)] == [True, True, False]
    # Only the current minute's slots are kept: nothing piles up in SQLite, which has no TTL.
    assert [key for key, _ in scan_all(store, hits_kind(hook))] == [
        f"{MINUTE + 1:012d}:000",
        f"{MINUTE + 1:012d}:001",
    ]


def test_racing_alerts_take_each_slot_once(store: DocumentStore) -> None:
    webhooks, hook = DocumentWebhooks(store), webhook_id()
    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(lambda _: webhooks.admit(hook, MINUTE, 10), range(24)))
    assert admitted.count(True) == 10
    assert len(scan_all(store, hits_kind(hook))) == 10


def test_deleting_a_webhook_deletes_its_counts(store: DocumentStore) -> None:
    webhooks, hook = DocumentWebhooks(store), webhook_id()
    for _ in range(3):
        webhooks.admit(hook, MINUTE, 5)
    webhooks.delete(hook)
    assert scan_all(store, hits_kind(hook)) == []
