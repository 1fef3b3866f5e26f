"""The CDK app: `npx cdk synth` runs `python -m infra.app` (see cdk.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra import nag
from infra.stack import TradingStack

STACK_NAME = "TradingSystem"
CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (feature flags), which the CLI passes to the app; tests pass it
    themselves so that they assert on the template the CLI deploys."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def stack_name(stage: str | None) -> str:
    """`TradingSystem`, or `TradingSystem-<stage>` so that several live in one account and region
    (`make deploy STAGE=dev`): every name the stack makes derives from its own."""
    if not stage:
        return STACK_NAME
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", stage):
        raise ValueError(
            f"stage {stage!r}: use 1-20 lowercase letters, digits and dashes, starting with a letter"
        )
    return f"{STACK_NAME}-{stage}"


def snap_start(value: object) -> bool:
    """The `snapStart` context: on unless it says false (a typo must not silently turn it off)."""
    if value is None or isinstance(value, bool):
        return value is not False
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"snapStart: {value!r} is neither true nor false")
    return text == "true"


def build(app: cdk.App) -> TradingStack:
    alarm_email = app.node.try_get_context("alarmEmail")  # `cdk deploy -c alarmEmail=ops@example.com`
    origins = app.node.try_get_context("corsOrigins")  # `-c corsOrigins=https://a.example,https://b.example`
    stack = TradingStack(
        app,
        stack_name(app.node.try_get_context("stage")),
        description=(
            "Serverless algorithmic-trading platform (shared/trading_system/catalog.py is its topology)"
        ),
        alarm_email=str(alarm_email) if alarm_email else None,
        cors_origins=[o.strip() for o in str(origins).split(",") if o.strip()] if origins else [],
        # `-c customerManagedKey=true`: the data under a KMS key of the account's own
        customer_managed_key=str(app.node.try_get_context("customerManagedKey")).lower() == "true",
        # `-c snapStart=false`: every function without SnapStart (the catalog's choice otherwise)
        snap_start=snap_start(app.node.try_get_context("snapStart")),
    )
    cdk.Tags.of(stack).add("project", "trading-system")
    nag.check(app)
    return stack


def main() -> None:
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
