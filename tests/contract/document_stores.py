"""The write store's two adapters as one parametrised fixture, for every contract suite built on
documents (the store itself, the WebSocket connections): SQLite, and DynamoDB on moto's server
with one table per module and worker (kinds are unique per test, so tests cannot collide)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws_fixtures import unique_name
from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore, create_table
from trading_system.adapters.local.sqlite_store import SqliteDocumentStore
from trading_system.config import Settings
from trading_system.kernel.documents import DocumentStore


@pytest.fixture(scope="module")
def dynamodb_table(request: pytest.FixtureRequest) -> str:
    moto_url: str = request.getfixturevalue("moto_url")
    name = unique_name("documents")
    store = DynamoDbDocumentStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=name))
    create_table(store.client, name)
    return name


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        sqlite = SqliteDocumentStore(tmp_path / "documents.db")
        yield sqlite
        sqlite.close()
    else:
        moto_url: str = request.getfixturevalue("moto_url")
        table = request.getfixturevalue("dynamodb_table")
        yield DynamoDbDocumentStore.from_settings(Settings(aws_endpoint_url=moto_url, table_name=table))
