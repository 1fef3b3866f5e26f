"""From a deployed stack to a first admin key with a documented command (issue 12, part 4):
`trading deployment env --stack NAME` reads the stack's outputs and prints the settings that point
the CLI at it; with them, `trading keys create --role admin` writes the key into the stack's
table. Against moto's server on loopback: CloudFormation, DynamoDB, EventBridge, S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.aws_fixtures import PlatformResources, boto_client, unique_name
from trading_system.bootstrap import bootstrap
from trading_system.identity.queries import Authenticate
from trading_system.kernel.principal import Role

ROOT = Path(__file__).resolve().parents[2]


def cli(args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real `trading` command, in bash (so `eval "$(...)"` works as the README says)."""
    trading = Path(sys.executable).parent / "trading"
    return subprocess.run(
        ["bash", "-c", args.replace("trading ", f"{trading} ")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def deployed_stack(moto_url: str, made: PlatformResources, **extra: str) -> str:
    """A stack on moto's CloudFormation with the platform's outputs (and `extra` ones): its name."""
    stack = unique_name("stack")
    outputs = {
        "TableName": made.table,
        "EventBusName": made.bus,
        "LakeBucketName": made.lake,
        "RawBucketName": made.raw,
        **extra,
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto_client("cloudformation", moto_url).create_stack(StackName=stack, TemplateBody=json.dumps(template))
    return stack


def cli_env(moto_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    return env | {"TRADING_AWS_ENDPOINT_URL": moto_url, "TRADING_DATA_DIR": str(tmp_path)}


def test_the_first_admin_key_of_a_deployment_from_its_stack_outputs(moto_url: str, tmp_path: Path) -> None:
    made = PlatformResources.create(moto_url)
    stack = deployed_stack(moto_url, made, ApiUrl="https://abc123.execute-api.us-east-1.amazonaws.com/")
    env = cli_env(moto_url, tmp_path)

    printed = cli(f"trading deployment env --stack {stack}", env)
    assert printed.returncode == 0, printed.stderr
    assert f"export TRADING_TABLE_NAME={made.table}" in printed.stdout
    assert f"export TRADING_LAKE_ROOT=s3://{made.lake}" in printed.stdout
    assert "# the API: https://abc123.execute-api" in printed.stdout
    assert "TRADING_ALERTS_TOPIC_ARN" not in printed.stdout  # a stack from before that output

    created = cli(
        f'eval "$(trading deployment env --stack {stack})" && trading keys create --role admin --label first',
        env,
    )
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["api_key"]
    container = bootstrap(made.settings(moto_url, tmp_path))
    assert container.bus.ask(Authenticate(token=secret)).role is Role.ADMIN


def test_a_stack_that_is_not_there_is_named(moto_url: str, tmp_path: Path) -> None:
    missing = cli("trading deployment env --stack NoSuchStack", cli_env(moto_url, tmp_path))
    assert missing.returncode == 2
    assert "no stack NoSuchStack in us-east-1" in missing.stderr


def test_the_alerts_topic_is_exported_when_the_stack_names_it(moto_url: str, tmp_path: Path) -> None:
    made = PlatformResources.create(moto_url)
    topic = "arn:aws:sns:us-east-1:123456789012:TradingSystem-EmailAlertsTopic"
    stack = deployed_stack(moto_url, made, AlertsTopicArn=topic)
    printed = cli(f"trading deployment env --stack {stack}", cli_env(moto_url, tmp_path))
    assert printed.returncode == 0, printed.stderr
    assert f"export TRADING_ALERTS_TOPIC_ARN={topic}" in printed.stdout
