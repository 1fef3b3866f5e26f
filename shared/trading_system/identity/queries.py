"""What a user (or the authorizer) can ask Identity."""

from __future__ import annotations

from trading_system.kernel.messages import Query


class ListApiKeys(Query):
    pass


class Authenticate(Query):
    token: str


class ListRevocations(Query):
    pass
