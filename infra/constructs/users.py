"""The platform's users in AWS: a Cognito user pool whose groups are the roles (admin, trader,
viewer), and one app client for the dashboard and API clients, with no secret (a browser or a CLI
cannot keep one). Its tokens are verified by the same code as the local runtime's
(trading_system/adapters/jwt_tokens.py): `trust` gives a function the issuer, the JWKS URL and
the audience as settings (TRADING_JWT_*).

A user disabled in Cognito keeps valid tokens until they expire (an hour here); to stop them at
once, `trading tokens disable <sub>` puts the subject on the revocation list that the authorizer
reads on every request.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import nag
from trading_system.kernel.principal import Role

# Short-lived tokens bound how long a user removed from a group keeps the role it had.
TOKEN_VALIDITY = cdk.Duration.hours(1)
REFRESH_TOKEN_VALIDITY = cdk.Duration.days(30)
# The claim the authorizer reads the roles from: Cognito writes the user's groups there.
ROLES_CLAIM = "cognito:groups"


class Users(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: cdk.RemovalPolicy | None = None
    ):
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Pool",
            # An admin invites each user: a trading platform is not open to whoever signs up.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            # Users are data: deleting the stack must not delete them.
            removal_policy=removal_policy or cdk.RemovalPolicy.RETAIN,
        )
        nag.acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "threat protection (the Plus feature plan) is billed per active user; an operator opts "
            "in on the pool, the platform does not impose the cost",
        )
        # Precedence decides which group's IAM role Cognito picks; the authorizer takes the
        # highest role of all the user's groups either way.
        self.groups = {
            role: cognito.CfnUserPoolGroup(
                self,
                f"{role.value.capitalize()}Group",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=role.value,
                description=f"users with the {role.value} role",
                precedence=len(Role) - 1 - role.rank,
            )
            for role in Role
        }
        self.client = self.user_pool.add_client(
            "ApiClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=TOKEN_VALIDITY,
            id_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
        )

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens."""
        return f"https://{self.user_pool.user_pool_provider_url}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def audience(self) -> str:
        """ID tokens carry it as `aud`, access tokens as `client_id`: the verifier takes both."""
        return self.client.user_pool_client_id

    def settings(self) -> dict[str, str]:
        """The settings (environment variables) that make a function trust the pool's tokens."""
        return {
            "TRADING_JWT_ISSUER": self.issuer,
            "TRADING_JWT_JWKS_URL": self.jwks_url,
            "TRADING_JWT_AUDIENCE": self.audience,
            "TRADING_JWT_ROLES_CLAIM": ROLES_CLAIM,
            "TRADING_JWT_ALGORITHMS": "RS256",  # what Cognito signs with, and nothing else
        }

    def trust(self, function: lambda_.Function) -> None:
        for name, value in self.settings().items():
            function.add_environment(name, value)
