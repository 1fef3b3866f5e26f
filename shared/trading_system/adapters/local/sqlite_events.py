"""The event store in the local SQLite file, next to the documents (one transaction for both)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
from trading_system.kernel.errors import ConcurrencyConflict
from trading_system.kernel.event_store import RecordedEvent, StreamAppend, ViewWrite, check_append

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    stream  TEXT NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (stream, version)
) WITHOUT ROWID
"""


class SqliteEventStore:
    def __init__(self, documents: SqliteDocumentStore):
        self.documents = documents
        with documents.transaction() as db:
            db.execute(_SCHEMA)

    def read(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        with self.documents.reading() as db:
            rows = db.execute(
                "SELECT version, body FROM events WHERE stream = ? AND version > ? ORDER BY version",
                (stream, after_version),
            ).fetchall()
        return [_recorded(stream, version, body) for version, body in rows]

    def version(self, stream: str) -> int:
        with self.documents.reading() as db:
            row = db.execute("SELECT MAX(version) FROM events WHERE stream = ?", (stream,)).fetchone()
        return int(row[0] or 0)

    def append(
        self,
        appends: Sequence[StreamAppend],
        views: Sequence[ViewWrite] = (),
        metadata: dict[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        check_append(appends, views)
        recorded_at = datetime.now(UTC)
        recorded: list[RecordedEvent] = []
        rows = []
        for append in appends:
            for offset, event in enumerate(append.events, start=1):
                version = append.expected_version + offset
                body = {
                    "type": event.type,
                    "data": event.data,
                    "recorded_at": recorded_at.isoformat(),
                    "metadata": metadata or {},
                }
                rows.append((append.stream, version, json.dumps(body, separators=(",", ":"))))
                recorded.append(
                    RecordedEvent(append.stream, version, event.type, event.data, recorded_at, metadata or {})
                )
        with self.documents.transaction() as db:
            for append in appends:
                current = db.execute(
                    "SELECT MAX(version) FROM events WHERE stream = ?", (append.stream,)
                ).fetchone()[0]
                if int(current or 0) != append.expected_version:
                    raise ConcurrencyConflict(
                        f"stream {append.stream} is at version {int(current or 0)}, "
                        f"not {append.expected_version}: reload and retry"
                    )
            try:
                db.executemany("INSERT INTO events (stream, version, body) VALUES (?, ?, ?)", rows)
            except sqlite3.IntegrityError:
                raise ConcurrencyConflict("an appended stream moved: reload and retry") from None
            for view in views:
                if view.doc is None:
                    db.execute("DELETE FROM documents WHERE kind = ? AND key = ?", (view.kind, view.key))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)",
                        (view.kind, view.key, json.dumps(view.doc, separators=(",", ":"))),
                    )
        return recorded


def _recorded(stream: str, version: int, body: str) -> RecordedEvent:
    doc = json.loads(body)
    return RecordedEvent(
        stream=stream,
        version=version,
        type=doc["type"],
        data=doc["data"],
        recorded_at=datetime.fromisoformat(doc["recorded_at"]),
        metadata=doc.get("metadata", {}),
    )
