"""Every botocore client comes from one session with bounded timeouts and retries
(adapters/aws/clients.py), including the WebSocket management API's, which lives at an endpoint of
its own and retries less."""

from __future__ import annotations

import json

import botocore.loaders
import pytest
from botocore.exceptions import UnknownServiceError

from tests.aws_fixtures import aws_keys
from trading_system.adapters.aws import clients
from trading_system.adapters.aws.websocket import ManagementApiPoster
from trading_system.config import Settings

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


__all__ = ["aws_keys"]  # fixtures this module uses


@pytest.fixture
def settings(aws_keys: None) -> Settings:
    return Settings(aws_region="eu-west-1", websocket_endpoint=ENDPOINT)


def test_clients_share_one_session_and_the_bounded_config(settings: Settings) -> None:
    table = clients.client("dynamodb", settings)
    events = clients.client("events", settings)
    session = clients._session
    assert session is not None
    assert (
        table.meta.config.connect_timeout == events.meta.config.connect_timeout == clients.CONNECT_TIMEOUT_S
    )
    assert table.meta.config.read_timeout == clients.READ_TIMEOUT_S
    assert table.meta.config.retries == {"total_max_attempts": clients.MAX_ATTEMPTS, "mode": "standard"}
    clients.client("s3", settings)
    assert clients._session is session  # no second session: it would load botocore's models again


def test_the_management_api_poster_uses_the_shared_session_at_its_own_endpoint(settings: Settings) -> None:
    clients.client("dynamodb", settings)
    session = clients._session
    poster = ManagementApiPoster.from_settings(settings, threads=7)
    config = poster.client.meta.config
    assert clients._session is session
    assert poster.client.meta.endpoint_url == ENDPOINT
    assert poster.client.meta.region_name == "eu-west-1"
    assert config.retries == {
        "total_max_attempts": 2,
        "mode": "standard",
    }  # one retry: a slow post costs others little
    assert config.max_pool_connections == 7
    assert (
        config.connect_timeout == clients.CONNECT_TIMEOUT_S and config.read_timeout == clients.READ_TIMEOUT_S
    )


def test_the_email_channel_makes_one_bounded_attempt_in_the_shared_session(settings: Settings) -> None:
    from trading_system.adapters.alert_channels import SnsEmailChannel
    from trading_system.alerts.domain import SEND_TIMEOUT_S

    clients.client("dynamodb", settings)
    session = clients._session
    channel = SnsEmailChannel.from_settings(
        settings.model_copy(update={"alerts_topic_arn": "arn:aws:sns:eu-west-1:123456789012:alerts"})
    )
    config = channel.client.meta.config
    assert clients._session is session
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}  # the delivery schedule retries
    assert config.connect_timeout + config.read_timeout <= SEND_TIMEOUT_S


def test_a_client_is_built_for_each_of_the_platforms_services_and_no_other(settings: Settings) -> None:
    for service in sorted(clients.SERVICES):
        assert clients.client(service, settings).meta.service_model.service_name == service
    with pytest.raises(UnknownServiceError, match="'lambda'"):
        clients.client("lambda", settings)


def test_the_loader_reads_the_same_models_as_botocores_own() -> None:
    """Its JSON files are parsed by orjson into plain dicts: the same content, in the same order."""
    ours, botocores = clients._PlatformLoader(), botocore.loaders.Loader()
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
        mine, theirs = ours.load_data(name), botocores.load_data(name)
        assert mine == theirs and json.dumps(mine) == json.dumps(theirs), name
    for service in sorted(clients.SERVICES):
        for type_name in ("service-2", "endpoint-rule-set-1"):  # plain and gzipped files both
            mine = ours.load_service_model(service, type_name)
            assert json.dumps(mine) == json.dumps(botocores.load_service_model(service, type_name))
