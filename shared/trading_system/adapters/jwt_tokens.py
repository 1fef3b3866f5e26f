"""Bearer JWTs through PyJWT: the platform's own issuer, and a verifier that trusts it and, when
configured, one outside OIDC issuer (a Cognito user pool) whose keys come from its JWKS URL.

Every check that fails raises TokenRefused with a reason for the logs (identity/handlers.py turns
it into a terse 401). The checks, in order: the token parses; its (unverified) `iss` names a
trusted issuer; its `alg` is on that issuer's allow-list (which never holds `none` or an HMAC
algorithm, so a token "signed" with the public key as an HMAC secret is refused before any key is
touched); its `kid` names a key of that issuer; then PyJWT verifies the signature with that key,
pinned to the key's own algorithm, and `exp`, `nbf`, `iss` and `aud` with a small leeway.

This module imports PyJWT and cryptography (tens of milliseconds): only bearer_tokens.py imports
it, on the first bearer token, so the functions that never see one do not pay for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from trading_system.identity.domain import TokenRefused, VerifiedToken, role_from_claim
from trading_system.identity.ports import IssuedToken
from trading_system.kernel.principal import Role

log = logging.getLogger(__name__)

# The platform's own tokens: who signs them, for whom, with what, and where their roles are.
LOCAL_ISSUER = "urn:trading-system:local"
LOCAL_AUDIENCE = "urn:trading-system:api"
LOCAL_ALGORITHM = "ES256"
LOCAL_ROLES_CLAIM = "roles"
SIGNING_KEY_FILE = "jwt-signing-key.pem"
# How soon an unknown `kid` may make the JWKS be fetched again: a key rotation is picked up at
# once, but a flood of tokens with made-up kids cannot turn into a flood of fetches.
JWKS_REFETCH_COOLDOWN_S = 30.0
JWKS_TIMEOUT_S = 5.0


# -- the platform's signing key ---------------------------------------------------------------


def load_or_create_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key in `path`, made on first use: a P-256 key in a PEM file only its owner may read.
    Two processes starting at once agree on one key: each writes its own to a temporary file and
    links it into place, which fails for all but the first (the others then read the winner's)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, path)
                log.info("generated the signing key of the platform's own tokens in %s", path)
            except FileExistsError:
                pass  # another process won the race: use its key
        finally:
            temporary.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s can be read by others (mode %o): anyone who reads it can mint tokens", path, mode)
    return private_key_from_pem(path.read_bytes())


def private_key_from_pem(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"the signing key must be an EC P-256 key (for {LOCAL_ALGORITHM})")
    return key


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public key as a JWK, its `kid` the RFC 7638 thumbprint (so it names this key only)."""
    jwk: dict[str, str] = ECAlgorithm.to_jwk(key, as_dict=True)
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**required, "kid": kid, "use": "sig", "alg": LOCAL_ALGORITHM}


class LocalIssuer:
    """Signs the platform's own tokens (`trading tokens issue`)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey):
        self.key = key
        self.jwk = public_jwk(key.public_key())

    def issue(self, subject: str, role: Role, ttl: timedelta, now: datetime) -> IssuedToken:
        # Hex, not urlsafe base64: an id starting with "-" reads as an option to `trading tokens revoke`.
        token_id = secrets.token_hex(16)
        expires_at = now + ttl
        claims = {
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": subject,
            LOCAL_ROLES_CLAIM: [role.value],
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": token_id,
        }
        token = jwt.encode(claims, self.key, algorithm=LOCAL_ALGORITHM, headers={"kid": self.jwk["kid"]})
        return IssuedToken(
            token=token,
            token_id=token_id,
            subject=subject,
            role=role,
            issuer=LOCAL_ISSUER,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),  # type: ignore[arg-type]
        )


# -- verification -----------------------------------------------------------------------------


class KeySource:
    """Where an issuer's public keys come from."""

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        raise NotImplementedError


class StaticKeys(KeySource):
    """Keys known in advance: the platform's own."""

    def __init__(self, jwks: Sequence[dict[str, Any]]):
        self.keys = {jwk["kid"]: jwt.PyJWK(jwk) for jwk in jwks}

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        if kid is None or kid not in self.keys:
            raise TokenRefused(f"unknown kid {kid!r}")
        return self.keys[kid]


class JwksKeys(KeySource):
    """Keys published at a JWKS URL, fetched once per TTL and again (at most once per cooldown)
    when a token names a kid not seen yet: how a rotated-in key is picked up."""

    def __init__(self, url: str, ttl_s: float, cooldown_s: float = JWKS_REFETCH_COOLDOWN_S):
        self.url = url
        self.client = jwt.PyJWKClient(
            url, cache_jwk_set=True, lifespan=ttl_s, timeout=JWKS_TIMEOUT_S, cooldown_duration=cooldown_s
        )

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        if not kid:
            raise TokenRefused("the token names no kid")
        try:
            return self.client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as error:
            raise TokenRefused(f"the JWKS at {self.url} could not be fetched: {error}") from error
        except (jwt.PyJWKClientError, jwt.PyJWKSetError) as error:
            raise TokenRefused(f"unknown kid {kid!r} ({error})") from error


@dataclass
class TrustedIssuer:
    issuer: str
    audiences: Sequence[str]
    algorithms: Sequence[str]
    keys: KeySource
    roles_claim: str
    # Cognito's access tokens carry no `aud`: their `client_id` names the app client instead.
    client_id_as_audience: bool = True


class JwtVerifier:
    def __init__(self, issuers: Sequence[TrustedIssuer], leeway_s: float = 30):
        self.issuers = {trusted.issuer: trusted for trusted in issuers}
        self.leeway = leeway_s

    def verify(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as error:
            raise TokenRefused(f"malformed token: {error}") from error
        issuer = unverified.get("iss")
        trusted = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            raise TokenRefused(f"untrusted issuer {issuer!r}")
        algorithm = header.get("alg")
        if algorithm not in trusted.algorithms:
            raise TokenRefused(f"algorithm {algorithm!r} is not allowed for {trusted.issuer}")
        key = trusted.keys.key_for(header.get("kid"))
        claims = self._decode(token, key, trusted, has_audience="aud" in unverified)
        return VerifiedToken(
            subject=claims["sub"],
            role=self._role(claims, trusted),
            issuer=trusted.issuer,
            token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )

    def _decode(
        self, token: str, key: jwt.PyJWK, trusted: TrustedIssuer, has_audience: bool
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(trusted.algorithms),
                audience=list(trusted.audiences) if has_audience else None,
                issuer=trusted.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": has_audience},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRefused("expired") from error
        except jwt.ImmatureSignatureError as error:
            raise TokenRefused("not valid yet (nbf or iat in the future)") from error
        except jwt.InvalidAudienceError as error:
            raise TokenRefused(f"wrong audience: {error}") from error
        except jwt.InvalidIssuerError as error:
            raise TokenRefused(f"wrong issuer: {error}") from error
        except jwt.InvalidSignatureError as error:
            raise TokenRefused("bad signature") from error
        except jwt.MissingRequiredClaimError as error:
            raise TokenRefused(f"missing claim: {error}") from error
        except jwt.InvalidAlgorithmError as error:
            raise TokenRefused(f"algorithm refused: {error}") from error
        except jwt.InvalidTokenError as error:
            raise TokenRefused(f"invalid token: {error}") from error
        if not has_audience:
            client_id = claims.get("client_id")
            if not (trusted.client_id_as_audience and claims.get("token_use") == "access"):
                raise TokenRefused("the token has no audience")
            if client_id not in trusted.audiences:
                raise TokenRefused(f"wrong audience: client_id {client_id!r}")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise TokenRefused("the subject is empty")
        return claims

    @staticmethod
    def _role(claims: dict[str, Any], trusted: TrustedIssuer) -> Role:
        value = claims.get(trusted.roles_claim)
        if value is None and "." in trusted.roles_claim:
            # A nested claim (Keycloak's realm_access.roles), when no claim has the dotted name
            # itself (namespaced claims such as https://example.com/roles are names, not paths).
            value = claims
            for part in trusted.roles_claim.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        role = role_from_claim(value)
        if role is None:
            raise TokenRefused(f"no role (viewer, trader or admin) in the {trusted.roles_claim!r} claim")
        return role


def local_trusted_issuer(key: ec.EllipticCurvePrivateKey) -> TrustedIssuer:
    return TrustedIssuer(
        issuer=LOCAL_ISSUER,
        audiences=[LOCAL_AUDIENCE],
        algorithms=[LOCAL_ALGORITHM],
        keys=StaticKeys([public_jwk(key.public_key())]),
        roles_claim=LOCAL_ROLES_CLAIM,
        client_id_as_audience=False,
    )
