"""Commands about a deployment on AWS: pointing this CLI at it, and a smoke test of any running
platform (a deployment, or `trading serve`)."""

from __future__ import annotations

import shlex
from typing import Annotated, Any

import typer

from trading_system.entrypoints.cli.common import fail

deployment_app = typer.Typer(help="A deployed stack: its settings, and a smoke test.", no_args_is_help=True)

# The stack's outputs (infra/stack.py) and the settings they are.
_FROM_OUTPUTS = {
    "TableName": ("TRADING_TABLE_NAME", "{}"),
    "EventBusName": ("TRADING_EVENT_BUS_NAME", "{}"),
    "LakeBucketName": ("TRADING_LAKE_ROOT", "s3://{}"),
    "RawBucketName": ("TRADING_RAW_ROOT", "s3://{}"),
}
# Outputs a stack deployed before they existed lacks: exported when there.
_FROM_LATER_OUTPUTS = {
    "AlertsTopicArn": ("TRADING_ALERTS_TOPIC_ARN", "{}"),
}


@deployment_app.command("env")
def env(
    stack: Annotated[str, typer.Option(help="the stack's name (TradingSystem, or TradingSystem-<stage>)")] = (
        "TradingSystem"
    ),
    region: Annotated[
        str | None, typer.Option(help="the stack's region (default: TRADING_AWS_REGION)")
    ] = None,
) -> None:
    """Shell lines that point this CLI at a deployed stack, with your AWS credentials:
    `eval "$(trading deployment env --stack TradingSystem)"`, then e.g. `trading keys create
    --role admin` creates the first admin key in the stack's table."""
    from trading_system.adapters.aws.clients import client
    from trading_system.config import load_settings

    settings = load_settings(**({"aws_region": region} if region else {}))
    outputs = _outputs(client("cloudformation", settings), stack, settings.aws_region)
    missing = sorted(set(_FROM_OUTPUTS) - set(outputs))
    if missing:
        fail(f"stack {stack} has no output(s) {', '.join(missing)}: is it this platform's stack?")
    lines = [f"export TRADING_RUNTIME=aws TRADING_AWS_REGION={shlex.quote(settings.aws_region)}"]
    for output, (variable, form) in (_FROM_OUTPUTS | _FROM_LATER_OUTPUTS).items():
        if output in outputs:
            lines.append(f"export {variable}={shlex.quote(form.format(outputs[output]))}")
    if "ApiUrl" in outputs:
        lines.append(f"# the API: {outputs['ApiUrl']}")
    typer.echo("\n".join(lines))


def _outputs(cloudformation: Any, stack: str, region: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        fail(f"no stack {stack} in {region} that your credentials can read: {error}")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


@deployment_app.command("smoke")
def smoke(
    url: Annotated[
        str, typer.Option(help="the API's URL (a stack's ApiUrl output, or http://127.0.0.1:8000)")
    ],
    key: Annotated[str, typer.Option(help="an admin API key", envvar="TRADING_SMOKE_KEY")],
    stream_url: Annotated[
        str | None,
        typer.Option(
            help="the stream's URL when it is not the API's /v1/stream (a stack's WebSocketUrl output)"
        ),
    ] = None,
) -> None:
    """Health, bars in and out, a scan, a paper order placed and canceled, and its event on the
    stream: exits 0 when every step passed, 1 at the first that failed."""
    from trading_system.entrypoints.smoke import SmokeFailed, run

    try:
        report = run(url, key, say=typer.echo, stream_url=stream_url)
    except SmokeFailed as error:
        typer.secho(f"FAIL {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    typer.echo(f"smoke test passed: {len(report.passed)} steps{skipped}")
