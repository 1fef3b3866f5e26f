"""Fixtures shared by every suite: a local container on a temporary data folder, an HTTP
client over the full local app, and API keys of each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from trading_system.bootstrap import Container, bootstrap
from trading_system.config import Settings, load_settings
from trading_system.identity.commands import CreateApiKey
from trading_system.kernel.principal import Role


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def container(settings: Settings) -> Container:
    return bootstrap(settings)


@dataclass(frozen=True)
class Keys:
    viewer: str
    trader: str
    admin: str

    def header(self, role: str) -> dict[str, str]:
        return {"x-api-key": getattr(self, role)}


@pytest.fixture
def keys(container: Container) -> Keys:
    def issue(role: Role) -> str:
        token: str = container.bus.execute(CreateApiKey(role=role, label=f"test {role}")).api_key
        return token

    return Keys(viewer=issue(Role.VIEWER), trader=issue(Role.TRADER), admin=issue(Role.ADMIN))


def user_key(container: Container, role: Role, user: str) -> dict[str, str]:
    """The header of a new key of `role` belonging to the user `user`."""
    issued = container.bus.execute(CreateApiKey(role=role, label=f"{user} {role}", owner=user))
    return {"x-api-key": issued.api_key}


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    from trading_system.entrypoints.local.runner import build_local_app

    with TestClient(build_local_app(container, background=False)) as test_client:
        yield test_client
