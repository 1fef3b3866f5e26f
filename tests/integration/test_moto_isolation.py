"""The fixture that makes moto's DynamoDB transactions isolated (tests/aws_fixtures.py): the
racing tests on moto rely on it to measure the adapters, not moto."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.aws.dynamodb_store import create_table

PAUSE = 0.5  # seconds the transaction waits, with its first item applied, for the read to answer


def test_a_read_never_sees_a_transaction_that_rolls_back(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A transaction puts an item, then fails a condition and rolls back; a read made while
    the item is applied waits for the transaction's end and finds nothing (moto alone answers
    the phantom item, which is how a racing test once lost a fill)."""
    from moto.dynamodb.models import DynamoDBBackend

    client = boto_client("dynamodb", moto_url)
    table = unique_name("isolation")
    create_table(client, table)
    client.put_item(TableName=table, Item={"pk": {"S": "guard"}, "sk": {"S": "1"}})
    applied = threading.Event()
    answered = threading.Event()
    put_item = DynamoDBBackend.put_item

    def put_then_pause(self: DynamoDBBackend, table_name: str, item: dict[str, Any], **kwargs: Any) -> Any:
        stored = put_item(self, table_name, item, **kwargs)
        if item["pk"]["S"] == "phantom":
            applied.set()
            answered.wait(PAUSE)  # the read answers meanwhile only if it does not wait for us
        return stored

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_then_pause)
    request.getfixturevalue("moto_transactions_isolated")  # wraps the pausing put_item too
    seen: list[dict[str, Any]] = []

    def read() -> None:
        applied.wait(10)
        response = client.get_item(TableName=table, Key={"pk": {"S": "phantom"}, "sk": {"S": "1"}})
        seen.append(response)
        answered.set()

    reader = threading.Thread(target=read)
    reader.start()
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "phantom"}, "sk": {"S": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "guard"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    reader.join(10)
    assert applied.is_set() and len(seen) == 1
    assert "Item" not in seen[0], seen[0]
