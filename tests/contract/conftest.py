"""Contract suites run each port against every adapter; the AWS ones against moto's server."""

from tests.aws_fixtures import aws_env, moto_transactions_isolated, moto_url

__all__ = ["aws_env", "moto_transactions_isolated", "moto_url"]
