"""botocore clients for the AWS adapters, built one way everywhere.

Every adapter gets its client here so that timeouts and retries are bounded the same way: a Lambda
that waits on a slow AWS call for botocore's default 60 s read timeout (with legacy retries on top)
outlives its own timeout and fails with a less useful error than the one botocore would have given.
The endpoint URL is set only in tests, to point the clients at moto's server on loopback.

Low-level clients straight from botocore: boto3 adds resources and S3 transfer helpers that no
adapter uses, and importing it cost every AWS function about 30 ms of its cold start.
"""

from __future__ import annotations

import gzip
import threading
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import orjson
from botocore.config import Config

from trading_system.config import Settings

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
MAX_ATTEMPTS = 3  # initial call + 2 retries, with the "standard" mode's jittered backoff

_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    # total_max_attempts counts the first call; botocore's `max_attempts` counts only the retries.
    retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    tcp_keepalive=True,
)

# Sessions are not thread-safe (clients are), and each new session reloads the service models
# from disk, which is slow on a cold start; so one session, used under a lock.
_session: botocore.session.Session | None = None
_session_lock = threading.Lock()
# The service models the sessions have read (botocore's loader caches them): kept when the session
# is forgotten, since reading them again is most of a new session's cost (~100 ms for two clients).
_loader: Any = None
# The services the adapters use: the only ones a client can be built for.
SERVICES = frozenset(
    {"apigatewaymanagementapi", "cloudformation", "dynamodb", "events", "s3", "scheduler", "sns"}
)


class _JsonFiles:
    """What botocore's JSON file loader does (`<path>.json`, else `<path>.json.gz`), parsed by
    orjson into plain dicts rather than by json with an OrderedDict hook (plain dicts keep their
    order as well): endpoints.json alone, 1.25 MB that every first client reads, parses in 11-16 ms
    instead of 20-24 ms in a fresh interpreter; the first DynamoDB client, 54-66 ms instead of
    65-88 ms on a busy machine."""

    _OPENERS = ((".json", open), (".json.gz", gzip.open))

    def exists(self, file_path: str) -> bool:
        return any(Path(file_path + extension).is_file() for extension, _ in self._OPENERS)

    def load_file(self, file_path: str) -> Any:
        for extension, opener in self._OPENERS:
            if Path(file_path + extension).is_file():
                with opener(file_path + extension, "rb") as data:
                    return orjson.loads(data.read())
        return None


class _PlatformLoader(botocore.loaders.Loader):  # type: ignore[misc]  # botocore is untyped
    """botocore's loader, knowing the platform's services instead of finding every service's by
    listing its ~400 folders (once for the service models, once for the endpoint rules): 25-50 ms
    of each AWS function's first client, so of its cold start. An unknown service is still
    refused, by name, as botocore refuses it."""

    FILE_LOADER_CLASS = _JsonFiles

    def list_available_services(self, type_name: str) -> list[str]:
        return sorted(SERVICES)


def client(
    service: str, settings: Settings, *, endpoint_url: str | None = None, config: Config | None = None
) -> Any:
    """A low-level client for `service` in the configured region (and endpoint, in tests).

    `endpoint_url`: a service that lives at an endpoint of its own (a WebSocket API's management
    API); `config`: what differs from the shared timeouts and retries, merged over them."""
    global _session
    with _session_lock:
        if _session is None:
            _session = _new_session()
        return _session.create_client(
            service,
            region_name=settings.aws_region,
            endpoint_url=endpoint_url or settings.aws_endpoint_url,
            config=_CONFIG if config is None else _CONFIG.merge(config),
        )


def forget_session() -> None:
    """Build the next clients in a new session: new credentials (resolved again from the
    environment, or Lambda's credentials endpoint under SnapStart) and new connections, with the
    service models already read. After a SnapStart restore (entrypoints/snapstart.py), what the
    snapshot holds may be hours or days old."""
    global _session
    with _session_lock:
        _session = None


def _new_session() -> botocore.session.Session:
    global _loader
    session = botocore.session.get_session()
    if _loader is None:
        _loader = _PlatformLoader()
    session.register_component("data_loader", _loader)
    return session
