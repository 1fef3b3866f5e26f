from __future__ import annotations

from typing import Protocol

from trading_system.identity.domain import ApiKey


class ApiKeyRepository(Protocol):
    def get(self, key_id: str) -> ApiKey | None: ...

    def add(self, key: ApiKey) -> None: ...

    def save(self, key: ApiKey) -> None: ...

    def list(self) -> list[ApiKey]: ...
