"""The event store in the document store's DynamoDB table, for the AWS runtime.

Item layout, next to the documents in the same table: pk (S) = `stream#<stream>`, sk (S) = the
version zero-padded to 12 digits (so string order is version order), body (S) = compact JSON
{type, data, recorded_at, metadata}, the body the SQLite adapter stores. Views are plain
documents (pk = kind, sk = key), so DynamoDbDocumentStore reads them.

`append` is one TransactWriteItems, so events and views land together or not at all:
- each new event is a Put conditioned on attribute_not_exists: if the stream moved past the
  expected version, the Put of version expected+1 fails (that is the optimistic lock);
- each stream appended at expected_version > 0 gets a ConditionCheck that the event at that
  version exists, so a caller claiming a version the stream never reached is refused, as SQLite
  refuses it (MAX(version) != expected); a stream listed without events gets a ConditionCheck
  that version expected+1 does not exist, so it only asserts the stream's version.
A failed condition (or a TransactionConflict with another in-flight transaction) cancels the
whole transaction and becomes ConcurrencyConflict: nothing was written, reload and retry.
botocore fills in ClientRequestToken once per call, so DynamoDB treats botocore's own retry of
a call whose response was lost as the same transaction instead of failing it on the events the
first attempt wrote (moto ignores the token).

The version checks count against TransactWriteItems' 100 items, like events and views: an
append that needs more is refused up front with a ValueError rather than DynamoDB's
ValidationException. Reads are strongly consistent, as in SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from trading_system.adapters.aws.dynamodb_store import PAGE_MAX, body_json, check_key
from trading_system.config import Settings
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.event_store import (
    RecordedEvent,
    StreamAppend,
    ViewWrite,
    check_append,
)
from trading_system.kernel.kinds import STREAM

STREAM_PREFIX = STREAM
VERSION_DIGITS = 12

# A cancellation for these reasons means another writer got there first (a condition failed) or
# is writing the same item right now (TransactionConflict): nothing was written either way.
_CONFLICTS = {"ConditionalCheckFailed", "TransactionConflict"}
_NAMES = {"#pk": "pk", "#sk": "sk", "#body": "body"}
_EXISTS: dict[str, Any] = {
    "ConditionExpression": "attribute_exists(#pk)",
    "ExpressionAttributeNames": {"#pk": "pk"},
}
_ABSENT: dict[str, Any] = {
    "ConditionExpression": "attribute_not_exists(#pk)",
    "ExpressionAttributeNames": {"#pk": "pk"},
}


def _key(stream: str, version: int) -> dict[str, Any]:
    return {"pk": {"S": STREAM_PREFIX + stream}, "sk": {"S": f"{version:0{VERSION_DIGITS}d}"}}


class DynamoDbEventStore:
    def __init__(self, client: Any, table_name: str):
        self.client = client
        self.table_name = table_name

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoDbEventStore:
        from trading_system.adapters.aws.clients import client

        return cls(client("dynamodb", settings), settings.table_name)

    def read(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk AND #sk > :after",
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": {
                ":pk": {"S": STREAM_PREFIX + stream},
                ":after": {"S": f"{max(after_version, 0):0{VERSION_DIGITS}d}"},
            },
            "ProjectionExpression": "#sk, #body",
            "ScanIndexForward": True,
            "ConsistentRead": True,
            "Limit": PAGE_MAX,
        }
        out: list[RecordedEvent] = []
        while True:
            response = self.client.query(**request)
            out += [_recorded(stream, item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return out
            request["ExclusiveStartKey"] = last

    def version(self, stream: str) -> int:
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={":pk": {"S": STREAM_PREFIX + stream}},
            ProjectionExpression="#sk",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        return int(items[0]["sk"]["S"]) if items else 0

    def append(
        self,
        appends: Sequence[StreamAppend],
        views: Sequence[ViewWrite] = (),
        metadata: dict[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        check_append(appends, views)
        now = datetime.now(UTC)
        recorded_at = now.isoformat()
        meta = metadata or {}
        items: list[dict[str, Any]] = []
        guards: list[tuple[str, str]] = []  # per transaction item: what it writes, what it checks
        recorded: list[RecordedEvent] = []
        for append in appends:
            stream, expected = append.stream, append.expected_version
            guard = (f"stream {stream}", f"is not at version {expected}")
            if expected > 0:  # the stream got that far ...
                items.append(self._op("ConditionCheck", Key=_key(stream, expected), **_EXISTS))
                guards.append(guard)
            if not append.events:  # ... and no further (a Put of the next version checks that too)
                items.append(self._op("ConditionCheck", Key=_key(stream, expected + 1), **_ABSENT))
                guards.append(guard)
            for version, event in enumerate(append.events, start=expected + 1):
                body = {"type": event.type, "data": event.data, "recorded_at": recorded_at, "metadata": meta}
                item = {**_key(stream, version), "body": {"S": body_json(body)}}
                items.append(self._op("Put", Item=item, **_ABSENT))
                guards.append(guard)
                recorded.append(RecordedEvent(stream, version, event.type, event.data, now, meta))
        for view in views:
            check_key(view.kind, view.key)
            key = {"pk": {"S": view.kind}, "sk": {"S": view.key}}
            if view.doc is None:
                items.append(self._op("Delete", Key=key))
            else:
                items.append(self._op("Put", Item={**key, "body": {"S": body_json(view.doc)}}))
            guards.append((f"view {view.kind} {view.key}", ""))

        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            lost = [
                f"{what} {failed}"
                if reason.get("Code") == "ConditionalCheckFailed"
                else f"{what} is being written by another transaction"
                for (what, failed), reason in zip(guards, reasons, strict=False)
                if reason.get("Code") in _CONFLICTS
            ]
            if not lost:
                raise
            raise ConcurrencyConflict("; ".join(dict.fromkeys(lost)) + ": reload and retry") from None
        return recorded

    def _op(self, kind: str, **op: Any) -> dict[str, Any]:
        return {kind: {"TableName": self.table_name, **op}}


def _recorded(stream: str, item: dict[str, Any]) -> RecordedEvent:
    doc = json.loads(item["body"]["S"])
    return RecordedEvent(
        stream=stream,
        version=int(item["sk"]["S"]),
        type=doc["type"],
        data=doc["data"],
        recorded_at=datetime.fromisoformat(doc["recorded_at"]),
        metadata=doc.get("metadata", {}),
    )
