"""Every strategy a user can name: code (built in, entry points, the strategies folder: see
registry.py) and declarative strategies saved in the write store. Code names come first, so a
saved strategy can never shadow one. Code strategies are everyone's; a saved one only its owner's
(and admins'): to anyone else its name is unknown."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from trading_system.strategies import registry
from trading_system.strategies.domain import Strategy

if TYPE_CHECKING:
    from trading_system.kernel.principal import Principal
    from trading_system.strategies.definitions import SavedStrategy
    from trading_system.strategies.ports import SavedStrategies

Kind = Literal["python", "rules"]


class StrategyBook:
    def __init__(self, saved: SavedStrategies, folder: str | None = None):
        self.saved = saved
        self.folder = folder

    def build(self, name: str, params: Mapping[str, Any], principal: Principal) -> tuple[Strategy, Kind]:
        """The named strategy with `params` validated; for a declarative one they override the
        saved definition's fields (`fraction`, `stop_loss_pct`...). A clear 422 (with a
        suggestion among the principal's names) for a name the principal does not know."""
        if name in registry.available(self.folder):
            return registry.build(name, params, self.folder), "python"
        saved = self.saved.get(name)
        if saved is None or not principal.owns(saved.owner):
            also = tuple(s.name for s in self._visible(principal))
            registry.strategy_class(name, self.folder, also=also)
            raise AssertionError("strategy_class raises for an unknown name")  # pragma: no cover
        return self.rebuild(name, "rules", {**saved.rules.model_dump(), **params}), "rules"

    def rebuild(self, name: str, kind: Kind, params: Mapping[str, Any]) -> Strategy:
        """A strategy from the complete parameters a job recorded, without the store: a job runs
        what was submitted even if the saved definition changed or went away since."""
        if kind == "python":
            return registry.build(name, params, self.folder)
        from trading_system.strategies.declarative import RuleStrategy
        from trading_system.strategies.definitions import RuleStrategyDefinition

        return RuleStrategy(registry.validated(name, RuleStrategyDefinition, params), name)

    def factory(self, name: str, kind: Kind) -> Callable[[Any], Strategy]:
        """What makes the strategy from validated parameters (picklable when `picklable`)."""
        if kind == "python":
            return registry.strategy_class(name, self.folder)
        from trading_system.strategies.declarative import RuleStrategy

        return functools.partial(RuleStrategy, name=name)

    def picklable(self, name: str, kind: Kind) -> bool:
        """Whether a spawned worker process can make the strategy: not a strategies folder's."""
        if kind == "rules":
            return True
        return not registry.strategy_class(name, self.folder).__module__.startswith(
            registry.FOLDER_MODULE_PREFIX
        )

    def describe(self, principal: Principal) -> list[dict[str, Any]]:
        """Every code strategy, and the saved ones the principal may see."""
        code = [
            {"name": name, "kind": "python", "summary": cls.summary, "params": cls.Params.model_json_schema()}
            for name, cls in sorted(registry.available(self.folder).items())
        ]
        saved = [
            {
                "name": s.name,
                "kind": "rules",
                "owner": s.owner,
                "summary": s.summary,
                "rules": s.rules.model_dump(),
                "params": _overridable_schema(),
            }
            for s in self._visible(principal)
        ]
        return code + saved

    def _visible(self, principal: Principal) -> list[SavedStrategy]:
        return [s for s in self.saved.list() if principal.owns(s.owner)]


def _overridable_schema() -> dict[str, Any]:
    """What a backtest's `params` may override on a declarative strategy: its scalar fields."""
    from trading_system.strategies.definitions import RuleStrategyDefinition

    schema = RuleStrategyDefinition.model_json_schema()
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in ("entry", "exit")}
    schema.pop("required", None)
    return schema
