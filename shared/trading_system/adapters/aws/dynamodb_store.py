"""The document store in one DynamoDB table, for the AWS runtime.

Item layout: partition key `pk` (S) = kind, sort key `sk` (S) = key, `body` (S) = compact JSON.
A JSON string rather than a DynamoDB map keeps documents byte-for-byte what the SQLite adapter
stores (no Decimal/float surprises, no empty-set rules) and keeps reads cheap to decode.

The semantics match SqliteDocumentStore (tests/contract/test_document_store.py runs both):
reads are strongly consistent so a write is visible to the next read, as it is in SQLite.
One difference cannot be hidden: put_many is not atomic here (BatchWriteItem is not a
transaction), so a failure part way leaves the earlier chunks written; callers that need
all-or-nothing must not rely on put_many for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from trading_system.config import Settings
from trading_system.kernel.documents import TTL_FIELD, Document
from trading_system.kernel.errors import ConcurrencyConflict

GET_BATCH = 100  # BatchGetItem's limit
WRITE_BATCH = 25  # BatchWriteItem's limit
PAGE_MAX = 1000  # Query reads at most this many items per call, whatever `limit` asks for

_NAMES = {"#pk": "pk", "#sk": "sk", "#body": "body"}


class IncompleteBatchError(RuntimeError):
    """DynamoDB kept returning unprocessed items (throttling) after every retry."""


def body_json(doc: Document) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def item_of(kind: str, key: str, doc: Document) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": kind}, "sk": {"S": key}, "body": {"S": body_json(doc)}}
    if isinstance(doc.get(TTL_FIELD), int):
        item["ttl"] = {"N": str(doc[TTL_FIELD])}
    return item


def check_key(kind: str, key: str) -> None:
    # DynamoDB rejects empty key attributes with a ValidationException whose message does not
    # say which document it was; say it here.
    if not kind or not key:
        raise ValueError(f"document kind and key must be non-empty (got kind={kind!r}, key={key!r})")


class DynamoDbDocumentStore:
    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        attempts: int = 6,
        backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.table_name = table_name
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoDbDocumentStore:
        from trading_system.adapters.aws.clients import client

        return cls(client("dynamodb", settings), settings.table_name)

    def get(self, kind: str, key: str) -> Document | None:
        check_key(kind, key)
        response = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": kind}, "sk": {"S": key}},
            ProjectionExpression="#body",
            ExpressionAttributeNames={"#body": "body"},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return json.loads(item["body"]["S"]) if item else None

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Document]:
        wanted = list(dict.fromkeys(keys))  # BatchGetItem rejects duplicate keys in one request
        for key in wanted:
            check_key(kind, key)
        found: dict[str, Document] = {}
        for i in range(0, len(wanted), GET_BATCH):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [{"pk": {"S": kind}, "sk": {"S": k}} for k in wanted[i : i + GET_BATCH]],
                    "ProjectionExpression": "#sk, #body",
                    "ExpressionAttributeNames": {"#sk": "sk", "#body": "body"},
                    "ConsistentRead": True,
                }
            }
            for attempt in range(self.attempts):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    found[item["sk"]["S"]] = json.loads(item["body"]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt + 1 < self.attempts:
                    self._backoff(attempt)
            if request:
                left = len(request[self.table_name]["Keys"])
                raise IncompleteBatchError(
                    f"{left} {kind} documents still unread from {self.table_name} "
                    f"after {self.attempts} attempts"
                )
        return found

    def put(
        self, kind: str, key: str, doc: Document, *, if_absent: bool = False, if_present: bool = False
    ) -> None:
        check_key(kind, key)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": item_of(kind, key, doc),
        }
        if if_absent or if_present:
            request["ConditionExpression"] = f"attribute_{'not_' if if_absent else ''}exists(#pk)"
            request["ExpressionAttributeNames"] = {"#pk": "pk"}
        try:
            self.client.put_item(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConcurrencyConflict(
                    f"{kind} {key} {'already exists' if if_absent else 'does not exist'}"
                ) from None
            raise

    def put_many(self, kind: str, docs: Mapping[str, Document]) -> None:
        # A Mapping cannot repeat a key, so no request can carry the same item twice (which
        # BatchWriteItem rejects).
        requests = []
        for key, doc in docs.items():
            check_key(kind, key)
            requests.append({"PutRequest": {"Item": item_of(kind, key, doc)}})
        for i in range(0, len(requests), WRITE_BATCH):
            pending: dict[str, Any] = {self.table_name: requests[i : i + WRITE_BATCH]}
            for attempt in range(self.attempts):
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                if attempt + 1 < self.attempts:
                    self._backoff(attempt)
            if pending:
                left = len(pending[self.table_name])
                raise IncompleteBatchError(
                    f"{left} {kind} documents still unwritten to {self.table_name} "
                    f"after {self.attempts} attempts ({i} written before this batch)"
                )

    def delete(self, kind: str, key: str) -> None:
        check_key(kind, key)
        self.client.delete_item(TableName=self.table_name, Key={"pk": {"S": kind}, "sk": {"S": key}})

    def scan(self, kind: str, *, after: str | None = None, limit: int = 100) -> list[tuple[str, Document]]:
        if limit <= 0:
            return []
        condition = "#pk = :pk"
        values: dict[str, Any] = {":pk": {"S": kind}}
        if after:  # "" sorts before every key, as in SQLite; DynamoDB would reject it as a value
            condition += " AND #sk > :after"
            values[":after"] = {"S": after}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "#sk, #body",
            "ScanIndexForward": True,
            "ConsistentRead": True,
        }
        out: list[tuple[str, Document]] = []
        while len(out) < limit:
            # A page may stop short of Limit (1 MB cap), so keep following LastEvaluatedKey.
            request["Limit"] = min(limit - len(out), PAGE_MAX)
            response = self.client.query(**request)
            out += [(item["sk"]["S"], json.loads(item["body"]["S"])) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        return out

    def _backoff(self, attempt: int) -> None:
        # Unprocessed items mean the table is throttling: back off exponentially, capped at 1 s.
        self._sleep(min(self.backoff_s * 2**attempt, 1.0))


def create_table(client: Any, name: str) -> None:
    """Create the store's table (on-demand) and wait until it is usable; tests use this, the CDK
    stack defines the same key schema."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
