"""Identity's commands: API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from trading_system.entrypoints.cli.common import ask, echo_json, execute
from trading_system.kernel.principal import Role

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="viewer, trader or admin")],
    label: str = "",
) -> None:
    """Create an API key; its secret is printed once."""
    from trading_system.identity.commands import CreateApiKey

    echo_json(execute(CreateApiKey(role=role, label=label)))


@keys_app.command("list")
def keys_list() -> None:
    from trading_system.identity.queries import ListApiKeys

    echo_json(ask(ListApiKeys()))


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    from trading_system.identity.commands import RevokeApiKey

    echo_json(execute(RevokeApiKey(key_id=key_id)))
