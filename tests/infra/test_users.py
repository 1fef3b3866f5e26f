"""The Cognito user pool construct, in a bare stack: groups that are the roles, an app client
without a secret, cdk-nag satisfied, and a function given the settings that make it trust the
pool's tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from infra import nag
from infra.constructs.users import Users
from trading_system.config import Settings


def synthesized(tmp_path: Path) -> tuple[Template, cdk.Stack, Users]:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "UsersOnly", env=cdk.Environment(region="eu-west-1"))
    users = Users(stack, "Users")
    function = lambda_.Function(
        stack,
        "Authorizer",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )
    for finding, reason in (
        (nag.BASIC_EXECUTION_ROLE, "a stand-in function of this test"),
        ("AwsSolutions-L1", "a stand-in function of this test"),
    ):
        nag.acknowledge(function, finding, reason)
    users.trust(function)
    nag.check(app)
    app.synth()  # raises on any finding the construct does not acknowledge
    return Template.from_stack(stack), stack, users


def test_the_pool_is_invite_only_with_mfa_and_strong_passwords(tmp_path: Path) -> None:
    template, _, _ = synthesized(tmp_path)
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                    "MfaConfiguration": "ON",
                    "DeletionProtection": "ACTIVE",
                    "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12})},
                }
            ),
        },
    )


def test_the_groups_are_the_roles_admin_first(tmp_path: Path) -> None:
    template, _, _ = synthesized(tmp_path)
    groups = template.find_resources("AWS::Cognito::UserPoolGroup")
    precedence = {g["Properties"]["GroupName"]: g["Properties"]["Precedence"] for g in groups.values()}
    assert precedence == {"admin": 0, "trader": 1, "viewer": 2}


def test_the_app_client_has_no_secret_and_short_tokens(tmp_path: Path) -> None:
    template, _, _ = synthesized(tmp_path)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        Match.object_like(
            {
                "GenerateSecret": False,
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": True,
                "AccessTokenValidity": 60,
                "IdTokenValidity": 60,
                "TokenValidityUnits": Match.object_like({"AccessToken": "minutes", "IdToken": "minutes"}),
            }
        ),
    )


def test_a_trusting_function_gets_the_pool_as_its_jwt_settings(tmp_path: Path) -> None:
    template, stack, users = synthesized(tmp_path)
    functions = template.find_resources("AWS::Lambda::Function")
    (authorizer,) = functions.values()
    environment: dict[str, Any] = authorizer["Properties"]["Environment"]["Variables"]
    assert set(environment) == set(users.settings())
    # each variable is a setting the runtime knows (TRADING_<name>)
    for variable in environment:
        assert variable.removeprefix("TRADING_").lower() in Settings.model_fields, variable
    pool = stack.resolve(users.user_pool.user_pool_id)
    client = stack.resolve(users.client.user_pool_client_id)
    assert environment["TRADING_JWT_AUDIENCE"] == client
    # https://cognito-idp.<region>.amazonaws.com/<pool id>, the `iss` Cognito writes
    provider_url = {"Fn::GetAtt": [pool["Ref"], "ProviderURL"]}
    assert environment["TRADING_JWT_ISSUER"] == {"Fn::Join": ["", ["https://", provider_url]]}
    jwks = {"Fn::Join": ["", ["https://", provider_url, "/.well-known/jwks.json"]]}
    assert environment["TRADING_JWT_JWKS_URL"] == jwks
    assert environment["TRADING_JWT_ROLES_CLAIM"] == "cognito:groups"
    assert environment["TRADING_JWT_ALGORITHMS"] == "RS256"
