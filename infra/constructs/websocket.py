"""The live stream's API Gateway WebSocket API, in the root stack (its id is the stream's URL,
which clients keep); each function's integration and invoke permission, in the function's stack.

The catalog's `WebSocket` entries serve its routes (`integrate`, then `add_route` here, once every
stack is built, as `Api` does for HTTP routes: a route's logical id depends on its key only). The
`Streamed` entry posts to the connections (`allow_posting`): the management API's endpoint as its
setting, and `execute-api:ManageConnections` on this API's connections and nothing else.

Frames are routed by their `action` (`$request.body.action`), so `subscribe`, `unsubscribe` and
`ping` are routes of their own and anything else is `$default`; the message routes are two-way,
so what the function answers reaches the client.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import nag
from infra.constructs.functions import pascal_case
from trading_system.catalog import Function, WebSocket

STAGE = "live"
# The stream's limits across every client: connects, frames and posts share API Gateway's
# account quota, so a runaway client must not take the HTTP API's share.
THROTTLE = apigw.ThrottleSettings(rate_limit=50, burst_limit=100)
_LIFECYCLE = ("$connect", "$disconnect")  # API Gateway sends no reply to these


@dataclass(frozen=True)
class WebSocketRoute:
    """A route of a `WebSocket` entry and its integration, made in its function's stack."""

    entry: Function
    route_key: str
    integration: apigw.CfnIntegration


class StreamApi(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.api = apigw.WebSocketApi(self, "WebSocketApi", route_selection_expression="$request.body.action")
        self.stage = apigw.WebSocketStage(
            self, "Stage", web_socket_api=self.api, stage_name=STAGE, auto_deploy=True, throttle=THROTTLE
        )
        nag.acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "the $connect function authenticates the key or token in the query string with the HTTP "
            "API's code and refuses the handshake without one; the other routes exist only on a "
            "connection it accepted (API Gateway authorizes $connect alone)",
        )
        # Access logs of a WebSocket API need the account's API Gateway CloudWatch role, an
        # account-wide setting a stack should not own; the functions log every connect and frame.
        nag.acknowledge(
            self.stage,
            "AwsSolutions-APIG1",
            "WebSocket access logs need the account-level API Gateway CloudWatch role, which this "
            "stack does not own; the stream's functions log each connection, frame and fan-out",
        )

    def integrate(
        self, scope: Construct, entry: Function, trigger: WebSocket, function: lambda_.IFunction
    ) -> list[WebSocketRoute]:
        """The entry's integration and API Gateway's permission to invoke its function for its
        routes, in `scope` (the function's stack); `add_route` routes to it."""
        name = pascal_case(entry.name)
        stack = cdk.Stack.of(scope)
        integration = apigw.CfnIntegration(
            scope,
            f"{name}WebSocketIntegration",
            api_id=self.api.api_id,
            integration_type="AWS_PROXY",
            integration_uri=(
                f"arn:{stack.partition}:apigateway:{stack.region}:lambda:path/2015-03-31/functions/"
                f"{function.function_arn}/invocations"
            ),
        )
        routes = []
        for route_key in trigger.routes:
            function.add_permission(
                f"{name}InvokedBy{pascal_case(route_key.strip('$'))}",
                scope=scope,
                principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
                source_arn=stack.format_arn(
                    service="execute-api", resource=self.api.api_id, resource_name=f"{STAGE}/{route_key}"
                ),
            )
            routes.append(WebSocketRoute(entry, route_key, integration))
        return routes

    def add_route(self, route: WebSocketRoute) -> None:
        """The route, here. No authorizer: `$connect`'s function checks the key or token itself (the
        HTTP API's check), and the other routes only exist on a connection it accepted."""
        scope = Construct(self.api, f"Route{pascal_case(route.route_key.strip('$'))}")
        two_way = route.route_key not in _LIFECYCLE
        cfn_route = apigw.CfnRoute(
            scope,
            "Resource",
            api_id=self.api.api_id,
            route_key=route.route_key,
            target=f"integrations/{route.integration.ref}",
            authorization_type="NONE",
            route_response_selection_expression="$default" if two_way else None,
        )
        if two_way:
            apigw.CfnRouteResponse(
                scope,
                "Response",
                api_id=self.api.api_id,
                route_id=cfn_route.ref,
                route_response_key="$default",
            )
        # The stage's first deployment needs a route to deploy
        stage = self.stage.node.default_child
        assert isinstance(stage, apigw.CfnStage)
        stage.add_dependency(cfn_route)

    def allow_posting(self, function: lambda_.Function) -> None:
        """`function` posts to this API's connections (and drops them): the management endpoint as
        its setting, the permission on this API's stage's connections only."""
        function.add_environment("TRADING_WEBSOCKET_ENDPOINT", self.management_endpoint)
        stack = cdk.Stack.of(function)
        connections = stack.format_arn(
            service="execute-api", resource=self.api.api_id, resource_name=f"{STAGE}/*/@connections/*"
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=[connections])
        )
        nag.acknowledge(
            function,
            f"AwsSolutions-IAM5[Resource::{self._rendered(stack, connections)}]",
            "the stream's connections, whose ids API Gateway makes at run time; this API and stage only",
        )

    def _rendered(self, stack: cdk.Stack, arn: str) -> str:
        """`arn` as cdk-nag prints it in `stack`: there the API's id is the parameter the nested
        stack receives it through (named after the API's path-based unique id), here its Ref."""
        api = self.api.node.default_child
        assert isinstance(api, cdk.CfnElement)
        if stack is cdk.Stack.of(self):
            return nag.rendered(stack, arn)
        parameter = f"<referenceto{cdk.Names.unique_id(api)}Ref>"
        return nag.rendered(stack, arn.replace(self.api.api_id, "API_ID")).replace("API_ID", parameter)

    @property
    def management_endpoint(self) -> str:
        stack = cdk.Stack.of(self)
        return f"https://{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE}"

    @property
    def url(self) -> str:
        return self.stage.url
