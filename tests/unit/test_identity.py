from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trading_system.identity import domain
from trading_system.identity.domain import authorize
from trading_system.identity.handlers import authenticate
from trading_system.identity.queries import Authenticate
from trading_system.kernel.errors import Forbidden, Unauthorized
from trading_system.kernel.principal import Principal, Role

NOW = datetime(2026, 11, 24, tzinfo=UTC)


class Keys:
    def __init__(self) -> None:
        self.keys: dict[str, domain.ApiKey] = {}

    def get(self, key_id: str) -> domain.ApiKey | None:
        return self.keys.get(key_id)


def test_a_key_is_stored_only_as_a_hash() -> None:
    key, token = domain.issue(Role.TRADER, "bot", "alice", "admin1", NOW)
    key_id, secret = domain.split_token(token) or ("", "")
    assert key_id == key.key_id
    assert secret not in key.model_dump_json()
    assert key.verifies(secret)
    assert not key.verifies(secret + "x")


@pytest.mark.parametrize("token", ["", "tsk", "tsk__abc", "xyz_a_b", "tsk_abc_"])
def test_malformed_tokens_are_recognised(token: str) -> None:
    assert domain.split_token(token) is None


def test_authenticate_checks_secret_and_revocation() -> None:
    keys = Keys()
    key, token = domain.issue(Role.VIEWER, "", "admin", "admin", NOW)
    keys.keys[key.key_id] = key
    assert authenticate(Authenticate(token=token), keys) == Principal(key.key_id, Role.VIEWER)  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="not valid"):
        authenticate(Authenticate(token=token[:-1] + "?"), keys)  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="malformed"):
        authenticate(Authenticate(token="Bearer nope"), keys)  # type: ignore[arg-type]
    keys.keys[key.key_id] = key.model_copy(update={"revoked_at": NOW})
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(Authenticate(token=token), keys)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.TRADER, False),
        (Role.TRADER, Role.VIEWER, True),
        (Role.TRADER, Role.ADMIN, False),
        (Role.ADMIN, Role.TRADER, True),
    ],
)
def test_roles_are_ordered(role: Role, required: Role, allowed: bool) -> None:
    principal = Principal("k", role)
    if allowed:
        authorize(principal, required, "GET /x")
    else:
        with pytest.raises(Forbidden, match=f"needs the {required.value} role"):
            authorize(principal, required, "GET /x")
