"""Bearer tokens as the settings ask for them, built on first use.

The verifier is a dependency of every authentication (the bus hands each handler all the
dependencies it names), so it must cost nothing until a bearer JWT actually arrives: PyJWT and
cryptography are imported, and the signing key read, only then. An API key never pays for them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from trading_system.config import Settings
from trading_system.identity.domain import TokenRefused, VerifiedToken
from trading_system.kernel.errors import DomainError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    from trading_system.adapters.jwt_tokens import JwtVerifier, LocalIssuer


def signing_key_path(settings: Settings) -> Path:
    from trading_system.adapters.jwt_tokens import SIGNING_KEY_FILE

    return settings.data_dir / SIGNING_KEY_FILE


def local_signing_key(settings: Settings, create: bool) -> EllipticCurvePrivateKey | None:
    """The platform's key: from the jwt_signing_key setting, else (local runtime only) the file in
    the data folder, made on first use when `create`. In AWS without the setting there is none:
    a key made in one Lambda sandbox would be unknown to every other."""
    from trading_system.adapters import jwt_tokens

    if settings.jwt_signing_key is not None:
        return jwt_tokens.private_key_from_pem(settings.jwt_signing_key.get_secret_value().encode())
    if settings.runtime != "local":
        return None
    path = signing_key_path(settings)
    if not create and not path.exists():
        return None
    return jwt_tokens.load_or_create_signing_key(path)


def build_issuer(settings: Settings) -> LocalIssuer:
    from trading_system.adapters.jwt_tokens import LocalIssuer

    key = local_signing_key(settings, create=True)
    if key is None:
        raise DomainError(
            "the platform has no key to sign its own tokens here: set TRADING_JWT_SIGNING_KEY",
            status=503,
            title="Service unavailable",
            type_slug="unavailable",
        )
    return LocalIssuer(key)


def build_verifier(settings: Settings) -> JwtVerifier:
    from trading_system.adapters import jwt_tokens

    issuers = []
    # Locally the key is made now if it is not there yet, so that a server started before the
    # first `trading tokens issue` trusts the key that command will find.
    key = local_signing_key(settings, create=True)
    if key is not None:
        issuers.append(jwt_tokens.local_trusted_issuer(key))
    if settings.jwt_issuer is not None and settings.jwks_url is not None:
        issuers.append(
            jwt_tokens.TrustedIssuer(
                issuer=settings.jwt_issuer,
                audiences=list(settings.jwt_audience),
                algorithms=list(settings.jwt_algorithms),
                keys=jwt_tokens.JwksKeys(settings.jwks_url, settings.jwt_jwks_ttl_s),
                roles_claim=settings.jwt_roles_claim,
            )
        )
    return jwt_tokens.JwtVerifier(issuers, leeway_s=settings.jwt_leeway_s)


class DeferredVerifier:
    """A TokenVerifier that builds the real one from the settings on its first token."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._verifier: JwtVerifier | None = None
        self._lock = threading.Lock()

    def verify(self, token: str) -> VerifiedToken:
        verifier = self._verifier
        if verifier is None:
            with self._lock:
                if self._verifier is None:
                    self._verifier = build_verifier(self.settings)
                verifier = self._verifier
        if not verifier.issuers:
            raise TokenRefused("no issuer is trusted here (no signing key, no jwt_issuer)")
        return verifier.verify(token)
