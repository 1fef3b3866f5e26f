"""The document store in one SQLite file (WAL), for the local runtime."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from trading_system.kernel.documents import Document
from trading_system.kernel.errors import ConcurrencyConflict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID
"""


class SqliteDocumentStore:
    def __init__(self, path: Path | str):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: SQLite serialises writers anyway, and this keeps
        # every thread of the local server on the same consistent view.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(_SCHEMA)
        self._stopped = threading.Event()
        if str(path) != ":memory:":
            # Checkpoint the WAL beside the writers rather than inside whichever commit crosses
            # SQLite's threshold: that commit would otherwise take several times longer than
            # the others (the p99 of placing an order). A PASSIVE checkpoint on its own
            # connection never blocks a writer.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            threading.Thread(
                target=self._checkpoint_until_closed, args=(str(path),), name="sqlite-checkpoint", daemon=True
            ).start()

    def get(self, kind: str, key: str) -> Document | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM documents WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Document]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Document] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, body FROM documents WHERE kind = ? AND key IN ({marks})",
                    (kind, *chunk),
                )
                found.update((k, json.loads(b)) for k, b in rows)
        return found

    def put(
        self, kind: str, key: str, doc: Document, *, if_absent: bool = False, if_present: bool = False
    ) -> None:
        body = json.dumps(doc, separators=(",", ":"))
        with self._lock:
            if if_absent:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO documents (kind, key, body) VALUES (?, ?, ?)",
                    (kind, key, body),
                )
                if cursor.rowcount == 0:
                    raise ConcurrencyConflict(f"{kind} {key} already exists")
            elif if_present:
                cursor = self._db.execute(
                    "UPDATE documents SET body = ? WHERE kind = ? AND key = ?", (body, kind, key)
                )
                if cursor.rowcount == 0:
                    raise ConcurrencyConflict(f"{kind} {key} does not exist")
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)",
                    (kind, key, body),
                )

    def put_many(self, kind: str, docs: Mapping[str, Document]) -> None:
        rows = [(kind, k, json.dumps(d, separators=(",", ":"))) for k, d in docs.items()]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)", rows)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction, committed on success and rolled back on
        any error. BEGIN IMMEDIATE takes the write lock up front, so another process (the CLI
        next to a running server) waits for it instead of failing half way."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads that must not interleave with another thread's writes."""
        with self._lock:
            yield self._db

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM documents WHERE kind = ? AND key = ?", (kind, key))

    def scan(self, kind: str, *, after: str | None = None, limit: int = 100) -> list[tuple[str, Document]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, body FROM documents WHERE kind = ? AND key > ? ORDER BY key LIMIT ?",
                (kind, after or "", limit),
            ).fetchall()
        return [(k, json.loads(b)) for k, b in rows]

    def _checkpoint_until_closed(self, path: str, every_s: float = 0.5) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stopped.wait(every_s):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:  # the file or its folder went away: nothing left to checkpoint
            pass
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            self._db.close()
