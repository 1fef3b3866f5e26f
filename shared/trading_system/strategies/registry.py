"""Where strategies are found: the built-in ones, and those other packages declare in the
`trading_system.strategies` entry-point group (shipped with the code, and so with the Lambda
layer in AWS: no code is uploaded over HTTP)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from trading_system.analytics.specs import suggest
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.strategies.builtin import BUILTIN
from trading_system.strategies.domain import Strategy

ENTRY_POINT_GROUP = "trading_system.strategies"


@functools.cache
def available() -> dict[str, type[Strategy]]:
    found = {strategy.name: strategy for strategy in BUILTIN}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if not (isinstance(loaded, type) and issubclass(loaded, Strategy)):
            raise TypeError(f"entry point {point.name} = {point.value} is not a Strategy class")
        if loaded.name in found:
            raise ValueError(f"two strategies are named {loaded.name!r}")
        found[loaded.name] = loaded
    return found


def strategy_class(name: str) -> type[Strategy]:
    known = available()
    if name not in known:
        raise ValidationFailed(
            f"unknown strategy {name!r}{suggest(name, known)}",
            [Problem(f"known strategies: {', '.join(sorted(known))}", field="strategy", value=name)],
        )
    return known[name]


def build(name: str, params: Mapping[str, Any]) -> Strategy:
    """The strategy with its parameters validated; each bad one named (`params.n1`)."""
    kind = strategy_class(name)
    try:
        return kind(kind.Params.model_validate(dict(params)))
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
