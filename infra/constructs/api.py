"""The HTTP API: one route per `Http` entry, guarded by the Lambda authorizer when it has a role."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.catalog import Authorizer, Function, Http
from infra.constructs.functions import LOG_RETENTION, pascal_case

# Account-wide protection against a runaway client; API keys are not a rate limit by themselves.
THROTTLE = apigw.ThrottleSettings(rate_limit=100, burst_limit=200)
# API keys travel in headers, not cookies, so any origin may call the API from a browser.
CORS = apigw.CorsPreflightOptions(
    allow_origins=["*"],
    allow_methods=[apigw.CorsHttpMethod.ANY],
    allow_headers=["authorization", "content-type", "x-api-key"],
    expose_headers=["location"],
    max_age=cdk.Duration.hours(1),
)
_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    }
)


class Api(Construct):
    """HTTP API with a `$default` stage. The authorizer runs on every route whose entry names a
    role; routes without one (health) are public.

    The authorizer has no identity source and no cache. API Gateway would answer 401 itself,
    without calling the authorizer, unless every listed identity source is present, and the key
    may come either as `x-api-key` or as `Authorization: Bearer <key>`; so the authorizer reads
    the headers itself. Without caching, a revoked key stops working on the next request.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Sequence[Function],
        functions: Mapping[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigw.HttpApi(self, "HttpApi", cors_preflight=CORS, create_default_stage=False)
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=THROTTLE,
        )
        self._log_access(self.stage)

        authorizer_entries = [e for e in catalog if isinstance(e.trigger, Authorizer)]
        routed = [(e, e.trigger) for e in catalog if isinstance(e.trigger, Http)]
        if routed and len(authorizer_entries) != 1:
            raise ValueError(
                f"the catalog needs exactly one Authorizer entry, found {len(authorizer_entries)}"
            )
        self.authorizer_name = authorizer_entries[0].name if authorizer_entries else None
        key_check = (
            authorizers.HttpLambdaAuthorizer(
                "ApiKeyAuthorizer",
                functions[self.authorizer_name],
                response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
                identity_source=[],
                results_cache_ttl=cdk.Duration.seconds(0),
            )
            if self.authorizer_name
            else None
        )

        self.routes: dict[str, apigw.HttpRoute] = {}
        for entry, http in routed:
            name = pascal_case(entry.name)
            (route,) = self.http_api.add_routes(
                path=http.path,
                methods=[apigw.HttpMethod(http.method)],
                integration=integrations.HttpLambdaIntegration(f"{name}Integration", functions[entry.name]),
                authorizer=key_check if entry.role is not None else apigw.HttpNoneAuthorizer(),
            )
            self.routes[entry.name] = route

    @property
    def url(self) -> str:
        return self.stage.url

    @property
    def wired(self) -> set[str]:
        return set(self.routes) | ({self.authorizer_name} if self.authorizer_name else set())

    def _log_access(self, stage: apigw.HttpStage) -> None:
        log_group = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        cfn_stage = stage.node.default_child
        if not isinstance(cfn_stage, apigw.CfnStage):
            raise TypeError(f"expected the stage's CfnStage, got {cfn_stage!r}")
        # Set on the L1 resource: the L2 setting takes an interface jsii cannot build from a dict.
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=log_group.log_group_arn, format=_ACCESS_LOG_FORMAT
        )
