"""Every handler names its dependencies by what they are, and the container has each one: a
misspelt or missing dependency fails here, not at the first message in production."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trading_system.bootstrap import CONTEXTS, Container, all_handlers, event_handler
from trading_system.catalog import CATALOG, On
from trading_system.config import Settings


def _handlers() -> list[tuple[str, Callable[..., Any]]]:
    table = all_handlers()
    found = [(kind.__name__, handler) for kind, handler in {**table.commands, **table.queries}.items()]
    found += [(f.name, event_handler(f.name)) for f in CATALOG if isinstance(f.trigger, On)]
    return found


def test_every_context_registers_handlers() -> None:
    modules = {handler.__module__.split(".")[1] for _, handler in _handlers()}
    assert modules == set(CONTEXTS)


@pytest.mark.parametrize(("message", "handler"), _handlers(), ids=lambda x: x if isinstance(x, str) else "")
def test_each_handler_parameter_is_a_dependency_of_the_container(
    message: str, handler: Callable[..., Any], tmp_path: Path
) -> None:
    container = Container(Settings(data_dir=tmp_path))
    names = list(inspect.signature(handler).parameters)[1:]  # the first one is the message
    for name in names:
        if name == "context":  # the message's context, given by the bus
            continue
        # the container has it, and it builds
        assert getattr(container, name, None) is not None, f"{handler.__qualname__}: no {name!r}"
