"""Where strategy code is found: the built-in strategies, those other packages declare in the
`trading_system.strategies` entry-point group, and the `.py` files of a strategies folder (the
`strategies_dir` setting). Code is shipped with the platform (and so with the Lambda layer in
AWS): no code is uploaded over HTTP. Declarative strategies are data: see `book.py`."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trading_system.analytics.specs import suggest
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.strategies.builtin import BUILTIN
from trading_system.strategies.domain import Strategy

ENTRY_POINT_GROUP = "trading_system.strategies"
FOLDER_MODULE_PREFIX = "user_strategies_"


@functools.cache
def available(folder: str | None = None) -> dict[str, type[Strategy]]:
    found = {strategy.name: strategy for strategy in BUILTIN}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if not (isinstance(loaded, type) and issubclass(loaded, Strategy)):
            raise TypeError(f"entry point {point.name} = {point.value} is not a Strategy class")
        _add(found, loaded, f"entry point {point.name}")
    if folder:
        for kind, origin in _from_folder(Path(folder)):
            _add(found, kind, origin)
    return found


def _add(found: dict[str, type[Strategy]], kind: type[Strategy], origin: str) -> None:
    if kind.name in found and found[kind.name] is not kind:
        raise ValueError(f"two strategies are named {kind.name!r} (the second from {origin})")
    found[kind.name] = kind


def _from_folder(folder: Path) -> list[tuple[type[Strategy], str]]:
    """Every Strategy class defined (not imported) in the folder's modules, with a `name`."""
    if not folder.is_dir():
        raise FileNotFoundError(f"strategies_dir {folder} is not a folder")
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        # A module name of its own per file, so two folders' `momentum.py` never collide.
        module_name = f"{FOLDER_MODULE_PREFIX}{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if issubclass(kind, Strategy) and kind.__module__ == module_name and "name" in vars(kind):
                found.append((kind, str(path.name)))
    return found


def strategy_class(name: str, folder: str | None = None, also: tuple[str, ...] = ()) -> type[Strategy]:
    known = available(folder)
    if name not in known:
        everything = sorted({*known, *also})
        raise ValidationFailed(
            f"unknown strategy {name!r}{suggest(name, everything)}",
            [Problem(f"known strategies: {', '.join(everything)}", field="strategy", value=name)],
        )
    return known[name]


def build(name: str, params: Mapping[str, Any], folder: str | None = None) -> Strategy:
    """The strategy with its parameters validated; each bad one named (`params.n1`)."""
    kind = strategy_class(name, folder)
    return kind(validated(name, kind.Params, params))


def validated(name: str, params_model: Any, params: Mapping[str, Any]) -> Any:
    try:
        return params_model.model_validate(dict(params))
    except ValidationError as error:
        problems = [
            Problem(
                str(e["msg"]).removeprefix("Value error, "),
                field=".".join(["params", *(str(part) for part in e["loc"])]),
                value=e.get("input") if not isinstance(e.get("input"), dict) else None,
            )
            for e in error.errors()
        ]
        raise ValidationFailed(f"bad parameters for {name}: {problems[0].reason}", problems) from None
