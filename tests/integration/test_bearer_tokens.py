"""Bearer JWTs end to end on the local runtime: an outside issuer's JWKS served on 127.0.0.1
(caching, rotation, outage), the local HTTP app and the stream taking the platform's own tokens and
the outside issuer's beside API keys, and the Lambda authorizer deciding on them."""

from __future__ import annotations

import copy
import importlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.jwt_helpers import AUDIENCE, ISSUER, JwksServer, SigningKey, claims, jwks_server
from trading_system.adapters.bearer_tokens import build_verifier
from trading_system.adapters.jwt_tokens import JwksKeys, JwtVerifier, TrustedIssuer
from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import by_name
from trading_system.config import Settings, load_settings
from trading_system.entrypoints.authorizer import decide
from trading_system.identity.commands import DisableSubject, EnableSubject, IssueToken, RevokeToken
from trading_system.identity.domain import TokenRefused
from trading_system.identity.ports import IssuedToken
from trading_system.identity.queries import Authenticate
from trading_system.kernel.errors import Unauthorized
from trading_system.kernel.principal import Role
from trading_system.market_data.commands import BarRow, IngestBars, RegisterSymbol
from trading_system.trading.commands import CreateAccount, GrantAccountReader

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORDER = {
    "symbol": "AAPL",
    "side": "buy",
    "type": "limit",
    "time_in_force": "gtc",
    "qty": "1",
    "limit_price": "100.00",
}


@pytest.fixture
def outside_key() -> SigningKey:
    return SigningKey.rsa("pool-key-1")


@pytest.fixture
def jwks(outside_key: SigningKey) -> Iterator[JwksServer]:
    with jwks_server([outside_key]) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, jwks: JwksServer) -> Settings:
    """The local runtime trusting its own tokens and the test's issuer (played as a Cognito pool)."""
    return load_settings(
        data_dir=tmp_path / "data", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=jwks.url
    )


@pytest.fixture
def market(container: Container) -> None:
    container.bus.execute(RegisterSymbol(symbol="AAPL"))
    bar = BarRow(ts="2024-01-02", open=187.15, high=188.44, low=183.89, close=185.64, volume=82488700)
    container.bus.execute(IngestBars(timeframe="1d", symbol="AAPL", bars=[bar]))
    # the account of the trader tokens' subject (accounts are their owner's)
    container.bus.execute(CreateAccount(account_id="paper", starting_cash=Decimal(100_000), owner="alice"))


def issue(container: Container, role: Role, subject: str = "alice", ttl_s: int = 3600) -> IssuedToken:
    issued: IssuedToken = container.bus.execute(IssueToken(role=role, subject=subject, ttl_s=ttl_s))
    return issued


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def expired_token(container: Container) -> str:
    """One of the platform's own tokens, issued two hours ago for an hour."""
    issuer = container.token_issuer
    then = datetime.fromtimestamp(time.time() - 7200, UTC)
    return issuer.issue("alice", Role.TRADER, timedelta(hours=1), then).token


# -- the JWKS on loopback -------------------------------------------------------------------------


def outside_verifier(url: str, ttl_s: float = 300, cooldown_s: float = 30) -> JwtVerifier:
    trusted = TrustedIssuer(
        issuer=ISSUER,
        audiences=[AUDIENCE],
        algorithms=["RS256", "ES256"],
        keys=JwksKeys(url, ttl_s, cooldown_s),
        roles_claim="cognito:groups",
    )
    return JwtVerifier([trusted])


def test_keys_are_fetched_once_and_cached(jwks: JwksServer, outside_key: SigningKey) -> None:
    verifier = outside_verifier(jwks.url)
    for subject in ("alice", "bob", "carol"):
        assert verifier.verify(outside_key.sign(claims(subject=subject))).subject == subject
    assert jwks.fetches == 1


def test_a_rotated_in_key_is_fetched_and_a_rotated_out_one_stops_working(
    jwks: JwksServer, outside_key: SigningKey
) -> None:
    verifier = outside_verifier(jwks.url, ttl_s=1, cooldown_s=0)
    old_token = outside_key.sign(claims(subject="old"))
    assert verifier.verify(old_token).subject == "old"
    rotated = SigningKey.ec("pool-key-2")
    jwks.keys = [outside_key, rotated]
    # an unknown kid makes the verifier look again at once (no wait for the cached set to expire)
    assert verifier.verify(rotated.sign(claims(subject="new"))).subject == "new"
    assert jwks.fetches == 2
    jwks.keys = [rotated]
    time.sleep(1.1)  # the TTL of the cached set
    with pytest.raises(TokenRefused, match="unknown kid 'pool-key-1'"):
        verifier.verify(old_token)


def test_made_up_kids_cannot_make_the_jwks_be_fetched_again_and_again(
    jwks: JwksServer, outside_key: SigningKey
) -> None:
    verifier = outside_verifier(jwks.url)  # the default cooldown between forced refetches
    verifier.verify(outside_key.sign(claims()))
    for n in range(20):
        with pytest.raises(TokenRefused, match="unknown kid"):
            verifier.verify(SigningKey.ec(f"made-up-{n}").sign(claims()))
    assert jwks.fetches == 1


def test_an_unreachable_jwks_refuses_the_token_and_says_why(
    jwks: JwksServer, outside_key: SigningKey
) -> None:
    jwks.up = False
    with pytest.raises(TokenRefused, match="could not be fetched"):
        outside_verifier(jwks.url).verify(outside_key.sign(claims()))


def test_the_settings_build_a_verifier_trusting_both_issuers(
    settings: Settings, container: Container, outside_key: SigningKey
) -> None:
    verifier = build_verifier(settings)
    assert verifier.verify(outside_key.sign(claims(groups=["admin"]))).role is Role.ADMIN
    assert verifier.verify(issue(container, Role.VIEWER).token).role is Role.VIEWER


def test_with_no_issuer_configured_only_the_platforms_tokens_are_taken(
    tmp_path: Path, outside_key: SigningKey
) -> None:
    container = bootstrap(load_settings(data_dir=tmp_path / "plain"))
    principal = container.bus.ask(Authenticate(token=issue(container, Role.TRADER, "dora").token))
    assert principal.key_id == "jwt:dora"
    with pytest.raises(Unauthorized):
        container.bus.ask(Authenticate(token=outside_key.sign(claims())))


# -- the local HTTP app ---------------------------------------------------------------------------


def test_a_trader_token_places_an_order_and_a_viewer_token_cannot(
    client: TestClient, container: Container, market: None, outside_key: SigningKey
) -> None:
    trader = issue(container, Role.TRADER, "alice").token
    placed = client.post("/v1/orders", json=ORDER | {"client_order_id": "jwt-1"}, headers=bearer(trader))
    assert placed.status_code == 201, placed.text
    assert client.get("/v1/me", headers=bearer(trader)).json() == {
        "key_id": "jwt:alice",
        "role": "trader",
        "user": "alice",
    }

    viewer = issue(container, Role.VIEWER, "victor").token
    refused = client.post("/v1/orders", json=ORDER | {"client_order_id": "jwt-2"}, headers=bearer(viewer))
    assert refused.status_code == 403, refused.text
    container.bus.execute(GrantAccountReader(account_id="paper", user="victor"))
    assert client.get(f"/v1/orders/{placed.json()['id']}", headers=bearer(viewer)).status_code == 200

    # a Cognito user in the trader group, through the JWKS, on an account of its own
    container.bus.execute(CreateAccount(account_id="own", starting_cash=Decimal(1000), owner="c0ffee"))
    cognito = outside_key.sign(claims(subject="c0ffee", groups=["trader"]))
    mine = ORDER | {"client_order_id": "jwt-3", "account_id": "own"}
    outside = client.post("/v1/orders", json=mine, headers=bearer(cognito))
    assert outside.status_code == 201, outside.text


def test_a_bad_token_is_a_terse_401(
    client: TestClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    for token, reason in (
        (expired_token(container), "expired"),
        (SigningKey.ec("stranger").sign(claims()), "unknown kid 'stranger'"),
        (issue(container, Role.ADMIN).token[:-4] + "AAAA", "bad signature"),
    ):
        caplog.clear()
        response = client.get("/v1/me", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["detail"] == "the bearer token is not valid"
        assert f"bearer token refused: {reason}" in caplog.text


def test_revoking_a_token_or_disabling_a_subject_stops_it_on_the_next_request(
    client: TestClient, container: Container, outside_key: SigningKey
) -> None:
    first, second = issue(container, Role.VIEWER, "erin"), issue(container, Role.VIEWER, "erin")
    assert client.get("/v1/me", headers=bearer(first.token)).status_code == 200
    container.bus.execute(RevokeToken(token_id=first.token_id))
    assert client.get("/v1/me", headers=bearer(first.token)).status_code == 401
    assert client.get("/v1/me", headers=bearer(second.token)).status_code == 200

    cognito = outside_key.sign(claims(subject="erin", groups=["viewer"]))
    container.bus.execute(DisableSubject(subject="erin"))
    for token in (second.token, cognito):
        assert client.get("/v1/me", headers=bearer(token)).status_code == 401
    container.bus.execute(EnableSubject(subject="erin"))
    assert client.get("/v1/me", headers=bearer(second.token)).status_code == 200


def test_the_stream_takes_a_token_in_the_query_string(client: TestClient, container: Container) -> None:
    token = issue(container, Role.VIEWER).token
    with client.websocket_connect(f"/v1/stream?api_key={token}") as socket:
        socket.send_json({"action": "ping"})
        assert socket.receive_json()["type"] == "pong"


# -- the Lambda authorizer --------------------------------------------------------------------------


def authorizer_event(route: str, headers: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "authorizer" / "authorizer.json").read_text())
    event["routeKey"] = route
    event["headers"] = {"host": event["headers"]["host"], **headers}
    return event


def test_the_authorizer_decides_on_bearer_tokens(container: Container, outside_key: SigningKey) -> None:
    viewer = issue(container, Role.VIEWER, "victor").token
    allowed = decide(container, authorizer_event("GET /v1/bars/{symbol}", bearer(viewer)))
    # the principal travels in the context exactly as a key's does
    assert allowed == {
        "isAuthorized": True,
        "context": {"key_id": "jwt:victor", "role": "viewer", "user": "victor"},
    }
    assert decide(container, authorizer_event("POST /v1/orders", bearer(viewer)))["isAuthorized"] is False

    trader = outside_key.sign(claims(subject="c0ffee", groups=["viewer", "trader"]))
    decision = decide(container, authorizer_event("POST /v1/orders", bearer(trader)))
    assert decision == {
        "isAuthorized": True,
        "context": {"key_id": "jwt:c0ffee", "role": "trader", "user": "c0ffee"},
    }

    for bad in (expired_token(container), outside_key.sign(claims(audience="other-app"))):
        denied = decide(container, authorizer_event("GET /v1/bars/{symbol}", bearer(bad)))
        assert denied == {"isAuthorized": False, "context": {"reason": "the bearer token is not valid"}}

    container.bus.execute(DisableSubject(subject="c0ffee"))
    assert decide(container, authorizer_event("POST /v1/orders", bearer(trader)))["isAuthorized"] is False


def test_the_authorizer_lambda_verifies_the_platforms_tokens(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the function's module, built from the environment as in Lambda (the local runtime's
    data folder holds the signing key here; in AWS it would be TRADING_JWT_SIGNING_KEY)."""
    monkeypatch.setenv("TRADING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TradingTest")
    token = issue(container, Role.TRADER, "alice")
    function = by_name()["authorizer"]
    sys.modules.pop(function.module, None)
    handler = importlib.import_module(function.module).handler

    event = authorizer_event("POST /v1/orders", bearer(token.token))
    assert handler(event, LambdaContext())["context"] == {
        "key_id": "jwt:alice",
        "role": "trader",
        "user": "alice",
    }
    container.bus.execute(RevokeToken(token_id=token.token_id))
    assert handler(copy.deepcopy(event), LambdaContext())["isAuthorized"] is False
    sys.modules.pop(function.module, None)


@dataclass
class LambdaContext:
    function_name: str = "authorizer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"
    aws_request_id: str = "req-1"
