"""What the JWT tests share: an outside issuer played by the test (its own RSA and EC keys, made
here), tokens it signs (well or badly), and its JWKS served on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.test/pool"
AUDIENCE = "app-client-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    algorithm: str  # RS256 or ES256
    private: Any = field(repr=False)

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        encoder = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        public: dict[str, Any] = encoder.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


def claims(
    subject: str = "alice",
    groups: list[str] | None = None,
    ttl_s: int = 600,
    issuer: str = ISSUER,
    audience: str | None = AUDIENCE,
    **extra: Any,
) -> dict[str, Any]:
    """An ID token's claims as Cognito writes them (groups in `cognito:groups`)."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "cognito:groups": ["trader"] if groups is None else groups,
        "iat": now,
        "exp": now + ttl_s,
        "jti": f"jti-{subject}-{now}",
        "token_use": "id",
    }
    if audience is not None:
        body["aud"] = audience
    return {**body, **extra}


def unsigned(header: dict[str, Any], body: dict[str, Any]) -> str:
    """A token with `alg: none` and an empty signature, which must never be accepted."""
    parts = [b64(json.dumps(header).encode()), b64(json.dumps(body).encode())]
    return ".".join([*parts, ""])


def hmac_signed(secret: bytes, body: dict[str, Any], kid: str) -> str:
    """HS256 with `secret` as the HMAC key: the algorithm-confusion attack when the secret is the
    issuer's public key (which anyone can read from the JWKS). PyJWT refuses to make one, so the
    test writes it by hand."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose keys the test changes (a rotation), counting fetches."""

    def __init__(self, keys: list[SigningKey]):
        self.keys = keys
        self.fetches = 0
        self.up = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not server.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                server.fetches += 1
                body = json.dumps({"keys": [k.jwk() for k in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the test's output stays quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"


@contextmanager
def jwks_server(keys: list[SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer(keys)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)
