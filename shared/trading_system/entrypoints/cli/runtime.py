"""The local runtime's commands: serve, demo data and dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trading_system.entrypoints.cli.common import build_container, echo_json, fail, run
from trading_system.kernel.principal import Role

commands = typer.Typer()
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
dead_app = typer.Typer(help="Events a subscriber, and scheduled runs, kept failing on.", no_args_is_help=True)

DEMO_KEY_FILE = "demo-api-key"


@commands.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: settings host")] = None,
    port: Annotated[int | None, typer.Option(help="default: settings port")] = None,
) -> None:
    """Serve the API, the WebSocket stream and the dashboard."""
    from trading_system.entrypoints import garbage

    garbage.starting()  # until the app is built (garbage.py says why)
    import uvicorn

    from trading_system.bootstrap import warm_up
    from trading_system.entrypoints.local.listening import why_cannot_listen
    from trading_system.entrypoints.local.logs import log_config
    from trading_system.entrypoints.local.runner import STREAM_PATH, build_local_app
    from trading_system.entrypoints.local.ws_protocol import StreamWebSocketProtocol

    container = build_container()
    settings = container.settings
    host, port = host or settings.host, port or settings.port
    if problem := why_cannot_listen(host, port):
        fail(problem)  # before the banner: a banner would announce a server that never starts
    url = f"http://{host}:{port}"
    typer.echo(f"Trading platform (local runtime) on {url}")
    typer.echo(f"  API docs:   {url}/docs   (OpenAPI: {url}/openapi.json)")
    typer.echo(f"  Dashboard:  {url}/")
    typer.echo(f"  Stream:     ws://{host}:{port}{STREAM_PATH}?api_key=<key>")
    key_file = Path(settings.data_dir) / DEMO_KEY_FILE
    if key_file.exists():
        typer.echo(f"  Demo API key (admin): {key_file.read_text().strip()}")
    typer.echo(f"  Data:       {Path(settings.data_dir).resolve()}   (Ctrl-C stops; data is kept)")
    app = build_local_app(container)
    warm_up(container)  # before the freeze: what it loads lives as long as the server
    garbage.started()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=log_config(settings.log_level, settings.log_format),
        # Stream frames uncompressed: deflate runs once per frame per client (a thousand zlib
        # streams for one bar), which was half the fan-out's time (docs/BENCHMARKS.md), and on
        # loopback or a LAN saves nothing worth it.
        ws_per_message_deflate=False,
        # Named rather than left to uvicorn's "auto", which falls back to the pure-Python h11
        # parser without a word when httptools is missing (measured 861 vs 1,134 reads a second).
        http="httptools",
        # uvicorn's own WebSocket protocol, which also lets the stream hub write an event's
        # encoded frame straight to each connection (local/ws_protocol.py).
        ws=StreamWebSocketProtocol,
    )


@demo_app.command("seed")
def demo_seed(
    symbols: Annotated[int, typer.Option(min=1, max=5000)] = 50,
    days: Annotated[int, typer.Option(min=1, max=5000, help="weekdays of daily bars")] = 504,
    intraday_symbols: Annotated[int, typer.Option(min=0)] = 5,
    intraday_days: Annotated[int, typer.Option(min=0, max=30, help="days of 1m bars")] = 5,
    seed: int = 7,
    if_empty: Annotated[bool, typer.Option(help="do nothing if symbols exist")] = False,
) -> None:
    """Seed a deterministic synthetic universe, and an admin key for the demo."""
    from trading_system.entrypoints import demo
    from trading_system.identity.commands import CreateApiKey
    from trading_system.market_data.queries import ListSymbols

    container = build_container()
    key_file = Path(container.settings.data_dir) / DEMO_KEY_FILE
    if if_empty and container.bus.ask(ListSymbols(limit=1)):
        typer.echo("demo data already present; nothing seeded")
        run(lambda: demo.ensure_demo_account(container, demo.symbols(symbols)[:3]))
    else:
        counts = run(lambda: demo.seed(container, symbols, days, intraday_symbols, intraday_days, seed))
        typer.echo(f"seeded {counts['symbols']} symbols, {counts['bars']} bars")
    if not key_file.exists():
        issued = container.bus.execute(CreateApiKey(role=Role.ADMIN, label="demo"))
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(issued.api_key + "\n")
        key_file.chmod(0o600)
    typer.echo(f"demo API key (admin): {key_file.read_text().strip()}")


@dead_app.command("list")
def dead_letters_list() -> None:
    echo_json(build_container().dead_letters.list(1000))


@dead_app.command("replay")
def dead_letters_replay() -> None:
    """Deliver each dead letter to its subscriber again (a scheduled run's: run it again, once,
    recorded as a new firing); the ones that succeed are removed."""
    from uuid import uuid4

    from trading_system.catalog import by_name
    from trading_system.entrypoints.scheduled import attempt

    container = build_container()
    for letter in container.dead_letters.list(1000):
        try:
            if letter.scheduled is not None:
                function = by_name()[letter.scheduled.function]
                attempt(function, container, letter.scheduled, invocation=f"replay-{uuid4()}", attempt=1)
            else:
                assert letter.envelope is not None, letter.letter_id
                container.bus.deliver(letter.subscriber, letter.envelope)
        except Exception as error:
            typer.secho(f"{letter.letter_id}: still failing: {error!r}", fg=typer.colors.YELLOW, err=True)
            continue
        container.dead_letters.remove(letter.letter_id)
        typer.echo(f"{letter.letter_id}: delivered")
