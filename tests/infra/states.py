"""Just enough of Amazon States Language to run a synthesised state machine in this process: the
states and paths FanOutWorkflow writes (Task invoking a Lambda, Choice on IsNull, a Map over
ItemsPath with ItemSelector and Catch, Succeed; ResultPath, `.$` parameters, `$$.Map.Item.Value`).
moto does not execute a Distributed Map, so the infra tests run its definition here, with the
function's real Lambda handler invoked in process on each step's payload."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

Invoke = Callable[[str, dict[str, Any]], Any]  # (function's logical id, event) -> its response


class TaskFailed(Exception):
    def __init__(self, error: str, cause: str):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def render(definition: Any) -> dict[str, Any]:
    """A DefinitionString (a Fn::Join of text and function ARNs) as JSON, each ARN written as
    `arn:<logical id>`."""
    if isinstance(definition, str):
        parsed: dict[str, Any] = json.loads(definition)
        return parsed
    separator, parts = definition["Fn::Join"]
    text = separator.join(p if isinstance(p, str) else f"arn:{p['Fn::GetAtt'][0]}" for p in parts)
    rendered: dict[str, Any] = json.loads(text)
    return rendered


def path(document: Any, expression: str, context: dict[str, Any]) -> Any:
    if expression.startswith("$$"):
        document, expression = context, expression[1:]
    value = document
    for key in [k for k in expression.removeprefix("$").split(".") if k]:
        value = value[key]
    return value


def parameters(template: Any, state_input: Any, context: dict[str, Any]) -> Any:
    if template == "$":  # no Parameters: the state's input as it is
        return state_input
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = path(state_input, value, context)
            else:
                out[key] = parameters(value, state_input, context)
        return out
    return template


def with_result(state: dict[str, Any], state_input: Any, result: Any) -> Any:
    if "ResultPath" not in state:
        return result
    target = state["ResultPath"]
    if target is None:
        return state_input
    document = copy.deepcopy(state_input)
    keys = target.removeprefix("$.").split(".")
    place = document
    for key in keys[:-1]:
        place = place.setdefault(key, {})
    place[keys[-1]] = result
    return document


def run(
    machine: dict[str, Any], state_input: Any, invoke: Invoke, context: dict[str, Any] | None = None
) -> Any:
    """Runs the machine to its end; a failure no Catch handles raises TaskFailed."""
    context = context or {}
    name = machine["StartAt"]
    document = state_input
    while True:
        state = machine["States"][name]
        kind = state["Type"]
        if kind == "Succeed":
            return document
        if kind == "Choice":
            name = _choose(state, document)
            continue
        try:
            if kind == "Task":
                event = (
                    parameters(state["Parameters"], document, context) if "Parameters" in state else document
                )
                result = invoke(state["Resource"].removeprefix("arn:"), event)
            elif kind == "Map":
                result = _map(state, document, invoke, context)
            else:
                raise AssertionError(f"state type {kind} is not supported here")
        except TaskFailed as failure:
            catcher = next((c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]), None)
            if catcher is None:
                raise
            caught = {"Error": failure.error, "Cause": failure.cause}
            document = with_result({"ResultPath": catcher["ResultPath"]}, document, caught)
            name = catcher["Next"]
            continue
        document = with_result(state, document, result)
        if state.get("End"):
            return document
        name = state["Next"]


def _choose(state: dict[str, Any], document: Any) -> str:
    for choice in state["Choices"]:
        try:
            value = path(document, choice["Variable"], {})
        except KeyError:
            value = None
        if "IsNull" in choice and (value is None) == choice["IsNull"]:
            return str(choice["Next"])
    return str(state["Default"])


def _map(state: dict[str, Any], document: Any, invoke: Invoke, context: dict[str, Any]) -> list[Any]:
    """Every item, one after another; past the tolerated failures (none by default), a Distributed
    Map fails with its own error, not the item's."""
    results = []
    for item in path(document, state["ItemsPath"], context):
        selected = parameters(state["ItemSelector"], document, {"Map": {"Item": {"Value": item}}})
        try:
            results.append(run(state["ItemProcessor"], selected, invoke))
        except TaskFailed:
            if state.get("ToleratedFailurePercentage", 0) == 0:
                raise TaskFailed(
                    "States.ExceedToleratedFailureThreshold",
                    "The specified tolerated failure threshold was exceeded",
                ) from None
    return results
