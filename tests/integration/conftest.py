"""AWS fixtures for the integration tests that run on moto's server."""

from tests.aws_fixtures import aws_env, moto_transactions_isolated, moto_url

__all__ = ["aws_env", "moto_transactions_isolated", "moto_url"]
