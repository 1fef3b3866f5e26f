"""Creating, revoking and checking API keys and bearer tokens. The authorizer Lambda and the
local middleware both call `authenticate` and `authorize` (identity/domain.py, a pure rule that
every HTTP function's guard imports without these handlers), so the two runtimes enforce the same
rules."""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import BaseModel

from trading_system.identity import domain
from trading_system.identity.commands import (
    CreateApiKey,
    DisableSubject,
    EnableSubject,
    IssueToken,
    RevokeApiKey,
    RevokeToken,
)
from trading_system.identity.domain import ApiKey, Revocation, RevocationKind, TokenRefused
from trading_system.identity.ports import (
    ApiKeyRepository,
    IssuedToken,
    TokenIssuer,
    TokenRevocations,
    TokenVerifier,
)
from trading_system.identity.queries import Authenticate, ListApiKeys, ListRevocations
from trading_system.kernel.bus import Handled, HandlerTable, MessageContext
from trading_system.kernel.clock import Clock
from trading_system.kernel.errors import NotFound, Unauthorized
from trading_system.kernel.principal import Principal, Role

log = logging.getLogger(__name__)

# All the client learns of a refused bearer token: which check failed is for the logs only.
TOKEN_NOT_VALID = "the bearer token is not valid"


class IssuedKey(BaseModel):
    key_id: str
    role: Role
    label: str
    owner: str
    api_key: str


class KeyView(BaseModel):
    key_id: str
    role: Role
    label: str
    owner: str
    created_at: str
    created_by: str
    revoked_at: str | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls(
            key_id=key.key_id,
            role=key.role,
            label=key.label,
            owner=key.owner,
            created_at=key.created_at.isoformat(),
            created_by=key.created_by,
            revoked_at=key.revoked_at.isoformat() if key.revoked_at else None,
        )


def create_api_key(
    cmd: CreateApiKey, api_keys: ApiKeyRepository, clock: Clock, context: MessageContext
) -> Handled[IssuedKey]:
    owner = cmd.owner or context.principal.user
    key, token = domain.issue(cmd.role, cmd.label, owner, context.principal.key_id, clock.now())
    api_keys.add(key)
    return Handled(IssuedKey(key_id=key.key_id, role=key.role, label=key.label, owner=owner, api_key=token))


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


def authenticate(
    query: Authenticate,
    api_keys: ApiKeyRepository,
    token_verifier: TokenVerifier | None = None,
    token_revocations: TokenRevocations | None = None,
) -> Principal:
    """The principal of an API key or of a bearer JWT (without a verifier, JWTs are refused)."""
    if domain.looks_like_jwt(query.token):
        return _bearer_principal(query.token, token_verifier, token_revocations)
    parts = domain.split_token(query.token)
    if parts is None:
        raise Unauthorized("the API key is malformed: expected tsk_<id>_<secret>")
    key = api_keys.get(parts[0])
    if key is None or not key.verifies(parts[1]):
        raise Unauthorized("the API key is not valid")
    if not key.active:
        raise Unauthorized("the API key has been revoked")
    return key.principal()


def _bearer_principal(
    token: str, verifier: TokenVerifier | None, revocations: TokenRevocations | None
) -> Principal:
    try:
        if verifier is None:
            raise TokenRefused("bearer tokens are not accepted here")
        verified = verifier.verify(token)
        revoked = revocations.find(verified.token_id, verified.subject) if revocations else None
        if revoked is not None:
            raise TokenRefused(
                f"{revoked.kind.value} {revoked.value} was revoked at {revoked.revoked_at.isoformat()}"
                f" by {revoked.revoked_by}"
            )
    except TokenRefused as refused:
        # The one place every runtime (local app, stream, Lambda authorizer) logs why.
        log.warning("bearer token refused: %s", refused.reason)
        raise Unauthorized(TOKEN_NOT_VALID) from None
    return verified.principal()


def issue_token(cmd: IssueToken, token_issuer: TokenIssuer, clock: Clock) -> Handled[IssuedToken]:
    return Handled(token_issuer.issue(cmd.subject, cmd.role, timedelta(seconds=cmd.ttl_s), clock.now()))


def revoke_token(
    cmd: RevokeToken, token_revocations: TokenRevocations, clock: Clock, context: MessageContext
) -> Handled[Revocation]:
    return Handled(_revoke(RevocationKind.TOKEN, cmd.token_id, token_revocations, clock, context))


def disable_subject(
    cmd: DisableSubject, token_revocations: TokenRevocations, clock: Clock, context: MessageContext
) -> Handled[Revocation]:
    return Handled(_revoke(RevocationKind.SUBJECT, cmd.subject, token_revocations, clock, context))


def enable_subject(cmd: EnableSubject, token_revocations: TokenRevocations) -> Handled[bool]:
    if not token_revocations.remove(RevocationKind.SUBJECT, cmd.subject):
        raise NotFound(f"subject {cmd.subject} is not disabled", field="subject")
    return Handled(True)


def _revoke(
    kind: RevocationKind,
    value: str,
    revocations: TokenRevocations,
    clock: Clock,
    context: MessageContext,
) -> Revocation:
    existing = revocations.get(kind, value)
    if existing is not None:
        return existing  # revoking twice keeps the first record (when, and by whom)
    entry = Revocation(kind=kind, value=value, revoked_at=clock.now(), revoked_by=context.principal.key_id)
    revocations.add(entry)
    return entry


def list_revocations(query: ListRevocations, token_revocations: TokenRevocations) -> list[Revocation]:
    return token_revocations.list()


HANDLERS = HandlerTable(
    commands={
        CreateApiKey: create_api_key,
        RevokeApiKey: revoke_api_key,
        IssueToken: issue_token,
        RevokeToken: revoke_token,
        DisableSubject: disable_subject,
        EnableSubject: enable_subject,
    },
    queries={
        ListApiKeys: list_api_keys,
        Authenticate: authenticate,
        ListRevocations: list_revocations,
    },
)
