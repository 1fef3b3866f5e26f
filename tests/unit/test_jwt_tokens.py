"""The bearer-token verifier: every check it makes, each refusal with its logged reason, and the
platform's own issuer and signing key. Keys are made by the tests; no network."""

from __future__ import annotations

import logging
import re
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.jwt_helpers import AUDIENCE, ISSUER, SigningKey, claims, hmac_signed, unsigned
from trading_system.adapters.jwt_tokens import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    JwtVerifier,
    LocalIssuer,
    StaticKeys,
    TrustedIssuer,
    load_or_create_signing_key,
    local_trusted_issuer,
    public_jwk,
)
from trading_system.adapters.revocations import DocumentTokenRevocations
from trading_system.config import SettingsError, load_settings
from trading_system.identity.domain import (
    Revocation,
    RevocationKind,
    TokenRefused,
    looks_like_jwt,
    role_from_claim,
)
from trading_system.identity.handlers import TOKEN_NOT_VALID, authenticate
from trading_system.identity.queries import Authenticate
from trading_system.kernel.errors import Unauthorized
from trading_system.kernel.principal import Principal, Role

RSA = SigningKey.rsa("rsa-1")
EC = SigningKey.ec("ec-1")


def outside_issuer(
    roles_claim: str = "cognito:groups", keys: list[SigningKey] | None = None
) -> TrustedIssuer:
    return TrustedIssuer(
        issuer=ISSUER,
        audiences=[AUDIENCE],
        algorithms=["RS256", "ES256"],
        keys=StaticKeys([k.jwk() for k in keys or [RSA, EC]]),
        roles_claim=roles_claim,
    )


@pytest.fixture
def verifier() -> JwtVerifier:
    return JwtVerifier([outside_issuer()], leeway_s=30)


def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(TokenRefused) as caught:
        verifier.verify(token)
    return caught.value.reason


# -- what is accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
def test_a_well_signed_token_gives_its_subject_and_highest_role(
    verifier: JwtVerifier, key: SigningKey
) -> None:
    token = key.sign(claims(subject="alice", groups=["viewer", "trader", "beta-testers"]))
    verified = verifier.verify(token)
    assert (verified.subject, verified.role, verified.issuer) == ("alice", Role.TRADER, ISSUER)
    assert verified.token_id is not None and verified.token_id.startswith("jti-alice-")
    assert verified.principal() == Principal(key_id="jwt:alice", role=Role.TRADER, user="alice")


def test_a_cognito_access_token_is_checked_on_its_client_id(verifier: JwtVerifier) -> None:
    access = claims(audience=None, token_use="access", client_id=AUDIENCE)
    assert verifier.verify(RSA.sign(access)).role is Role.TRADER
    other_client = claims(audience=None, token_use="access", client_id="another-app")
    assert "wrong audience" in refused(verifier, RSA.sign(other_client))
    # an ID token (or any other) must carry `aud`: client_id stands in for access tokens only
    assert "no audience" in refused(verifier, RSA.sign(claims(audience=None, client_id=AUDIENCE)))


def test_expiry_and_not_before_allow_the_leeway_and_no_more(verifier: JwtVerifier) -> None:
    assert verifier.verify(RSA.sign(claims(ttl_s=-20))).subject == "alice"  # 20 s late, 30 s leeway
    assert refused(verifier, RSA.sign(claims(ttl_s=-60))) == "expired"
    soon = int(datetime.now(UTC).timestamp()) + 120
    assert "not valid yet" in refused(verifier, RSA.sign(claims(nbf=soon)))


@pytest.mark.parametrize(
    ("claim", "value", "role"),
    [
        ("roles", ["admin"], Role.ADMIN),
        ("roles", "viewer trader", Role.TRADER),
        ("realm_access.roles", {"roles": ["viewer"]}, Role.VIEWER),
    ],
)
def test_roles_come_from_the_configured_claim(claim: str, value: Any, role: Role) -> None:
    verifier = JwtVerifier([outside_issuer(roles_claim=claim)])
    name = claim.split(".")[0]
    body = claims(groups=["admin"]) | {name: value}  # cognito:groups is not the claim looked at here
    assert verifier.verify(RSA.sign(body)).role is role


def test_role_names_are_read_from_lists_or_strings() -> None:
    assert role_from_claim(["Viewer", "ADMIN"]) is Role.ADMIN
    assert role_from_claim("trader,viewer") is Role.TRADER
    assert role_from_claim(["everyone", 3]) is None
    assert role_from_claim(None) is None
    assert role_from_claim({"admin": True}) is None


def test_only_three_part_tokens_without_the_key_prefix_are_taken_for_jwts() -> None:
    assert looks_like_jwt(RSA.sign(claims()))
    assert not looks_like_jwt("tsk_0a1b2c3d4e5f_secret")
    assert not looks_like_jwt("tsk_a.b.c")
    assert not looks_like_jwt("a.b")


# -- what is refused, and why ---------------------------------------------------------------------


def test_alg_none_is_refused(verifier: JwtVerifier) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": RSA.kid}, claims())
    assert refused(verifier, token) == f"algorithm 'none' is not allowed for {ISSUER}"


def test_hs256_signed_with_the_public_key_is_refused(verifier: JwtVerifier) -> None:
    """Algorithm confusion: the public key (in the JWKS for all to read) used as an HMAC secret."""
    for secret in (RSA.public_pem(), EC.public_pem()):
        token = hmac_signed(secret, claims(groups=["admin"]), RSA.kid)
        assert refused(verifier, token) == f"algorithm 'HS256' is not allowed for {ISSUER}"


def test_a_header_algorithm_other_than_the_keys_own_is_refused(verifier: JwtVerifier) -> None:
    # ES256 is on the allow-list, but the kid names an RSA key: the key's algorithm is the one used
    forged = EC.sign(claims(), kid=RSA.kid)
    assert refused(verifier, forged) == (
        "algorithm refused: Token algorithm 'ES256' does not match the key's algorithm 'RS256'"
    )


def test_an_unknown_or_missing_kid_is_refused(verifier: JwtVerifier) -> None:
    stranger = SigningKey.rsa("rsa-unknown")
    assert refused(verifier, stranger.sign(claims())) == "unknown kid 'rsa-unknown'"
    no_kid = jwt.encode(claims(), RSA.private, algorithm="RS256")
    assert refused(verifier, no_kid) == "unknown kid None"


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(verifier: JwtVerifier) -> None:
    impostor = SigningKey.rsa(RSA.kid)
    assert refused(verifier, impostor.sign(claims())) == "bad signature"


def test_a_changed_payload_breaks_the_signature(verifier: JwtVerifier) -> None:
    header, _, signature = RSA.sign(claims(groups=["viewer"])).split(".")
    promoted = RSA.sign(claims(groups=["admin"])).split(".")[1]
    assert refused(verifier, f"{header}.{promoted}.{signature}") == "bad signature"


def test_the_wrong_audience_is_refused(verifier: JwtVerifier) -> None:
    assert refused(verifier, RSA.sign(claims(audience="someone-else"))).startswith("wrong audience")


def test_an_untrusted_issuer_is_refused(verifier: JwtVerifier) -> None:
    assert refused(verifier, RSA.sign(claims(issuer="https://evil.test"))) == (
        "untrusted issuer 'https://evil.test'"
    )
    no_issuer = claims()
    del no_issuer["iss"]
    assert refused(verifier, RSA.sign(no_issuer)) == "untrusted issuer None"


@pytest.mark.parametrize("missing", ["exp", "sub"])
def test_a_token_without_a_required_claim_is_refused(verifier: JwtVerifier, missing: str) -> None:
    body = claims()
    del body[missing]
    assert refused(verifier, RSA.sign(body)) == f'missing claim: Token is missing the "{missing}" claim'


def test_a_token_without_a_role_is_refused(verifier: JwtVerifier) -> None:
    reason = refused(verifier, RSA.sign(claims(groups=["beta-testers"])))
    assert reason == "no role (viewer, trader or admin) in the 'cognito:groups' claim"


def test_garbage_is_refused(verifier: JwtVerifier) -> None:
    assert refused(verifier, "not.a.jwt").startswith("malformed token")


# -- the handler: a terse 401, the reason in the log, revocations ---------------------------------


class Keys:
    def get(self, key_id: str) -> None:
        return None


class Revocations:
    def __init__(self, *entries: Revocation):
        self.entries = {(e.kind, e.value): e for e in entries}

    def find(self, token_id: str | None, subject: str) -> Revocation | None:
        return self.entries.get((RevocationKind.SUBJECT, subject)) or self.entries.get(
            (RevocationKind.TOKEN, token_id or "")
        )


def ask(token: str, verifier: JwtVerifier | None, revocations: Revocations | None = None) -> Principal:
    return authenticate(Authenticate(token=token), Keys(), verifier, revocations)  # type: ignore[arg-type]


def test_a_refused_token_is_a_terse_401_with_the_reason_in_the_log(
    verifier: JwtVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), pytest.raises(Unauthorized) as caught:
        ask(RSA.sign(claims(ttl_s=-3600)), verifier)
    assert caught.value.detail == TOKEN_NOT_VALID
    assert "bearer token refused: expired" in caplog.text
    assert ask(RSA.sign(claims()), verifier) == Principal("jwt:alice", Role.TRADER, user="alice")


def test_without_a_verifier_bearer_tokens_are_refused() -> None:
    with pytest.raises(Unauthorized):
        ask(RSA.sign(claims()), None)


def test_a_revoked_token_id_or_a_disabled_subject_is_refused(
    verifier: JwtVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    token = RSA.sign(claims(subject="bob", jti="token-7"))
    revoked = Revocation(kind=RevocationKind.TOKEN, value="token-7", revoked_at=now, revoked_by="admin")
    disabled = Revocation(kind=RevocationKind.SUBJECT, value="bob", revoked_at=now, revoked_by="admin")
    assert ask(token, verifier, Revocations()).key_id == "jwt:bob"
    for entry in (revoked, disabled):
        with caplog.at_level(logging.INFO), pytest.raises(Unauthorized):
            ask(token, verifier, Revocations(entry))
        assert f"{entry.kind.value} {entry.value} was revoked" in caplog.text
    assert (
        ask(RSA.sign(claims(subject="bob", jti="token-8")), verifier, Revocations(revoked)).role
        is Role.TRADER
    )


def test_the_revocation_list_keeps_ids_and_subjects_apart(container: Any) -> None:
    revocations = DocumentTokenRevocations(container.store)
    now = datetime.now(UTC)
    revocations.add(Revocation(kind=RevocationKind.TOKEN, value="x", revoked_at=now, revoked_by="a"))
    assert revocations.find("x", "y") is not None
    assert revocations.find(None, "x") is None  # a token id is not a subject
    revocations.add(Revocation(kind=RevocationKind.SUBJECT, value="y", revoked_at=now, revoked_by="a"))
    found = revocations.find("z", "y")
    assert found is not None and found.kind is RevocationKind.SUBJECT
    assert {r.value for r in revocations.list()} == {"x", "y"}
    assert revocations.remove(RevocationKind.SUBJECT, "y") and not revocations.remove(
        RevocationKind.SUBJECT, "y"
    )
    assert revocations.find(None, "y") is None


# -- the platform's own issuer ----------------------------------------------------------------------


def test_the_signing_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jwt-signing-key.pem"
    first = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert public_jwk(again.public_key()) == public_jwk(first.public_key())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_processes_racing_to_make_the_key_agree_on_one(tmp_path: Path) -> None:
    path = tmp_path / "jwt-signing-key.pem"
    kids: list[str] = []
    barrier = threading.Barrier(8)

    def make() -> None:
        barrier.wait()
        kids.append(public_jwk(load_or_create_signing_key(path).public_key())["kid"])

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kids) == 8 and len(set(kids)) == 1


def test_a_key_file_others_can_read_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jwt-signing-key.pem"
    load_or_create_signing_key(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_or_create_signing_key(path)
    assert "can be read by others" in caplog.text


def test_the_platform_issues_tokens_it_verifies_and_no_one_else_does(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path / "key.pem")
    issuer = LocalIssuer(key)
    now = datetime.now(UTC)
    issued = issuer.issue("alice", Role.TRADER, timedelta(hours=1), now)
    verifier = JwtVerifier([local_trusted_issuer(key)])
    verified = verifier.verify(issued.token)
    assert (verified.subject, verified.role, verified.token_id) == ("alice", Role.TRADER, issued.token_id)
    assert re.fullmatch("[0-9a-f]{32}", issued.token_id)  # 128 bits, and never mistaken for a CLI option
    assert verified.expires_at == issued.expires_at == now.replace(microsecond=0) + timedelta(hours=1)
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "ES256" and header["kid"] == public_jwk(key.public_key())["kid"]

    # another installation's key, and an outside issuer naming itself the platform, are refused
    other = LocalIssuer(load_or_create_signing_key(tmp_path / "other.pem"))
    assert "unknown kid" in refused(verifier, other.issue("alice", Role.ADMIN, timedelta(hours=1), now).token)
    forged = EC.sign(claims(issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, roles=["admin"]))
    assert refused(verifier, forged) == "unknown kid 'ec-1'"
    expired = issuer.issue("alice", Role.TRADER, timedelta(minutes=1), now - timedelta(hours=1))
    assert refused(verifier, expired.token) == "expired"


# -- settings -----------------------------------------------------------------------------------------


def test_an_outside_issuer_needs_an_audience_and_a_safe_jwks_url(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="jwt_audience is required"):
        load_settings(data_dir=tmp_path, jwt_issuer=ISSUER)
    with pytest.raises(SettingsError, match="must be https"):
        load_settings(data_dir=tmp_path, jwt_issuer=ISSUER, jwt_audience="a", jwt_jwks_url="http://x.test/k")
    with pytest.raises(SettingsError, match="JWT_ALGORITHMS"):
        load_settings(data_dir=tmp_path, jwt_algorithms="RS256,HS256")
    settings = load_settings(
        data_dir=tmp_path, jwt_issuer=ISSUER, jwt_audience="a, b", jwt_algorithms="ES256"
    )
    assert settings.jwt_audience == ["a", "b"] and settings.jwt_algorithms == ["ES256"]
    assert settings.jwks_url == f"{ISSUER}/.well-known/jwks.json"
