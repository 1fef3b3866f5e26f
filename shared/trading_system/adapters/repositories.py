"""Repositories over the document store. The kinds named here are the write store's schema."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from trading_system.identity.domain import ApiKey
from trading_system.kernel.documents import DocumentStore, scan_all
from trading_system.kernel.errors import ConcurrencyConflict, NotFound
from trading_system.kernel.kinds import (
    API_KEYS,
    BACKFILLS,
    SCANNERS,
    SIGNAL_KEYS,
    SYMBOLS,
)
from trading_system.market_data.domain import Listing, Timeframe
from trading_system.market_data.ports import BackfillCheckpoint
from trading_system.scanning.domain import Scanner


class DocumentSymbolRepository:
    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, symbol: str) -> Listing | None:
        doc = self.store.get(SYMBOLS, symbol)
        return Listing.model_validate(doc) if doc else None

    def add(self, listing: Listing) -> None:
        self.store.put(SYMBOLS, listing.symbol, listing.model_dump(mode="json"), if_absent=True)

    def save_many(self, listings: Iterable[Listing]) -> None:
        self.store.put_many(SYMBOLS, {x.symbol: x.model_dump(mode="json") for x in listings})

    def get_many(self, symbols: Iterable[str]) -> dict[str, Listing]:
        return {
            key: Listing.model_validate(doc) for key, doc in self.store.get_many(SYMBOLS, symbols).items()
        }

    def known(self, symbols: Iterable[str]) -> set[str]:
        return set(self.store.get_many(SYMBOLS, symbols))

    def require(self, symbol: str) -> Listing:
        listing = self.get(symbol)
        if listing is None:
            raise NotFound(f"symbol {symbol} is not registered", field="symbol")
        return listing

    def tagged(self, tag: str, after: str | None = None, limit: int | None = None) -> list[Listing]:
        # Tags are few and universes small enough to filter after reading; an index can come later.
        found: list[Listing] = []
        while limit is None or len(found) < limit:
            page = self.list(after, 1000)
            found += [listing for listing in page if tag in listing.tags]
            if len(page) < 1000:
                break
            after = page[-1].symbol
        return found if limit is None else found[:limit]

    def list(self, after: str | None, limit: int) -> list[Listing]:
        return [Listing.model_validate(d) for _, d in self.store.scan(SYMBOLS, after=after, limit=limit)]


class DocumentApiKeyRepository:
    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, key_id: str) -> ApiKey | None:
        doc = self.store.get(API_KEYS, key_id)
        return ApiKey.model_validate(doc) if doc else None

    def add(self, key: ApiKey) -> None:
        self.store.put(API_KEYS, key.key_id, key.model_dump(mode="json"), if_absent=True)

    def save(self, key: ApiKey) -> None:
        self.store.put(API_KEYS, key.key_id, key.model_dump(mode="json"))

    def list(self) -> list[ApiKey]:
        return [ApiKey.model_validate(d) for _, d in scan_all(self.store, API_KEYS)]


class DocumentScannerRepository:
    def __init__(self, store: DocumentStore):
        self.store = store

    def get(self, scanner_id: str) -> Scanner | None:
        doc = self.store.get(SCANNERS, scanner_id)
        return Scanner.model_validate(doc) if doc else None

    def add(self, scanner: Scanner) -> None:
        self.store.put(SCANNERS, scanner.scanner_id, scanner.model_dump(mode="json"), if_absent=True)

    def save(self, scanner: Scanner) -> None:
        self.store.put(SCANNERS, scanner.scanner_id, scanner.model_dump(mode="json"))

    def delete(self, scanner_id: str) -> None:
        self.store.delete(SCANNERS, scanner_id)

    def list(self) -> list[Scanner]:
        return [Scanner.model_validate(d) for _, d in scan_all(self.store, SCANNERS)]


class DocumentSignalRegistry:
    """Remembers which signals were raised, so the same one is never raised twice."""

    def __init__(self, store: DocumentStore):
        self.store = store

    def claim(self, key: str) -> bool:
        """True the first time a key is claimed, False ever after (safe under races)."""
        try:
            self.store.put(SIGNAL_KEYS, key, {"at": datetime.now(UTC).isoformat()}, if_absent=True)
        except ConcurrencyConflict:
            return False
        return True

    def release(self, keys: Iterable[str]) -> None:
        """Forget claims whose signals could not be recorded, so a retry raises them again."""
        for key in keys:
            self.store.delete(SIGNAL_KEYS, key)


class DocumentBackfillCheckpoints:
    """How far each (provider, symbol, timeframe) backfill got, so a re-run resumes there."""

    def __init__(self, store: DocumentStore):
        self.store = store

    @staticmethod
    def _key(provider: str, symbol: str, timeframe: str) -> str:
        return f"{provider}#{symbol}#{timeframe}"

    def get(self, provider: str, symbol: str, timeframe: Timeframe) -> BackfillCheckpoint | None:
        doc = self.store.get(BACKFILLS, self._key(provider, symbol, timeframe.value))
        return BackfillCheckpoint.model_validate(doc) if doc else None

    def save(self, checkpoint: BackfillCheckpoint) -> None:
        key = self._key(checkpoint.provider, checkpoint.symbol, checkpoint.timeframe.value)
        self.store.put(BACKFILLS, key, checkpoint.model_dump(mode="json"))
