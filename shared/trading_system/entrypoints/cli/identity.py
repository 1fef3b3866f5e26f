"""Identity's commands: API keys and bearer tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from trading_system.entrypoints.cli.common import ask, echo_json, execute, make
from trading_system.kernel.principal import Role

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="viewer, trader or admin")],
    label: str = "",
    owner: Annotated[
        str | None,
        typer.Option(help="the user the key acts for, whose accounts, scanners ... it sees (default: admin)"),
    ] = None,
) -> None:
    """Create an API key; its secret is printed once."""
    from trading_system.identity.commands import CreateApiKey

    echo_json(execute(make(CreateApiKey, role=role, label=label, owner=owner)))


@keys_app.command("list")
def keys_list() -> None:
    from trading_system.identity.queries import ListApiKeys

    echo_json(ask(ListApiKeys()))


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    from trading_system.identity.commands import RevokeApiKey

    echo_json(execute(RevokeApiKey(key_id=key_id)))


tokens_app = typer.Typer(
    help="Bearer tokens (JWT): the platform's own, and revocations.", no_args_is_help=True
)


def parse_ttl(value: str | int) -> int:
    """Seconds in a duration such as 3600, 90s, 15m, 1h, 7d (typer passes the default as is)."""
    if isinstance(value, int):
        return value
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    text = value.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    if not number.isdigit():
        raise typer.BadParameter(f"{text!r} is not a duration: write e.g. 3600, 90s, 15m, 1h or 7d")
    return int(number) * units[unit]


@tokens_app.command("issue")
def tokens_issue(
    role: Annotated[Role, typer.Option(help="viewer, trader or admin")],
    subject: Annotated[str, typer.Option(help="who the token stands for (its `sub`), e.g. a user name")],
    ttl: Annotated[int, typer.Option(parser=parse_ttl, help="lifetime: 3600, 90s, 15m, 1h, 7d")] = 3600,
    as_json: Annotated[bool, typer.Option("--json", help="print the token with its id and expiry")] = False,
) -> None:
    """Print a bearer token signed by the platform's key (made in the data folder on first use).
    Send it as `Authorization: Bearer <token>`."""
    from trading_system.identity.commands import IssueToken
    from trading_system.identity.ports import IssuedToken

    command = make(IssueToken, role=role, subject=subject, ttl_s=ttl)
    issued: IssuedToken = execute(command)
    if as_json:
        echo_json(issued)
    else:
        typer.echo(issued.token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="the token's id (its `jti` claim)")]) -> None:
    """Stop one token from working (tokens of any issuer, by id: `-- ID` for an id starting with `-`)."""
    from trading_system.identity.commands import RevokeToken

    echo_json(execute(make(RevokeToken, token_id=token_id)))


@tokens_app.command("disable")
def tokens_disable(subject: str) -> None:
    """Stop every token of a subject from working, until `enable`."""
    from trading_system.identity.commands import DisableSubject

    echo_json(execute(make(DisableSubject, subject=subject)))


@tokens_app.command("enable")
def tokens_enable(subject: str) -> None:
    """Let a disabled subject's tokens work again."""
    from trading_system.identity.commands import EnableSubject

    echo_json(execute(make(EnableSubject, subject=subject)))


@tokens_app.command("revoked")
def tokens_revoked() -> None:
    """List revoked token ids and disabled subjects."""
    from trading_system.identity.queries import ListRevocations

    echo_json(ask(ListRevocations()))
