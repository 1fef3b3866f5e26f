"""The HTTP API, its routes and authorizer, in the root stack; each function's integration and
invoke permission, in the function's stack."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.constructs.functions import LOG_RETENTION, pascal_case
from trading_system.catalog import Function, Http

# Account-wide protection against a runaway client (each route has its own limits too, from the
# catalog); API keys are not a rate limit by themselves.
THROTTLE = apigw.ThrottleSettings(rate_limit=100, burst_limit=200)


def cors(origins: Sequence[str]) -> apigw.CorsPreflightOptions | None:
    """Browsers on these origins may call the API (`cdk deploy -c corsOrigins=https://a,https://b`);
    with none, only same-origin pages and non-browser clients can. Keys travel in headers, never
    cookies, so no credentials are allowed."""
    if not origins:
        return None
    for origin in origins:
        if origin == "*" or not origin.startswith(("https://", "http://localhost", "http://127.0.0.1")):
            raise ValueError(f"corsOrigins: {origin!r} is not an https:// origin (or a local http one)")
    return apigw.CorsPreflightOptions(
        allow_origins=list(origins),
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


@dataclass(frozen=True)
class Route:
    """An `Http` entry and its integration, made in its function's stack, for the API to route to."""

    entry: Function
    http: Http
    integration: apigw.HttpIntegration


class Api(Construct):
    """HTTP API with a `$default` stage and access logs, in the root stack: its logical id is the
    API's URL, which clients keep, so it must never change (tests/infra pins it).

    The routes and the Authorizer resource live here too, but each function's integration and
    invoke permissions live in the function's stack (`integrate`, `use_authorizer`). A route key
    is unique in an API, and CloudFormation creates a resource before it deletes the one it
    replaces: a route whose logical id changed (say, because its function moved to another stack)
    would be refused with a 409 conflict. So a route's logical id depends on its method and path
    only, the very id `HttpApi.add_routes` gave it before the nested stacks, and a function moving
    between stacks only updates its route's target.

    The authorizer runs on every route whose entry names a role; routes without one (health) are
    public. It has no identity source and no cache. API Gateway would answer 401 itself, without
    calling the authorizer, unless every listed identity source is present, and the key may come
    either as `x-api-key` or as `Authorization: Bearer <key>`; so the authorizer reads the
    headers itself. Without caching, a revoked key stops working on the next request.
    """

    def __init__(self, scope: Construct, construct_id: str, *, cors_origins: Sequence[str] = ()) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigw.HttpApi(
            self, "HttpApi", cors_preflight=cors(cors_origins), create_default_stage=False
        )
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=THROTTLE,
        )
        self._log_access(self.stage)
        self._authorizer: apigw.HttpAuthorizer | None = None
        self._route_settings: dict[str, dict[str, float]] = {}

    def use_authorizer(self, scope: Construct, function: lambda_.IFunction) -> None:
        """Check keys with `function`: API Gateway's permission to invoke it in `scope` (the
        function's stack), the Authorizer resource here."""
        if self._authorizer is not None:
            raise ValueError("the catalog needs exactly one Authorizer entry, found more")
        self._allow_invoke(scope, "InvokedByApiAuthorizer", function, "authorizers/*")
        stack = cdk.Stack.of(self)
        self._authorizer = apigw.HttpAuthorizer(
            self.http_api,
            "ApiKeyAuthorizer",
            http_api=self.http_api,
            type=apigw.HttpAuthorizerType.LAMBDA,
            authorizer_uri=(
                f"arn:{stack.partition}:apigateway:{stack.region}:lambda:path/2015-03-31/functions/"
                f"{function.function_arn}/invocations"
            ),
            payload_format_version=apigw.AuthorizerPayloadVersion.VERSION_2_0,
            enable_simple_responses=True,
            identity_source=[],
            results_cache_ttl=cdk.Duration.seconds(0),
        )

    def integrate(self, scope: Construct, entry: Function, http: Http, function: lambda_.IFunction) -> Route:
        """The entry's integration and API Gateway's permission to invoke its function, in `scope`
        (the function's stack); `add_route` routes to it."""
        name = pascal_case(entry.name)
        integration = apigw.HttpIntegration(
            scope,
            f"{name}Integration",
            http_api=self.http_api,
            integration_type=apigw.HttpIntegrationType.AWS_PROXY,
            integration_uri=function.function_arn,
            payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
        )
        self._allow_invoke(scope, f"{name}InvokedByApi", function, f"*/*{http.path}")
        return Route(entry, http, integration)

    def add_route(self, route: Route) -> None:
        """The route, here, behind the authorizer when its entry has a role (`use_authorizer` first)."""
        authorizer = self._authorizer_for(route.entry)
        # The construct path of a route made by `HttpApi.add_routes`, hence its logical id.
        scope = Construct(self.http_api, f"{route.http.method}{route.http.path}")
        if authorizer is None:
            nag.acknowledge(
                scope,
                "AwsSolutions-APIG4",
                f"{route.http.route_key} is public by design (its catalog entry names no role): it "
                "is health (reveals nothing) or a webhook's alerts (checked by the webhook's own secret)",
            )
        cfn_route = apigw.CfnRoute(
            scope,
            "Resource",
            api_id=self.http_api.api_id,
            route_key=route.http.route_key,
            target=f"integrations/{route.integration.integration_id}",
            authorization_type="NONE" if authorizer is None else "CUSTOM",
            authorizer_id=None if authorizer is None else authorizer.authorizer_id,
        )
        self._throttle(route.http, cfn_route)

    def _throttle(self, http: Http, route: apigw.CfnRoute) -> None:
        """The route's own limits (the catalog's `Http.limits`) in the stage's route settings; the
        stage waits for the route, which CloudFormation must create before it can set them."""
        stage = self.stage.node.default_child
        assert isinstance(stage, apigw.CfnStage)
        limits = http.limits
        self._route_settings[http.route_key] = {
            "ThrottlingRateLimit": limits.rate,
            "ThrottlingBurstLimit": limits.burst,
        }
        stage.route_settings = dict(self._route_settings)
        stage.add_dependency(route)

    def _authorizer_for(self, entry: Function) -> apigw.HttpAuthorizer | None:
        if entry.role is None:
            return None
        if self._authorizer is None:
            raise ValueError(f"catalog entry {entry.name!r} has a role: the catalog needs an Authorizer")
        return self._authorizer

    def _allow_invoke(
        self, scope: Construct, construct_id: str, function: lambda_.IFunction, resource_name: str
    ) -> None:
        """API Gateway may invoke `function` through this API for `resource_name` (`<stage>/<method>/<path>`
        or `authorizers/<id>`), the permission in `scope`."""
        function.add_permission(
            construct_id,
            scope=scope,
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=cdk.Stack.of(scope).format_arn(
                service="execute-api", resource=self.http_api.api_id, resource_name=resource_name
            ),
        )

    @property
    def url(self) -> str:
        return self.stage.url

    def _log_access(self, stage: apigw.HttpStage) -> None:
        log_group = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        cfn_stage = stage.node.default_child
        if not isinstance(cfn_stage, apigw.CfnStage):
            raise TypeError(f"expected the stage's CfnStage, got {cfn_stage!r}")
        # Set on the L1 resource: the L2 setting takes an interface jsii cannot build from a dict.
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=log_group.log_group_arn, format=_ACCESS_LOG_FORMAT
        )
