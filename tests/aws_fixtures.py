"""Pytest fixtures for tests of the AWS adapters: moto's server on loopback, never real AWS.

Import the fixtures into a suite's conftest.py (`from tests.aws_fixtures import aws_env, moto_url`)
to use them there. One server per test process (so one per pytest-xdist worker); tests name
their tables, buses and queues uniquely, so they never share state even inside one server.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from trading_system.config import Settings

REGION = "us-east-1"

# Fake credentials and no shared config: boto3 must never find (or use) real ones, nor ask the
# instance metadata service for them, nor route loopback through a proxy.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Fake AWS credentials and region for the whole session, restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        for name in _UNSET:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials for one test, no server: clients are built, never called."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def moto_url(aws_env: None) -> Iterator[str]:
    """The endpoint URL of a moto server on 127.0.0.1 (a free port), for the session."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO; that noise would bury the useful part of a failure.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def unique_name(prefix: str) -> str:
    """A resource name no other test (nor xdist worker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@functools.cache
def boto_client(service: str, endpoint_url: str) -> Any:
    """A plain boto3 client on the moto server, for arranging and inspecting test state.

    Cached: building a client loads its service model, which takes longer than most tests.
    """
    import boto3

    return boto3.session.Session().client(service, region_name=REGION, endpoint_url=endpoint_url)


@pytest.fixture
def moto_transactions_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's TransactWriteItems isolated, as DynamoDB's are: one at a time, and unseen
    by any other request until it has committed or rolled back.

    moto's server handles requests on parallel threads, and its TransactWriteItems (moto 5.2.5)
    is not isolated. It deep-copies the whole table, then applies the items one by one, and
    when an item's condition fails it rolls back by putting that copy back. So, without this:
    - racing transactions erase each other's acknowledged writes, and their versions are handed
      out again;
    - a read in the meantime sees items of a transaction that is then rolled back (DynamoDB's
      reads are read-committed and never do), and a writer that built on such a phantom event
      commits on top of the real event of the same version (a fill lost from an account's cash,
      once in a loaded run);
    - a write in the meantime is erased by the rollback;
    - the copy sometimes dies with "dictionary changed size during iteration", a 500 that
      botocore retries.
    None of that can happen in DynamoDB, so the test would measure moto, not the adapter. Every
    item read and write of the backend takes one lock (re-entrant: a transaction writes through
    put_item). The server runs in this process, so patching the backend class reaches it.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def isolated(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def under_lock(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return under_lock

    for name in ISOLATED_DYNAMODB_CALLS:
        monkeypatch.setattr(DynamoDBBackend, name, isolated(getattr(DynamoDBBackend, name)))


# what moto's DynamoDB backend reads and writes items with (BatchGetItem and BatchWriteItem go
# through these one key at a time)
ISOLATED_DYNAMODB_CALLS = (
    "transact_write_items",
    "get_item",
    "query",
    "scan",
    "put_item",
    "update_item",
    "delete_item",
)


@dataclass(frozen=True)
class PlatformResources:
    """What a deployed stack provides the functions (its outputs), made on moto."""

    table: str
    bus: str
    lake: str
    raw: str

    @classmethod
    def create(cls, moto_url: str) -> PlatformResources:
        from trading_system.adapters.aws.dynamodb_store import create_table

        made = cls(*(unique_name(kind) for kind in ("table", "bus", "lake", "raw")))
        create_table(boto_client("dynamodb", moto_url), made.table)
        boto_client("events", moto_url).create_event_bus(Name=made.bus)
        for bucket in (made.lake, made.raw):
            boto_client("s3", moto_url).create_bucket(Bucket=bucket)
        return made

    def settings(self, moto_url: str, data_dir: Path, **overrides: Any) -> Settings:
        """The AWS runtime's settings on these resources (and `overrides`)."""
        from trading_system.config import load_settings

        return load_settings(
            **overrides,
            runtime="aws",
            data_dir=data_dir,
            table_name=self.table,
            event_bus_name=self.bus,
            lake_root=f"s3://{self.lake}",
            raw_root=f"s3://{self.raw}",
            aws_endpoint_url=moto_url,
        )
