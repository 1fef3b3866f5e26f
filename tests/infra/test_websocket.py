"""The live stream's WebSocket API in the synthesised template: its routes from the catalog, the
functions they invoke, the fan-out's rule and its right to post to this API's connections only."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized
from trading_system.catalog import STREAMED_EVENTS, Streamed, WebSocket, by_name, websocket_routes


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def the_api(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (k, v)
        for k, v in synthesized.of_type("AWS::ApiGatewayV2::Api").items()
        if v["Properties"].get("ProtocolType") == "WEBSOCKET"
    ]
    return found


def test_one_websocket_api_routes_frames_by_their_action(synthesized: Synthesized) -> None:
    api_id, api = the_api(synthesized)
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    stages = [
        s
        for s in synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
        if s["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    (stage,) = stages
    assert stage["Properties"]["StageName"] == "live" and stage["Properties"]["AutoDeploy"] is True
    limits = stage["Properties"]["DefaultRouteSettings"]
    assert limits["ThrottlingRateLimit"] == 50 and limits["ThrottlingBurstLimit"] == 100


def test_every_catalog_route_invokes_its_function(synthesized: Synthesized) -> None:
    api_id, _ = the_api(synthesized)
    routes = {
        r["Properties"]["RouteKey"]: r
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["ApiId"] == {"Ref": api_id}
    }
    expected = websocket_routes()
    assert (
        set(routes)
        == set(expected)
        == {"$connect", "$disconnect", "subscribe", "unsubscribe", "ping", "$default"}
    )
    integrations = synthesized.of_type("AWS::ApiGatewayV2::Integration")
    responses = synthesized.of_type("AWS::ApiGatewayV2::RouteResponse")
    for key, route in routes.items():
        target = text(route["Properties"]["Target"])
        (integration_id,) = [i for i in integrations if i in target]
        uri = text(integrations[integration_id]["Properties"]["IntegrationUri"])
        assert synthesized.invoked_id(expected[key]) in uri, key  # a SnapStart function's alias
        assert integrations[integration_id]["Properties"]["IntegrationType"] == "AWS_PROXY"
        (route_id,) = [k for k, v in synthesized.of_type("AWS::ApiGatewayV2::Route").items() if v is route]
        answered = [r for r in responses.values() if r["Properties"]["RouteId"] == {"Ref": route_id}]
        # what the function answers a frame reaches the client; $connect and $disconnect have no reply
        if key in ("$connect", "$disconnect"):
            assert not answered and "RouteResponseSelectionExpression" not in route["Properties"], key
        else:
            assert [r["Properties"]["RouteResponseKey"] for r in answered] == ["$default"], key
            assert route["Properties"]["RouteResponseSelectionExpression"] == "$default", key


def test_api_gateway_may_invoke_each_function_for_its_own_routes_only(synthesized: Synthesized) -> None:
    api_id, _ = the_api(synthesized)
    for name in ("stream_connect", "stream_messages"):
        entry = by_name()[name]
        assert isinstance(entry.trigger, WebSocket)
        function_id = synthesized.function_id(entry)
        invoked_id = synthesized.invoked_id(entry)  # a SnapStart function's alias, by its Ref
        invoked = {"Fn::GetAtt": [function_id, "Arn"]} if invoked_id == function_id else {"Ref": invoked_id}
        sources = [
            text(p["Properties"]["SourceArn"])
            for p in synthesized.of_type("AWS::Lambda::Permission").values()
            if p["Properties"]["FunctionName"] == invoked and api_id in text(p["Properties"].get("SourceArn"))
        ]
        assert len(sources) == len(entry.trigger.routes), name
        for route in entry.trigger.routes:
            assert any(f"/live/{route}" in s for s in sources), (name, route)


def test_the_fan_out_hears_every_streamed_event_and_posts_to_this_apis_connections_only(
    synthesized: Synthesized,
) -> None:
    api_id, _ = the_api(synthesized)
    entry = by_name()["stream_fan_out"]
    assert isinstance(entry.trigger, Streamed) and entry.trigger.events == STREAMED_EVENTS
    function_id = synthesized.function_id(entry)
    rules = [
        r
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if function_id in text(r["Properties"].get("Targets"))
    ]
    (rule,) = rules
    assert rule["Properties"]["EventPattern"]["detail-type"] == list(STREAMED_EVENTS)
    assert rule["Properties"]["EventPattern"]["source"] == [{"prefix": "trading."}]

    endpoint = text(
        synthesized.function(entry)["Properties"]["Environment"]["Variables"]["TRADING_WEBSOCKET_ENDPOINT"]
    )
    assert api_id in endpoint and "/live" in endpoint and "https://" in endpoint

    manage = [
        s for s in synthesized.statements(entry) if "execute-api:ManageConnections" in text(s["Action"])
    ]
    (statement,) = manage
    resource = text(statement["Resource"])
    assert api_id in resource and "/live/*/@connections/*" in resource
    # No other function may post to (or drop) a stream connection.
    for name, other in by_name().items():
        if name != "stream_fan_out":
            assert not any(a.startswith("execute-api:") for a in synthesized.actions(other)), name


def test_the_stream_functions_touch_only_connection_items_and_connect_reads_keys(
    synthesized: Synthesized,
) -> None:
    leading = {}
    for name in ("stream_connect", "stream_messages", "stream_fan_out"):
        conditions = [
            s.get("Condition", {})
            for s in synthesized.statements(by_name()[name])
            if "dynamodb:" in text(s["Action"])
        ]
        leading[name] = text(conditions)
    assert "ws_connection" in leading["stream_connect"] and "api_key" in leading["stream_connect"]
    assert "ws_channel:*" not in leading["stream_connect"]
    for name in ("stream_messages", "stream_fan_out"):
        assert "ws_channel:*" in leading[name] and "api_key" not in leading[name], name


def test_connect_verifies_tokens_as_the_authorizer_does(synthesized: Synthesized) -> None:
    def settings(name: str) -> dict[str, Any]:
        variables: dict[str, Any] = synthesized.function(by_name()[name])["Properties"]["Environment"][
            "Variables"
        ]
        return {k: v for k, v in variables.items() if k.startswith("TRADING_JWT")}

    assert settings("authorizer") and settings("stream_connect") == settings("authorizer")


def test_abandoned_connections_expire_and_the_url_is_an_output(synthesized: Synthesized) -> None:
    (table,) = synthesized.of_type("AWS::DynamoDB::Table").values()
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    api_id, _ = the_api(synthesized)
    assert api_id in text(synthesized.document["Outputs"]["WebSocketUrl"]["Value"])
