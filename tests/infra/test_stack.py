"""Assertions over the synthesised CloudFormation templates (the root stack and one nested stack
per context): the catalog, all of it and nothing else, deployed with least privilege, bounded
retries, dead-letter queues and alarms; stateful resources that an upgrade never replaces; and
stacks that stay well under CloudFormation's resource limit."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra import packaging
from infra.app import build, cdk_json_context, stack_name
from infra.constructs.api import Api
from infra.constructs.observability import METRICS_PER_ALARM
from infra.stack import FUNCTIONS_PER_STACK, TradingStack, nested_stacks
from layers import build_layer
from tests.infra.conftest import Synthesized, flatten, synthesized_stacks
from trading_system.catalog import (
    CATALOG,
    Authorizer,
    Every,
    FanOut,
    FileDropped,
    Function,
    Http,
    Layer,
    On,
    Resource,
    Streamed,
    Timetabled,
)
from trading_system.config import Settings, load_settings
from trading_system.entrypoints.business_metrics import DEFINITIONS

pytestmark = pytest.mark.xdist_group("infra")

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# CloudFormation's limit is 500 resources per stack; DESIGN.md's budget is 400, so that a growing
# stack fails here long before a deployment fails.
STACK_RESOURCE_BUDGET = 400

# The data lives in these, in the root stack. Their logical ids, read from a synth of the stack as
# it was deployed before the nested stacks: a changed id makes CloudFormation replace the
# resource (a new, empty table, bucket or bus), so they must never change.
STATEFUL = {
    "StorageTableB43FDCE7": "AWS::DynamoDB::Table",
    "StorageLakeBucketAD1898C0": "AWS::S3::Bucket",
    "StorageRawBucketBBD9BDC5": "AWS::S3::Bucket",
    "DomainBus0AEBAFEC": "AWS::Events::EventBus",
    "DomainBusArchive706A9702": "AWS::Events::Archive",
}
# Not data, but replacing them would break what is outside the stack or fail the update: the API's
# id is in its URL, which clients keep; the topics' email subscriptions (the alarms' and every
# e-mail alert's address) would need confirming again; and a route key (the authorizer's name
# likewise) is unique in an API, so a new route would be created before the old one is deleted,
# and refused. A route's id comes from its method and path only (infra/constructs/api.py): two of
# them, as they were before the nested stacks.
STABLE = {
    "ApiHttpApi4C294DC0": "AWS::ApiGatewayV2::Api",
    "ObservabilityAlarmTopicF724909D": "AWS::SNS::Topic",
    "EmailAlertsTopic0BB9DB2B": "AWS::SNS::Topic",
    "ApiHttpApiApiKeyAuthorizer43F2D96A": "AWS::ApiGatewayV2::Authorizer",
    "ApiHttpApiGETv1healthBEFDFA03": "AWS::ApiGatewayV2::Route",
    "ApiHttpApiPOSTv1orders0A7C9570": "AWS::ApiGatewayV2::Route",
}

HTTP = [e for e in CATALOG if isinstance(e.trigger, Http)]
SUBSCRIBERS = [e for e in CATALOG if isinstance(e.trigger, On)]
SCHEDULED = [e for e in CATALOG if isinstance(e.trigger, Every)]
FILE_DROPPED = [e for e in CATALOG if isinstance(e.trigger, FileDropped)]
TIMETABLED = [e for e in CATALOG if isinstance(e.trigger, Timetabled)]
STREAMED = [e for e in CATALOG if isinstance(e.trigger, Streamed)]  # see test_websocket.py
ASYNC = SUBSCRIBERS + SCHEDULED + FILE_DROPPED + TIMETABLED + STREAMED
FAN_OUTS = [e for e in CATALOG if isinstance(e.trigger, FanOut)]  # see test_fan_out.py
(AUTHORIZER,) = [e for e in CATALOG if isinstance(e.trigger, Authorizer)]

TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
TABLE_READS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
LOCATION_VARIABLES = {
    Resource.TABLE: "TRADING_TABLE_NAME",
    Resource.BUS: "TRADING_EVENT_BUS_NAME",
    Resource.LAKE: "TRADING_LAKE_ROOT",
    Resource.RAW: "TRADING_RAW_ROOT",
    Resource.PARAMETERS: "TRADING_PARAMETERS_PATH",
    Resource.NOTIFY: "TRADING_ALERTS_TOPIC_ARN",
}
COMMON_VARIABLES = {
    "TRADING_RUNTIME",
    "TRADING_AWS_REGION",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
}


def by_name(entry: Function) -> str:
    return entry.name


def refs(value: Any) -> set[str]:
    """Logical ids a template value refers to: Ref, Fn::GetAtt, and ${Id} inside Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(part.split("}")[0].split(".")[0] for part in str(text).split("${")[1:])
                found |= refs(inner[1:]) if isinstance(inner, list) else set()
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return {f for f in found if not f.startswith("AWS::")}


def http_api(synthesized: Synthesized, resource_type: str) -> dict[str, Any]:
    """The HTTP API's resources of a type: the live stream's WebSocket API is test_websocket.py's."""
    websocket = {
        k
        for k, v in synthesized.of_type("AWS::ApiGatewayV2::Api").items()
        if v["Properties"].get("ProtocolType") == "WEBSOCKET"
    }
    return {
        k: v
        for k, v in synthesized.of_type(resource_type).items()
        if k not in websocket and not refs(v["Properties"].get("ApiId")) & websocket
    }


def only_id(resources: dict[str, Any]) -> str:
    (found,) = resources
    return found


def queue_ids(synthesized: Synthesized) -> set[str]:
    return set(synthesized.of_type("AWS::SQS::Queue"))


# --- functions ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_each_entry_has_one_lambda_built_as_the_catalog_says(
    synthesized: Synthesized, entry: Function
) -> None:
    props = synthesized.function(entry)["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == entry.handler.replace(":", ".")
    assert props["MemorySize"] == entry.memory_mb
    assert props["Timeout"] == entry.timeout_s
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert len(props["Layers"]) == 2 + len(entry.layers)
    assert refs(props["LoggingConfig"]["LogGroup"]) <= set(synthesized.of_type("AWS::Logs::LogGroup"))


def test_only_the_crypto_pulls_carry_the_crypto_layer(synthesized: Synthesized) -> None:
    """An optional layer is one LayerVersion, in the root, attached to exactly the functions
    whose entries name it, besides the two every function has. (Their order does not matter: no
    file is in two layers, tests/infra/test_layers.py.)"""
    versions = synthesized.of_type("AWS::Lambda::LayerVersion")
    (crypto,) = [k for k, v in versions.items() if "`crypto` extra" in v["Properties"]["Description"]]
    assert crypto in synthesized.root.resources
    assert len(versions) == 2 + len(Layer)
    every_function = set(versions) - {crypto}
    carrying = set()
    for entry in CATALOG:
        layers = {next(iter(refs(layer))) for layer in synthesized.function(entry)["Properties"]["Layers"]}
        assert layers - {crypto} == every_function, entry.name
        if crypto in layers:
            carrying.add(entry.name)
    assert carrying == {"pull_binance_bars", "pull_coinbase_bars", "pull_kraken_bars"}
    assert carrying == {e.name for e in CATALOG if Layer.CRYPTO in e.layers}


def test_no_lambda_exists_that_is_not_in_the_catalog(synthesized: Synthesized) -> None:
    handlers = sorted(
        f["Properties"]["Handler"] for f in synthesized.of_type("AWS::Lambda::Function").values()
    )
    assert handlers == sorted(entry.handler.replace(":", ".") for entry in CATALOG)


def test_log_groups_keep_logs_for_a_bounded_time(synthesized: Synthesized) -> None:
    for log_group in synthesized.of_type("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] > 0


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_environment_locates_exactly_the_resources_the_entry_uses(
    synthesized: Synthesized, entry: Function
) -> None:
    variables = synthesized.function(entry)["Properties"]["Environment"]["Variables"]
    expected = COMMON_VARIABLES | {LOCATION_VARIABLES[r] for r in entry.uses if r in LOCATION_VARIABLES}
    if (
        isinstance(entry.trigger, Authorizer) or entry.name == "stream_connect"
    ):  # they trust the user pool's tokens (tests/infra/test_users.py)
        expected |= {
            f"TRADING_JWT_{s}" for s in ("ISSUER", "JWKS_URL", "AUDIENCE", "ROLES_CLAIM", "ALGORITHMS")
        }
    if Resource.TIMETABLE in entry.uses:  # see test_a_timetable_lets_its_writers_make_schedules...
        expected.add("TRADING_TIMETABLE_GROUP")
        if not isinstance(entry.trigger, Timetabled):
            expected |= {f"TRADING_TIMETABLE_{s}" for s in ("TARGET_ARN", "ROLE_ARN", "DEAD_LETTER_ARN")}
    if isinstance(entry.trigger, Streamed):  # where it posts to the stream's connections
        expected.add("TRADING_WEBSOCKET_ENDPOINT")
    if entry.reads_lake:
        expected.add("TRADING_DUCKDB_MEMORY_LIMIT_MB")
        assert variables["TRADING_DUCKDB_MEMORY_LIMIT_MB"] == str(entry.memory_mb // 2)
    assert set(variables) == expected
    assert variables["TRADING_RUNTIME"] == "aws"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "trading"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Trading"
    if Resource.LAKE in entry.uses:
        lake_id = only_id(_bucket_ids(synthesized, raw=False))
        assert variables["TRADING_LAKE_ROOT"] == {"Fn::Join": ["", ["s3://", {"Ref": lake_id}]]}
    if Resource.RAW in entry.uses:
        assert json.dumps(variables["TRADING_RAW_ROOT"]).startswith('{"Fn::Join": ["", ["s3://')


def test_environment_variables_are_settings_the_code_reads(synthesized: Synthesized) -> None:
    for function in synthesized.of_type("AWS::Lambda::Function").values():
        for variable in function["Properties"]["Environment"]["Variables"]:
            if variable.startswith("TRADING_"):
                assert variable.removeprefix("TRADING_").lower() in Settings.model_fields, variable


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_settings_load_from_each_function_environment(
    synthesized: Synthesized,
    entry: Function,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no trading.toml from the working directory
    for variable in [v for v in os.environ if v.startswith("TRADING_")]:
        monkeypatch.delenv(variable)
    for variable, value in synthesized.function(entry)["Properties"]["Environment"]["Variables"].items():
        if variable == "TRADING_PARAMETERS_PATH":
            continue  # a read of SSM, tested on moto in tests/integration/test_parameter_store.py
        # Deploy-time values (tokens) get a stand-in of the right shape.
        stand_in = (
            "s3://bucket"
            if variable.endswith("_ROOT")
            else "https://deployed.example"
            if variable.endswith(("_ISSUER", "_URL"))
            else "deployed-value"
        )
        monkeypatch.setenv(variable, value if isinstance(value, str) else stand_in)
    settings = load_settings()
    assert settings.runtime == "aws"


# --- least privilege --------------------------------------------------------------------------


def _bucket_ids(synthesized: Synthesized, *, raw: bool) -> dict[str, Any]:
    return {
        k: v
        for k, v in synthesized.of_type("AWS::S3::Bucket").items()
        if ("BucketName" in v["Properties"]) == raw
    }


def _s3_actions_on(synthesized: Synthesized, entry: Function, bucket: Resource) -> set[str]:
    """S3 actions the entry's role has on the lake or the raw bucket (the raw bucket is named by
    its literal name in policies, the lake by a reference to the bucket resource)."""
    lake_id = only_id(_bucket_ids(synthesized, raw=False))
    found: set[str] = set()
    for statement in synthesized.statements(entry):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        s3_actions = {a for a in actions if a.startswith("s3:")}
        if not s3_actions:
            continue
        on_lake = lake_id in refs(statement["Resource"])
        on_raw = "-raw-" in json.dumps(statement["Resource"])
        assert on_lake != on_raw, f"an S3 statement must name one bucket: {statement}"
        if (bucket is Resource.LAKE and on_lake) or (bucket is Resource.RAW and on_raw):
            found |= s3_actions
    return found


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_table_access_is_what_the_entry_uses(synthesized: Synthesized, entry: Function) -> None:
    dynamodb = {a for a in synthesized.actions(entry) if a.startswith("dynamodb:")}
    access = entry.uses.get(Resource.TABLE)
    if access is None:
        assert not dynamodb
    if access in ("read", "read_write"):
        assert dynamodb >= TABLE_READS
    if access == "read":
        assert not dynamodb & TABLE_WRITES
    if access in ("write", "read_write"):
        assert dynamodb >= TABLE_WRITES
    if access == "write":
        assert not dynamodb & TABLE_READS


def _table_statements(synthesized: Synthesized, entry: Function) -> list[dict[str, Any]]:
    def actions(statement: dict[str, Any]) -> list[str]:
        action = statement["Action"]
        return [action] if isinstance(action, str) else action

    return [s for s in synthesized.statements(entry) if any(a.startswith("dynamodb:") for a in actions(s))]


@pytest.mark.parametrize("entry", [e for e in CATALOG if Resource.TABLE in e.uses], ids=by_name)
def test_table_access_is_bounded_to_the_kinds_the_entry_is_granted(
    synthesized: Synthesized, entry: Function
) -> None:
    """Every table statement names the entry's item kinds as the only partition keys a request
    may touch, and requires a request to name one (moto ignores policy conditions, so this is
    checked here, and the kinds themselves by the scoped store in every Lambda test)."""
    statements = _table_statements(synthesized, entry)
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(entry.kinds)},
            "Null": {"dynamodb:LeadingKeys": "false"},
        }
        assert "dynamodb:Scan" not in statement["Action"]  # a Scan names no partition key
        assert "*" not in json.dumps(statement["Resource"])  # the table, not its indexes


@pytest.mark.parametrize("bucket", [Resource.LAKE, Resource.RAW])
@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_bucket_access_is_what_the_entry_uses(
    synthesized: Synthesized, entry: Function, bucket: Resource
) -> None:
    actions = _s3_actions_on(synthesized, entry, bucket)
    reads = {a for a in actions if a.startswith(("s3:GetObject", "s3:List"))}
    puts = {a for a in actions if a.startswith("s3:PutObject")}
    deletes = {a for a in actions if a.startswith("s3:DeleteObject")}
    access = entry.uses.get(bucket)
    if access is None:
        assert not actions
    elif access == "read":
        assert reads and not puts and not deletes
    elif access == "write":
        assert puts and not reads and not deletes
    else:
        assert reads and puts and deletes


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_only_publishers_may_put_events(synthesized: Synthesized, entry: Function) -> None:
    assert ("events:PutEvents" in synthesized.actions(entry)) == (Resource.BUS in entry.uses)


@pytest.mark.parametrize("name", ["get_bars", "list_symbols"])
def test_queries_cannot_write(synthesized: Synthesized, name: str) -> None:
    entry = next(e for e in CATALOG if e.name == name)
    actions = synthesized.actions(entry)
    assert not actions & TABLE_WRITES
    assert not {a for a in actions if a.startswith(("s3:PutObject", "s3:DeleteObject"))}
    assert "events:PutEvents" not in actions


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_only_tracing_is_granted_on_every_resource(synthesized: Synthesized, entry: Function) -> None:
    for statement in synthesized.statements(entry):
        if statement["Resource"] == "*":
            assert set(statement["Action"]) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --- the HTTP API -----------------------------------------------------------------------------


def test_routes_are_exactly_the_catalog_http_entries(synthesized: Synthesized) -> None:
    route_keys = sorted(
        r["Properties"]["RouteKey"] for r in http_api(synthesized, "AWS::ApiGatewayV2::Route").values()
    )
    assert route_keys == sorted(e.trigger.route_key for e in HTTP if isinstance(e.trigger, Http))


@pytest.mark.parametrize("entry", HTTP, ids=by_name)
def test_route_invokes_its_function_behind_the_authorizer_when_it_has_a_role(
    synthesized: Synthesized, entry: Function
) -> None:
    assert isinstance(entry.trigger, Http)
    (route,) = [
        r["Properties"]
        for r in http_api(synthesized, "AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == entry.trigger.route_key
    ]
    (integration_id,) = refs(route["Target"])
    integration = synthesized.resources[integration_id]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert refs(integration["IntegrationUri"]) == {synthesized.invoked_id(entry)}
    assert _api_may_invoke(synthesized, entry, f"/*/*{entry.trigger.path}")
    authorizer_id = only_id(http_api(synthesized, "AWS::ApiGatewayV2::Authorizer"))
    if entry.role is None:
        assert route["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in route
    else:
        assert route["AuthorizationType"] == "CUSTOM"
        assert route["AuthorizerId"] == {"Ref": authorizer_id}


def _api_may_invoke(synthesized: Synthesized, entry: Function, source_suffix: str) -> bool:
    """The entry's function has a permission for API Gateway, from this API, for `source_suffix`."""
    api_id = only_id(http_api(synthesized, "AWS::ApiGatewayV2::Api"))
    function_id = synthesized.invoked_id(entry)  # a SnapStart function's alias
    return any(
        p["Principal"] == "apigateway.amazonaws.com"
        and refs(p["FunctionName"]) == {function_id}
        and api_id in refs(p["SourceArn"])
        and json.dumps(p["SourceArn"]).endswith(f'{source_suffix}"]]}}')
        for p in (r["Properties"] for r in synthesized.of_type("AWS::Lambda::Permission").values())
    )


def test_authorizer_reads_the_key_headers_itself_and_never_caches(synthesized: Synthesized) -> None:
    authorizer = next(iter(http_api(synthesized, "AWS::ApiGatewayV2::Authorizer").values()))["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["EnableSimpleResponses"] is True
    # An identity source would make API Gateway reject requests that send the key in the other
    # header (x-api-key vs Authorization) without asking the authorizer.
    assert authorizer["IdentitySource"] == []
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0
    assert refs(authorizer["AuthorizerUri"]) == {synthesized.invoked_id(AUTHORIZER)}
    assert _api_may_invoke(synthesized, AUTHORIZER, "/authorizers/*")


def test_api_is_throttled_and_logged(synthesized: Synthesized) -> None:
    stage = next(iter(http_api(synthesized, "AWS::ApiGatewayV2::Stage").values()))["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert refs(stage["AccessLogSettings"]["DestinationArn"]) <= set(
        synthesized.of_type("AWS::Logs::LogGroup")
    )


def test_each_route_has_the_catalogs_limits_and_orders_are_the_strictest(synthesized: Synthesized) -> None:
    (stage,) = http_api(synthesized, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["RouteSettings"]
    http = {e.trigger.route_key: e.trigger for e in CATALOG if isinstance(e.trigger, Http)}
    assert set(settings) == set(http)
    for key, trigger in http.items():
        assert settings[key] == {
            "ThrottlingRateLimit": trigger.limits.rate,
            "ThrottlingBurstLimit": trigger.limits.burst,
        }
    assert (
        settings["POST /v1/orders"]["ThrottlingRateLimit"] < settings["GET /v1/orders"]["ThrottlingRateLimit"]
    )
    assert settings["DELETE /v1/orders/{order_id}"] == settings["POST /v1/orders"]
    # CloudFormation sets route settings only on routes that exist
    route_ids = set(http_api(synthesized, "AWS::ApiGatewayV2::Route"))
    assert route_ids <= set(stage.get("DependsOn", []))


def test_no_origin_may_call_the_api_from_a_browser_unless_configured(synthesized: Synthesized) -> None:
    (api,) = http_api(synthesized, "AWS::ApiGatewayV2::Api").values()
    assert "CorsConfiguration" not in api["Properties"]
    configured = cdk.Stack(cdk.App(), "Cors")
    Api(configured, "Api", cors_origins=["https://desk.example.com", "http://localhost:8000"])
    (api,) = Template.from_stack(configured).find_resources("AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://desk.example.com", "http://localhost:8000"]
    assert "AllowCredentials" not in cors
    for bad in ("*", "http://desk.example.com", "desk.example.com"):
        with pytest.raises(ValueError, match="corsOrigins"):
            Api(cdk.Stack(cdk.App(), "Bad"), "Api", cors_origins=[bad])


# --- events, schedules, uploads ----------------------------------------------------------------


def _rule_targeting(synthesized: Synthesized, entry: Function) -> dict[str, Any]:
    function_id = synthesized.function_id(entry)
    rules: list[dict[str, Any]] = [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if any(refs(t["Arn"]) == {function_id} for t in r["Properties"]["Targets"])
    ]
    (rule,) = rules
    return rule


@pytest.mark.parametrize("entry", SUBSCRIBERS, ids=by_name)
def test_subscription_rule_matches_the_event_type_on_the_domain_bus(
    synthesized: Synthesized, entry: Function
) -> None:
    assert isinstance(entry.trigger, On)
    rule = _rule_targeting(synthesized, entry)
    assert rule["EventPattern"]["detail-type"] == list(entry.trigger.events)
    assert refs(rule["EventBusName"]) == set(synthesized.of_type("AWS::Events::EventBus"))


@pytest.mark.parametrize("entry", SCHEDULED, ids=by_name)
def test_a_schedule_runs_the_catalog_expression_in_its_time_zone(
    synthesized: Synthesized, entry: Function
) -> None:
    """EventBridge Scheduler, not a rule: rules read cron in UTC only, and the close follows New
    York's clock through DST. Delivery is retried, then dead-lettered; Scheduler's role is its own."""
    assert isinstance(entry.trigger, Every)
    function_id = synthesized.function_id(entry)
    (schedule,) = [
        s["Properties"]
        for s in synthesized.of_type("AWS::Scheduler::Schedule").values()
        if refs(s["Properties"]["Target"]["Arn"]) == {function_id}
    ]
    assert schedule["ScheduleExpression"] == entry.trigger.expression
    assert schedule["ScheduleExpressionTimezone"] == entry.trigger.timezone
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert refs(target["DeadLetterConfig"]["Arn"]) <= queue_ids(synthesized)
    assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
    (role_id,) = refs(target["RoleArn"])
    role = synthesized.resources[role_id]
    assert "scheduler.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])


def test_the_close_runs_every_hour() -> None:
    # Each calendar's close falls on an hour (New York's in either DST state, a 24/7 symbol's
    # midnight UTC): a run within the hour after each (tests/integration/test_calendar_close.py).
    close = next(e for e in CATALOG if e.name == "close_session").trigger
    assert isinstance(close, Every) and close.expression == "cron(0 * * * ? *)" and close.timezone == "UTC"


def test_every_rule_target_has_bounded_retries_and_a_dead_letter_queue(synthesized: Synthesized) -> None:
    rules = synthesized.of_type("AWS::Events::Rule")
    assert len(rules) == len(SUBSCRIBERS) + len(FAN_OUTS) + len(STREAMED)
    assert len(synthesized.of_type("AWS::Scheduler::Schedule")) == len(SCHEDULED)
    for rule in rules.values():
        for target in rule["Properties"]["Targets"]:
            assert refs(target["DeadLetterConfig"]["Arn"]) <= queue_ids(synthesized)
            assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 6 * 3600


@pytest.mark.parametrize("entry", [e for e in CATALOG if Resource.PARAMETERS in e.uses], ids=by_name)
def test_a_function_reads_the_stacks_own_parameters_only(synthesized: Synthesized, entry: Function) -> None:
    """The Alpaca keys are SSM parameters under the stack's path (docs/OPERATIONS.md): the function
    is told the path and may read below it, nothing else in SSM."""
    variables = synthesized.function(entry)["Properties"]["Environment"]["Variables"]
    assert variables["TRADING_PARAMETERS_PATH"] == "/TradingSystem"
    ssm = [st for st in synthesized.statements(entry) if "ssm:" in json.dumps(st["Action"])]
    assert [st["Action"] for st in ssm] == ["ssm:GetParametersByPath"]
    resources = json.dumps(ssm[0]["Resource"])
    assert resources.count(":parameter/TradingSystem") == 2 and '/TradingSystem/*"' in resources
    for other in [e for e in CATALOG if Resource.PARAMETERS not in e.uses]:
        assert (
            "TRADING_PARAMETERS_PATH"
            not in synthesized.function(other)["Properties"]["Environment"]["Variables"]
        )


def test_no_schedule_polls_every_minute() -> None:
    """Scanners run on their own schedules and alert retries on a schedule that exists only while
    deliveries wait (timetables), not from a poller billed every minute."""
    assert all("minute" not in e.trigger.expression for e in SCHEDULED if isinstance(e.trigger, Every))


# Who writes each timetable: the scanners' CRUD and its runner (which removes schedules of scanners
# gone), the alerts' sender, manual retry and the retry runner (which removes its own schedule).
TIMETABLE_WRITERS = {
    "run_scheduled_scanner": {"create_scanner", "update_scanner", "delete_scanner", "run_scheduled_scanner"},
    "retry_alert_deliveries": {"send_alerts", "retry_alert_delivery", "retry_alert_deliveries"},
}


@pytest.mark.parametrize("entry", TIMETABLED, ids=by_name)
def test_a_timetable_lets_its_writers_make_schedules_in_its_group_only(
    synthesized: Synthesized, entry: Function
) -> None:
    """Its group, a role only Scheduler (of this account) assumes that may invoke the function
    and send to its dead-letter queue; each writer gets the four settings and may create, change,
    read and delete the group's schedules and pass that role to Scheduler, nothing more."""
    assert isinstance(entry.trigger, Timetabled)
    writers = [e for e in CATALOG if Resource.TIMETABLE in e.uses and e.context == entry.context]
    assert {w.name for w in writers} == TIMETABLE_WRITERS[entry.name]
    groups = {
        group
        for w in writers
        for group in refs(
            synthesized.function(w)["Properties"]["Environment"]["Variables"]["TRADING_TIMETABLE_GROUP"]
        )
    }
    (group_id,) = groups  # one group for the context's writers...
    assert {  # ...its own
        group
        for e in CATALOG
        if Resource.TIMETABLE in e.uses and e.context != entry.context
        for group in refs(
            synthesized.function(e)["Properties"]["Environment"]["Variables"]["TRADING_TIMETABLE_GROUP"]
        )
    }.isdisjoint(groups)
    assert group_id in synthesized.of_type("AWS::Scheduler::ScheduleGroup")
    function_id = synthesized.function_id(entry)
    creator = next(w for w in writers if w is not entry)
    (role_id,) = refs(
        synthesized.function(creator)["Properties"]["Environment"]["Variables"]["TRADING_TIMETABLE_ROLE_ARN"]
    )
    trust = synthesized.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [t["Condition"] for t in trust] == [
        {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    ]
    role_actions = {
        action
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert role_actions == {
        "lambda:InvokeFunction",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    for writer in writers:
        environment = synthesized.function(writer)["Properties"]["Environment"]["Variables"]
        assert refs(environment["TRADING_TIMETABLE_GROUP"]) == {group_id}
        if writer is entry:  # removes the schedules of scanners gone, makes none
            (statement,) = [st for st in synthesized.statements(writer) if "scheduler:" in json.dumps(st)]
            assert sorted(statement["Action"]) == ["scheduler:DeleteSchedule", "scheduler:GetSchedule"]
            assert "TRADING_TIMETABLE_TARGET_ARN" not in environment
            continue
        assert refs(environment["TRADING_TIMETABLE_TARGET_ARN"]) == {function_id}
        assert refs(environment["TRADING_TIMETABLE_ROLE_ARN"]) == {role_id}
        assert refs(environment["TRADING_TIMETABLE_DEAD_LETTER_ARN"]) <= queue_ids(synthesized)
        scheduler_statements = [
            st for st in synthesized.statements(writer) if "scheduler:CreateSchedule" in st["Action"]
        ]
        assert len(scheduler_statements) == 1
        assert refs(scheduler_statements[0]["Resource"]) == {group_id}
        assert not [
            a for st in synthesized.statements(writer) for a in st["Action"] if a.startswith("scheduler:List")
        ]
        (pass_role,) = [st for st in synthesized.statements(writer) if st["Action"] == "iam:PassRole"]
        assert refs(pass_role["Resource"]) == {role_id}
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    for other in [e for e in CATALOG if Resource.TIMETABLE not in e.uses]:
        assert not [st for st in synthesized.statements(other) if "scheduler:" in json.dumps(st["Action"])]


@pytest.mark.parametrize("entry", ASYNC, ids=by_name)
def test_async_invocation_failures_go_to_a_dead_letter_queue(
    synthesized: Synthesized, entry: Function
) -> None:
    function_id = synthesized.function_id(entry)
    (config,) = [
        c["Properties"]
        for c in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if refs(c["Properties"]["FunctionName"]) == {function_id}
    ]
    assert refs(config["DestinationConfig"]["OnFailure"]["Destination"]) <= queue_ids(synthesized)
    assert config["MaximumRetryAttempts"] <= 2
    assert config["MaximumEventAgeInSeconds"] <= 6 * 3600


def test_only_async_functions_and_fan_outs_have_dead_letter_queues(synthesized: Synthesized) -> None:
    assert len(queue_ids(synthesized)) == len(ASYNC) + len(FAN_OUTS)
    assert len(synthesized.of_type("AWS::Lambda::EventInvokeConfig")) == len(ASYNC)


@pytest.mark.parametrize("entry", FILE_DROPPED, ids=by_name)
def test_raw_bucket_notifies_the_file_dropped_function(synthesized: Synthesized, entry: Function) -> None:
    assert isinstance(entry.trigger, FileDropped)
    function_id = synthesized.function_id(entry)
    raw_id = only_id(_bucket_ids(synthesized, raw=True))
    raw = synthesized.resources[raw_id]
    configurations = raw["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    mine = [c for c in configurations if refs(c["Function"]) == {function_id}]
    assert {c["Event"] for c in mine} == {"s3:ObjectCreated:*"}
    assert sorted(c["Filter"]["S3Key"]["Rules"][0]["Value"] for c in mine) == sorted(entry.trigger.suffixes)
    (permission_id,) = [
        k
        for k, p in synthesized.of_type("AWS::Lambda::Permission").items()
        if p["Properties"]["Principal"] == "s3.amazonaws.com"
        and refs(p["Properties"]["FunctionName"]) == {function_id}
    ]
    permission = synthesized.resources[permission_id]["Properties"]
    assert "SourceAccount" in permission
    assert "-raw-" in json.dumps(permission["SourceArn"])
    # S3 checks the permission when the notification is set, so it must exist first (when it is
    # in a nested stack, the bucket waits for that stack).
    assert synthesized.deployed_with[permission_id] in raw["DependsOn"]


# --- storage and the bus ----------------------------------------------------------------------


def test_buckets_are_encrypted_private_and_tls_only(synthesized: Synthesized) -> None:
    buckets = synthesized.of_type("AWS::S3::Bucket")
    assert len(buckets) == 2
    policies = synthesized.of_type("AWS::S3::BucketPolicy").values()
    for bucket_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert any(r.get("AbortIncompleteMultipartUpload") for r in props["LifecycleConfiguration"]["Rules"])
        assert bucket["DeletionPolicy"] == "Retain"
        (policy,) = [p for p in policies if refs(p["Properties"]["Bucket"]) == {bucket_id}]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_both_buckets_keep_versions_for_a_while(synthesized: Synthesized) -> None:
    """What a delete or an overwrite took can be restored (docs/OPERATIONS.md): raw uploads for
    30 days, lake files (compaction deletes what it merged) for 7."""
    for raw, days in ((True, 30), (False, 7)):
        (bucket,) = _bucket_ids(synthesized, raw=raw).values()
        assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        assert [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in rules] == [days]


def test_table_keys_billing_and_recovery(synthesized: Synthesized) -> None:
    synthesized.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def test_bus_is_archived(synthesized: Synthesized) -> None:
    bus_id = only_id(synthesized.of_type("AWS::Events::EventBus"))
    archive = next(iter(synthesized.of_type("AWS::Events::Archive").values()))["Properties"]
    assert refs(archive["SourceArn"]) == {bus_id}


# --- observability ------------------------------------------------------------------------------


def _alarms(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]


def test_every_dead_letter_queue_is_in_one_depth_alarm(synthesized: Synthesized) -> None:
    watched: list[str] = []
    for alarm in _alarms(synthesized):
        queues = [
            query
            for query in alarm.get("Metrics", [])
            if query.get("MetricStat", {}).get("Metric", {}).get("MetricName")
            == "ApproximateNumberOfMessagesVisible"
        ]
        if not queues:
            continue
        assert len(queues) <= METRICS_PER_ALARM
        (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
        assert expression == f"MAX([{', '.join(q['Id'] for q in queues)}])"
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["AlarmActions"]
        watched += [next(iter(refs(q["MetricStat"]["Metric"]["Dimensions"]))) for q in queues]
    assert sorted(watched) == sorted(queue_ids(synthesized))


def test_functions_are_alarmed_on_account_level_errors_and_throttles(synthesized: Synthesized) -> None:
    """Two alarms over every function, not two per function (each alarm metric is billed)."""
    lambda_alarms = [a for a in _alarms(synthesized) if a.get("Namespace") == "AWS/Lambda"]
    assert sorted(a["MetricName"] for a in lambda_alarms) == ["Errors", "Throttles"]
    for alarm in lambda_alarms:
        assert "Dimensions" not in alarm and alarm["Statistic"] == "Sum"
        assert (alarm["Threshold"], alarm["AlarmActions"] != []) == (1, True)


def test_the_dashboard_shows_the_business_metrics_beside_errors_throttles_and_p99(
    synthesized: Synthesized,
) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    # Dead letters are the queues' depth in AWS (alarmed on), a counter only locally.
    for definition in DEFINITIONS:
        if definition.name != "dead_letters":
            assert definition.cloudwatch_name in body, definition.cloudwatch_name
    for shown in ("SUM(Errors)", "SUM(Throttles)", '\\"p99\\"', "ApproximateNumberOfMessagesVisible"):
        assert shown in body, shown


def test_one_dashboard_in_the_root_and_the_outputs(synthesized: Synthesized) -> None:
    synthesized.root.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    for stack in synthesized.stacks[1:]:
        stack.template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    outputs = synthesized.document["Outputs"]
    assert {"ApiUrl", "LakeBucketName", "RawBucketName", "TableName", "EventBusName"} <= set(outputs)
    # The e-mail alerts' topic, which `trading deployment env` exports for the operators' commands.
    resources = synthesized.document["Resources"]
    (topic,) = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::SNS::Topic"
        and "alerts" in json.dumps(resource["Properties"].get("DisplayName"))
    ]
    assert outputs["AlertsTopicArn"]["Value"] == {"Ref": topic}


# --- the template as a whole ---------------------------------------------------------------------


def test_templates_have_no_dependency_cycle(synthesized: Synthesized) -> None:
    """CloudFormation rejects a cycle only at deploy time; the raw bucket's notifications make
    one easy to create (see infra/constructs/storage.py). Each template is checked as
    CloudFormation sees it: in the root, a nested stack is one resource."""
    for stack in synthesized.stacks:
        _assert_acyclic(stack.name, stack.resources)


def _assert_acyclic(name: str, resources: Mapping[str, Any]) -> None:
    graph = {
        rid: (refs(r.get("Properties", {})) | set(r.get("DependsOn", []))) & set(resources)
        for rid, r in resources.items()
    }
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in path:
            raise AssertionError(
                f"dependency cycle in {name}: {' -> '.join((*path[path.index(node) :], node))}"
            )
        if node in done:
            return
        for dependency in graph[node]:
            visit(dependency, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_function_plus_layers_stay_under_the_lambda_size_limit(
    dependency_layer: Path, optional_layers: dict[Layer, Path], tmp_path: Path
) -> None:
    """The largest function: the two layers, the code, and every optional layer it names."""
    layer_bytes = build_layer.folder_size(dependency_layer / "python")
    shared_bytes = sum(p.stat().st_size for p in packaging.shipped_files(packaging.SHARED_PACKAGE))
    function_bytes = sum(p.stat().st_size for p in packaging.shipped_files(packaging.FUNCTIONS_PACKAGE))
    optional = {layer: build_layer.folder_size(path / "python") for layer, path in optional_layers.items()}
    largest = max(CATALOG, key=lambda entry: sum(optional[layer] for layer in entry.layers))
    optional_bytes = sum(optional[layer] for layer in largest.layers)
    total = layer_bytes + shared_bytes + function_bytes + optional_bytes
    print(
        f"\nunzipped: dependency layer {layer_bytes / 1e6:.1f} MB + shared layer {shared_bytes / 1e6:.1f} MB"
        f" + function code {function_bytes / 1e6:.1f} MB"
        + "".join(f" + {layer.value} layer {optional[layer] / 1e6:.1f} MB" for layer in largest.layers)
        + f" = {total / 1e6:.1f} MB ({largest.name}; limit {LAMBDA_UNZIPPED_LIMIT_BYTES / 1e6:.1f} MB)"
    )
    # "well under": leave room for the packages the platform will still need.
    assert total < 0.8 * LAMBDA_UNZIPPED_LIMIT_BYTES


def test_layer_holds_the_pinned_wheels_built_for_lambda(dependency_layer: Path) -> None:
    manifest = json.loads((dependency_layer / build_layer.MANIFEST).read_text())
    assert manifest["python_version"] == "3.12"
    pinned = {
        build_layer.canonical_name(r.split("==")[0]): r.split("==")[1]
        for r in build_layer.runtime_requirements()
    }
    installed = dict(pin.split("==") for pin in manifest["installed"])
    assert {name: installed.get(name) for name in pinned} == pinned
    native = [
        *(dependency_layer / "python").glob("_duckdb*.so"),
        *(dependency_layer / "python" / "pydantic_core").glob("*.so"),
    ]
    assert native
    assert all("cpython-312-aarch64-linux-gnu" in p.name for p in native)


# --- stacks: what an upgrade keeps, and room to grow ----------------------------------------------


def test_stateful_resources_keep_their_logical_ids_in_the_root_and_are_retained(
    synthesized: Synthesized,
) -> None:
    root = synthesized.root.resources
    for logical_id, resource_type in STATEFUL.items():
        assert root[logical_id]["Type"] == resource_type
        assert root[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert root[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id
    # And no other resource of these types anywhere, in the root or a nested stack.
    stateful_types = set(STATEFUL.values())
    assert {k for k, r in synthesized.resources.items() if r["Type"] in stateful_types} == set(STATEFUL)


def test_the_api_its_routes_and_the_alarm_topic_keep_their_logical_ids(synthesized: Synthesized) -> None:
    root = synthesized.root.resources
    assert {logical_id: root[logical_id]["Type"] for logical_id in STABLE} == STABLE
    # Every route is in the root, where its id does not depend on its function's stack.
    routes = http_api(synthesized, "AWS::ApiGatewayV2::Route")
    assert len(routes) == len(HTTP)
    assert set(routes) <= set(root)


def test_every_stack_stays_well_under_the_cloudformation_limits(synthesized: Synthesized) -> None:
    counts = {stack.name: len(stack.resources) for stack in synthesized.stacks}
    print("\nresources per stack: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    assert max(counts.values()) < STACK_RESOURCE_BUDGET, counts
    for stack in synthesized.stacks:  # CloudFormation takes 200 of each
        assert len(stack.document.get("Parameters", {})) < 100, stack.name
        assert len(stack.document.get("Outputs", {})) < 100, stack.name


def test_each_context_has_a_nested_stack_holding_its_functions(synthesized: Synthesized) -> None:
    def handlers(resources: Mapping[str, Any]) -> list[str]:
        functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
        return sorted(f["Properties"]["Handler"] for f in functions)

    expected = nested_stacks(CATALOG)
    assert {e.context for e in CATALOG} == {context for context, _ in expected.values()}
    assert [stack.name for stack in synthesized.stacks[1:]] == list(expected)
    for stack in synthesized.stacks[1:]:
        _, entries = expected[stack.name]
        assert handlers(stack.resources) == sorted(e.handler.replace(":", ".") for e in entries)
    assert not handlers(synthesized.root.resources)


def _subscribers(context: str, count: int) -> list[Function]:
    """`count` entries of the kind that brings the most resources (a rule, a queue and its policy,
    an invoke config)."""
    return [
        Function(
            name=f"{context}_{number}",
            context=context,
            trigger=On(f"Event{number}"),
            summary="?",
            uses={Resource.TABLE: "read_write", Resource.BUS: "publish"},
        )
        for number in range(count)
    ]


def test_a_context_too_big_for_one_stack_continues_in_another_in_catalog_order() -> None:
    entries = _subscribers("big_one", 2 * FUNCTIONS_PER_STACK + 1)
    stacks = nested_stacks(entries)
    assert {stack_id: len(part) for stack_id, (_, part) in stacks.items()} == {
        "BigOne": FUNCTIONS_PER_STACK,
        "BigOne2": FUNCTIONS_PER_STACK,
        "BigOne3": 1,
    }
    assert [entry for _, part in stacks.values() for entry in part] == entries


def test_a_full_nested_stack_stays_under_the_budget(dependency_layer: Path, tmp_path: Path) -> None:
    app = cdk.App(context={**cdk_json_context(), "aws:cdk:version-reporting": False}, outdir=str(tmp_path))
    stack = TradingStack(app, "Full", catalog=_subscribers("big", FUNCTIONS_PER_STACK + 1))
    counts = {s.name: len(s.resources) for s in synthesized_stacks(stack)}
    print(f"\nresources per stack, {FUNCTIONS_PER_STACK + 1} subscribers: {counts}")
    assert list(counts) == ["Full", "Big", "Big2"]
    assert max(counts.values()) < STACK_RESOURCE_BUDGET


# --- guard rails of the stack itself --------------------------------------------------------------


def test_a_customer_managed_key_encrypts_the_data_and_the_functions_may_use_it(
    dependency_layer: Path, tmp_path: Path
) -> None:
    """`-c customerManagedKey=true`: one rotating key, kept with the data, for the table and both
    buckets; each function that reads or writes a bucket may decrypt (and encrypt) with it.
    Without the option there is no key (tests/infra/test_costs.py: it would bill $1 a month)."""
    context = {**cdk_json_context(), "aws:cdk:version-reporting": False, "customerManagedKey": "true"}
    resources, _ = flatten(synthesized_stacks(build(cdk.App(context=context, outdir=str(tmp_path)))))
    (key_id, key), *others = [(k, r) for k, r in resources.items() if r["Type"] == "AWS::KMS::Key"]
    assert not others and key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    (table,) = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert refs(table["Properties"]["SSESpecification"]["KMSMasterKeyId"]) == {key_id}
    buckets = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"]
    for bucket in buckets:
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert refs(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == {key_id}
        assert rule["BucketKeyEnabled"] is True
    may_decrypt = set()
    for policy in resources.values():
        if policy["Type"] != "AWS::IAM::Policy":
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "kms:Decrypt" in actions and key_id in refs(statement["Resource"]):
                may_decrypt |= {r["Ref"] for r in policy["Properties"]["Roles"] if "Ref" in r}
    role_of = {
        r["Properties"]["Handler"]: next(iter(refs(r["Properties"]["Role"])))
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and "Handler" in r["Properties"]
    }
    lake_users = [e for e in CATALOG if Resource.LAKE in e.uses or Resource.RAW in e.uses]
    assert lake_users and all(role_of[e.handler.replace(":", ".")] in may_decrypt for e in lake_users)
    # The e-mail alerts' topic keeps SNS's own key (infra/constructs/alerts.py): no grant needed.
    (alerts_topic,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::SNS::Topic" and "KmsMasterKeyId" in r["Properties"]
    ]
    assert json.dumps(alerts_topic["Properties"]["KmsMasterKeyId"]).endswith(':alias/aws/sns"]]}')


def test_a_stage_is_a_stack_of_its_own(dependency_layer: Path) -> None:
    """`make deploy STAGE=dev`: a second stack whose names (the raw bucket's too) are its own."""
    assert stack_name(None) == "TradingSystem"
    staged = build(cdk.App(context={**cdk_json_context(), "stage": "dev"}))
    assert staged.stack_name == "TradingSystem-dev"
    assert staged.node.find_child("Storage").raw_bucket_name.startswith("tradingsystem-dev-raw-")  # type: ignore[attr-defined]
    for bad in ("Dev", "1dev", "dev_1", "x" * 21):
        with pytest.raises(ValueError, match="stage"):
            stack_name(bad)


def test_a_trigger_the_stack_cannot_deploy_fails_the_synth() -> None:
    class WebSocketRoute:  # a trigger kind the stack does not know
        pass

    stray = Function(name="stray", context="x", trigger=WebSocketRoute(), summary="?")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stray"):
        TradingStack(cdk.App(), "Stray", catalog=[*CATALOG, stray])


def test_an_access_a_resource_does_not_offer_fails_the_synth() -> None:
    bad = Function(
        name="bad",
        context="x",
        trigger=On("X"),
        summary="?",
        uses={Resource.BUS: "read"},
    )
    with pytest.raises(ValueError, match="bad"):
        TradingStack(cdk.App(), "Bad", catalog=[*CATALOG, bad])


@pytest.mark.parametrize("authorizers", [0, 2])
def test_routes_with_a_role_need_exactly_one_authorizer(authorizers: int) -> None:
    extra = [dataclasses.replace(AUTHORIZER, name=f"authorizer_{number}") for number in range(authorizers)]
    catalog = [*(e for e in CATALOG if e is not AUTHORIZER), *extra]
    with pytest.raises(ValueError, match="Authorizer"):
        TradingStack(cdk.App(), "Authorizers", catalog=catalog)


# --- the real CLI ----------------------------------------------------------------------------------


def _comparable(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template without CDK metadata, and with asset hashes blanked: source files edited
    between the two syntheses change a hash (of a code asset, hence of the nested templates
    holding it, and of a SnapStart function's version, whose logical id ends with a hash of its
    code and settings: infra/constructs/snap_started.py), not what the tests are about."""
    resources = {k: {f: v for f, v in r.items() if f != "Metadata"} for k, r in template["Resources"].items()}
    text = re.sub(r'[0-9a-f]{64}\.(zip|json)"', r'<asset>.\1"', json.dumps(resources))
    text = re.sub(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}", r"\1<hash>", text)
    return {**{k: v for k, v in template.items() if k != "Metadata"}, "Resources": json.loads(text)}


def test_cdk_cli_synthesises_without_aws_credentials(synthesized: Synthesized, tmp_path: Path) -> None:
    if not (REPO_ROOT / "node_modules" / "aws-cdk").is_dir() or shutil.which("npx") is None:
        pytest.skip("the CDK CLI is not installed: run `make synth` once (npm install)")
    home = tmp_path / "home"
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    environment.update(
        HOME=str(home),  # no ~/.aws, no CDK cache or settings from the developer's home
        AWS_ACCESS_KEY_ID="",
        AWS_SECRET_ACCESS_KEY="",
        AWS_SESSION_TOKEN="",
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        CDK_DISABLE_VERSION_CHECK="1",
    )
    out = tmp_path / "cdk.out"
    started = time.monotonic()
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(out)],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(f"\n`npx cdk synth --quiet` took {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    # The CLI deploys what the tests checked (same feature flags, same catalog), nested stacks too.
    assert {p.name for p in out.glob("*.template.json")} == {s.template_file for s in synthesized.stacks}
    for stack in synthesized.stacks:
        from_cli = json.loads((out / stack.template_file).read_text())
        assert _comparable(from_cli) == _comparable(stack.document), stack.name
