"""Runs a scheduled catalog function: sends the command its trigger names (a timetabled one, with
the key of the item whose schedule fired). The Lambda and the local scheduler both call this, so
a schedule does the same thing in either runtime."""

from __future__ import annotations

import importlib
from typing import Any

from trading_system.bootstrap import Container
from trading_system.catalog import Every, Function, Timetabled
from trading_system.kernel.messages import Command


def scheduled_command(function: Function) -> type[Command]:
    """The command class a scheduled function sends, from its context's commands module."""
    if not isinstance(function.trigger, Every | Timetabled):
        raise LookupError(f"{function.name} is not a scheduled function")
    module = importlib.import_module(f"trading_system.{function.context}.commands")
    kind = getattr(module, function.trigger.command, None)
    if not (isinstance(kind, type) and issubclass(kind, Command)):
        raise LookupError(
            f"{function.name}: trading_system.{function.context}.commands has no command "
            f"{function.trigger.command!r}"
        )
    return kind


def run_scheduled(function: Function, container: Container) -> Any:
    return container.bus.execute(scheduled_command(function)())


def run_timetabled(function: Function, container: Container, key: str) -> Any:
    assert isinstance(function.trigger, Timetabled), f"{function.name} is not timetabled"
    return container.bus.execute(scheduled_command(function)(**{function.trigger.key: key}))
