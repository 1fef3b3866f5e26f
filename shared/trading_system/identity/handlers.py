"""Creating, revoking and checking API keys. The authorizer Lambda and the local middleware both
call `authenticate` and `authorize`, so the two runtimes enforce the same rules."""

from __future__ import annotations

from pydantic import BaseModel

from trading_system.identity import domain
from trading_system.identity.commands import CreateApiKey, RevokeApiKey
from trading_system.identity.domain import ApiKey
from trading_system.identity.ports import ApiKeyRepository
from trading_system.identity.queries import Authenticate, ListApiKeys
from trading_system.kernel.bus import Handled, HandlerTable, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import Forbidden, NotFound, Unauthorized
from trading_system.kernel.principal import Principal, Role


class IssuedKey(BaseModel):
    key_id: str
    role: Role
    label: str
    api_key: str


class KeyView(BaseModel):
    key_id: str
    role: Role
    label: str
    created_at: str
    created_by: str
    revoked_at: str | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls(
            key_id=key.key_id,
            role=key.role,
            label=key.label,
            created_at=key.created_at.isoformat(),
            created_by=key.created_by,
            revoked_at=key.revoked_at.isoformat() if key.revoked_at else None,
        )


def create_api_key(
    cmd: CreateApiKey, api_keys: ApiKeyRepository, clock: Clock, context: MessageContext
) -> Handled[IssuedKey]:
    key, token = domain.issue(cmd.role, cmd.label, context.principal.key_id, clock.now())
    api_keys.add(key)
    return Handled(IssuedKey(key_id=key.key_id, role=key.role, label=key.label, api_key=token))


def revoke_api_key(cmd: RevokeApiKey, api_keys: ApiKeyRepository, clock: Clock) -> Handled[KeyView]:
    key = api_keys.get(cmd.key_id)
    if key is None:
        raise NotFound(f"API key {cmd.key_id} does not exist", field="key_id")
    if key.active:
        key = key.model_copy(update={"revoked_at": clock.now()})
        api_keys.save(key)
    return Handled(KeyView.of(key))


def list_api_keys(query: ListApiKeys, api_keys: ApiKeyRepository) -> list[KeyView]:
    return [KeyView.of(k) for k in api_keys.list()]


def authenticate(query: Authenticate, api_keys: ApiKeyRepository) -> Principal:
    parts = domain.split_token(query.token)
    if parts is None:
        raise Unauthorized("the API key is malformed: expected tsk_<id>_<secret>")
    key = api_keys.get(parts[0])
    if key is None or not key.verifies(parts[1]):
        raise Unauthorized("the API key is not valid")
    if not key.active:
        raise Unauthorized("the API key has been revoked")
    return key.principal()


def authorize(principal: Principal, required: Role | None, route: str) -> None:
    if required is not None and not principal.role.allows(required):
        raise Forbidden(
            f"{route} needs the {required.value} role; key {principal.key_id} has {principal.role.value}"
        )


HANDLERS = HandlerTable(
    commands={CreateApiKey: create_api_key, RevokeApiKey: revoke_api_key},
    queries={ListApiKeys: list_api_keys, Authenticate: authenticate},
)
