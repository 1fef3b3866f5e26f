"""One HMAC scheme for webhooks both ways: the platform checks it on webhooks in
(strategies/webhooks.py) and signs alerts out with it (alerts/domain.py), so a receiver written
for one works for the other.

The signature is `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with the shared key, the
timestamp Unix seconds: a receiver that also checks the timestamp is near its own clock cannot be
fed a captured request later."""

from __future__ import annotations

import hashlib
import hmac


def sign(signing_key: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(signing_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signature_holds(signing_key: str, timestamp: str, body: bytes, signature: str) -> bool:
    """In constant time, whatever the signature's length."""
    return hmac.compare_digest(sign(signing_key, timestamp, body), signature.strip())
