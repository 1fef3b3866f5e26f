"""Posting to the API Gateway WebSocket API's connections (the management API), for the stream's
fan-out.

A gone connection (410 GoneException: the client left without a $disconnect reaching us) is told
apart from every other failure; GoneException is a ClientError, so it is checked first.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from trading_system.config import Settings
from trading_system.kernel.connections import Posted


class ManagementApiPoster:
    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings, *, threads: int = 16) -> ManagementApiPoster:
        """`threads`: the posts the fan-out runs at once (one HTTP connection each)."""
        from botocore.config import Config

        from trading_system.adapters.aws.clients import client

        if not settings.websocket_endpoint:
            raise ValueError("websocket_endpoint is not set: the stack sets it on the stream's fan-out")
        # The management API lives at the WebSocket API's own endpoint, not the region's; one retry
        # only, so that a failing post costs the other connections little time. The shared session
        # (clients.py): a second one would load botocore's models again (~40 ms of a cold start).
        config = Config(retries={"total_max_attempts": 2, "mode": "standard"}, max_pool_connections=threads)
        return cls(
            client(
                "apigatewaymanagementapi", settings, endpoint_url=settings.websocket_endpoint, config=config
            )
        )

    def post(self, connection_id: str, data: bytes) -> Posted:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self.client.exceptions.GoneException:
            return "gone"
        except ClientError:
            return "failed"
        return "sent"
