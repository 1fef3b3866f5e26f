"""A per-minute allowance over the write store (SQLite locally, DynamoDB in AWS), shared by the
webhooks in (alerts each takes a minute) and the alerts out (deliveries each sends a minute).

The store has no atomic counter, but it has a conditional put: a minute's allowance is `limit`
slots, `<minute>:<slot>` under `<kind>:<owner id>`, and a use is admitted by claiming the first
free one. One batch read finds which are taken; two uses racing for a slot both try the next, so
the count holds across concurrent Lambda invocations. The minute's first use purges the owner's
earlier minutes (locally nothing else would; in DynamoDB the slots also expire by TTL, should a
purge fail).

A use refused may be noted (`note_refused`, `<minute>:x<id>`, idempotent per id); the minute's
first admitted use counts the refusals of the earlier minutes as it purges them, and answers them
as `suppressed`: how many were refused since the last admitted use.
"""

from __future__ import annotations

from dataclasses import dataclass

from trading_system.kernel.documents import TTL_FIELD, DocumentStore
from trading_system.kernel.errors import ConcurrencyConflict

KEPT_S = 3600  # a minute's slots expire an hour after it (DynamoDB's TTL is approximate anyway)
_REFUSED = "x"  # sorts after a slot's digits, so a minute's refusals come after its slots


def slot_key(minute: int, slot: int) -> str:
    # Fixed width, so that keys sort by minute and a purge reads the old ones first.
    return f"{minute:012d}:{slot:03d}"


@dataclass(frozen=True)
class Admission:
    admitted: bool
    suppressed: int = 0  # refusals noted before this minute, when it is the minute's first use


class MinuteSlots:
    def __init__(self, store: DocumentStore, kind: str):
        self.store = store
        self.kind = kind  # the family: `<kind>:<owner id>` holds one owner's slots

    def kind_of(self, owner_id: str) -> str:
        return f"{self.kind}:{owner_id}"

    def claim(self, owner_id: str, minute: int, limit: int) -> Admission:
        kind = self.kind_of(owner_id)
        slots = [slot_key(minute, n) for n in range(limit)]
        taken: dict[str, object] = {}
        for start in range(0, len(slots), 100):  # a batch read takes at most 100 keys in DynamoDB
            taken.update(self.store.get_many(kind, slots[start : start + 100]))
        expires = {TTL_FIELD: (minute + 1) * 60 + KEPT_S}
        for key in slots:
            if key in taken:
                continue
            try:
                self.store.put(kind, key, expires, if_absent=True)
            except ConcurrencyConflict:
                continue  # another use took it first: try the next
            suppressed = self.purge(owner_id, before=minute) if key == slots[0] else 0
            return Admission(True, suppressed)
        return Admission(False)

    def note_refused(self, owner_id: str, minute: int, use_id: str) -> None:
        expires = {TTL_FIELD: (minute + 1) * 60 + KEPT_S}
        self.store.put(self.kind_of(owner_id), f"{minute:012d}:{_REFUSED}{use_id}", expires)

    def purge(self, owner_id: str, before: int | None) -> int:
        """Delete the owner's slots of minutes before `before` (all of them with None); answers how
        many of them were noted refusals."""
        kind = self.kind_of(owner_id)
        first_kept = None if before is None else slot_key(before, 0)
        refused = 0
        while True:
            page = self.store.scan(kind, limit=100)
            old = [key for key, _ in page if first_kept is None or key < first_kept]
            for key in old:
                self.store.delete(kind, key)
                refused += key[13:14] == _REFUSED
            if len(old) < len(page) or len(page) < 100:
                return refused
