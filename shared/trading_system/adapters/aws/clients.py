"""boto3 clients for the AWS adapters, built one way everywhere.

Every adapter gets its client here so that timeouts and retries are bounded the same way: a Lambda
that waits on a slow AWS call for botocore's default 60 s read timeout (with legacy retries on top)
outlives its own timeout and fails with a less useful error than the one botocore would have given.
The endpoint URL is set only in tests, to point the clients at moto's server on loopback.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from trading_system.config import Settings

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
MAX_ATTEMPTS = 3  # initial call + 2 retries, with the "standard" mode's jittered backoff

_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    tcp_keepalive=True,
)

# boto3 sessions are not thread-safe (clients are), and each new session reloads the service
# models from disk, which is slow on a cold start; so one session, used under a lock.
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def client(service: str, settings: Settings) -> Any:
    """A low-level client for `service` in the configured region (and endpoint, in tests)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            service,
            region_name=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            config=_CONFIG,
        )
