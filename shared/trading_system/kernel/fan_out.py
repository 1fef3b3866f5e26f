"""What a fan-out's plan answers (see `catalog.FanOut`): the same in Step Functions and locally."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from trading_system.kernel.messages import Command


class FanOutStep(BaseModel):
    """How a fan-out's state machine invokes its function (see infra/constructs/fan_out.py)."""

    command: str
    input: dict[str, Any]
    correlation_id: str | None = None
    # What the Map's Catch caught: {"Error": ..., "Cause": ...} (Cause is the Lambda's error as JSON).
    error: dict[str, Any] | None = None

    def failure(self) -> str | None:
        if self.error is None:
            return None
        cause = self.error.get("Cause") or ""
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            return f"{parsed.get('errorType', 'Error')}: {parsed['errorMessage']}"
        return f"{self.error.get('Error', 'Error')}: {cause}".rstrip(": ")


class FanOutPlan(BaseModel):
    """The items to run, each the fields of one `each` command, and the fields of the `finish`
    command; `finish` is None when there is nothing to do (the work was already started, or is
    gone), and then neither runs."""

    model_config = ConfigDict(frozen=True)

    items: list[dict[str, Any]]
    finish: dict[str, Any] | None

    @classmethod
    def nothing(cls) -> FanOutPlan:
        return cls(items=[], finish=None)


def step_command(kind: type[Command], fields: Mapping[str, Any], error: str | None = None) -> Command:
    """A step's command from the fields it is given (an event's fields for the plan, which carry
    more than the command declares), with the error that ended the items for the finish."""
    known = {name: value for name, value in fields.items() if name in kind.model_fields}
    if error is not None:
        known["error"] = error
    return kind.model_validate(known)
