"""SnapStart's runtime hooks (entrypoints/snapstart.py): registered only when Lambda takes a
snapshot, and after each restore new seeds, a new botocore session and the container's connections
built again. `snapshot_restore_py` exists only in Lambda's runtime: a stand-in records what is
registered, as the runtime would, and the tests run the hooks themselves."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws_fixtures import aws_keys
from trading_system.adapters import duck
from trading_system.adapters.aws import clients
from trading_system.bootstrap import Container
from trading_system.catalog import Http, Resource, by_name
from trading_system.config import Settings
from trading_system.entrypoints import snapstart
from trading_system.entrypoints.lambda_runtime import build_clients, container_for

__all__ = ["aws_keys"]  # fixtures this module uses

Hook = tuple[Callable[..., Any], tuple[Any, ...]]


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Hook]]]:
    """The runtime's `snapshot_restore_py`, recording the hooks registered with their arguments."""
    registered: dict[str, list[Hook]] = {"before_snapshot": [], "after_restore": []}
    module = types.ModuleType("snapshot_restore_py")

    def recorder(kind: str) -> Callable[..., Any]:
        def register(func: Callable[..., Any], *args: Any) -> Callable[..., Any]:
            registered[kind].append((func, args))
            return func

        return register

    module.register_before_snapshot = recorder("before_snapshot")  # type: ignore[attr-defined]
    module.register_after_restore = recorder("after_restore")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    yield registered


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path))
    return Settings(data_dir=tmp_path)


def test_nothing_is_registered_or_imported_outside_a_snapshot(
    monkeypatch: pytest.MonkeyPatch, local: Settings
) -> None:
    monkeypatch.delenv(snapstart.INITIALIZATION_TYPE, raising=False)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # importing it would fail
    assert snapstart.register(Container(local), "trading", lambda: None) is False
    monkeypatch.setenv(snapstart.INITIALIZATION_TYPE, "on-demand")
    assert snapstart.register(Container(local), "trading", lambda: None) is False


def test_a_snapshotted_function_registers_one_hook_of_each(
    monkeypatch: pytest.MonkeyPatch, hooks: dict[str, list[Hook]], local: Settings
) -> None:
    monkeypatch.setenv(snapstart.INITIALIZATION_TYPE, snapstart.SNAP_START)
    container = container_for(by_name()["place_order"])
    (before,) = hooks["before_snapshot"]
    (after,) = hooks["after_restore"]
    assert before == (snapstart.before_snapshot, ("trading",))
    function, (restored, build) = after
    assert function is snapstart.after_restore and restored is container
    store = container.store
    build()  # the function's clients, as at init: already built, so the same
    assert container.store is store


def test_before_the_snapshot_the_contexts_handlers_are_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "trading_system.market_data.handlers", raising=False)
    snapstart.before_snapshot("market_data")
    assert "trading_system.market_data.handlers" in sys.modules
    snapstart.before_snapshot("stream")  # no handlers of its own: nothing to import, no error


def test_each_restore_draws_other_numbers_than_the_snapshot_would() -> None:
    random.seed(13)
    snapshot = random.getstate()
    draws = []
    for _ in range(2):  # two instances resumed from the one snapshot
        random.setstate(snapshot)
        snapstart.reseed()
        draws.append([random.random() for _ in range(4)])
    random.setstate(snapshot)
    assert draws[0] != draws[1]
    assert [random.random() for _ in range(4)] not in draws


def test_numpy_is_reseeded_only_when_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    np.random.seed(13)
    snapshot = np.random.get_state()
    snapstart.reseed()
    after = np.random.random()
    np.random.set_state(snapshot)
    assert after != np.random.random()
    monkeypatch.delitem(sys.modules, "numpy")
    snapstart.reseed()  # not imported by the function: left alone


def test_forgetting_connections_rebuilds_every_dependency_but_the_bus(local: Settings) -> None:
    container = Container(local)
    bus, store, symbols = container.bus, container.store, container.symbols
    container.forget_connections()
    assert container.bus is bus  # it holds no connection: it asks the container at each message
    assert container.store is not store
    assert container.symbols is not symbols  # it held the old store


def test_after_restore_builds_a_new_session_and_the_functions_clients(
    aws_keys: None, local: Settings
) -> None:
    settings = Settings(aws_region="eu-west-1")
    clients.client("dynamodb", settings)
    session = clients._session
    assert session is not None
    loader = session.get_component("data_loader")
    container = Container(local)
    function = by_name()["place_order"]
    assert isinstance(function.trigger, Http) and Resource.TABLE in function.uses
    build_clients(container, function)
    store = container.store
    snapstart.after_restore(container, lambda: build_clients(container, function))
    assert container.store is not store  # built again by the hook, not on the first request
    assert "store" in vars(container)
    clients.client("dynamodb", settings)
    renewed = clients._session
    assert renewed is not None and renewed is not session  # credentials resolved again
    assert renewed.get_component("data_loader") is loader  # models kept


def test_the_lakes_s3_secret_takes_credentials_from_the_chain_without_keys_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under SnapStart, Lambda serves the role's credentials from an endpoint, not the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    assert duck.s3_credentials() == ("AKIAFROMENVIRONMENT0", "env-secret", "env-token")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "credentials"
    shared.write_text(
        "[default]\naws_access_key_id = AKIAFROMTHECHAIN0000\naws_secret_access_key = chain-secret\n"
        "aws_session_token = chain-token\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert duck.s3_credentials() == ("AKIAFROMTHECHAIN0000", "chain-secret", "chain-token")
