"""The local runtime: every catalog route, the stream, the dashboard, the schedules and the
raw-folder watcher in one process, on embedded adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from functions.catalog import http_functions
from trading_system.bootstrap import Container
from trading_system.entrypoints.http.app import create_app
from trading_system.entrypoints.local.hub import StreamHub
from trading_system.entrypoints.local.workers import RawFolderWatcher, Scheduler

STREAM_PATH = "/v1/stream"


def dashboard_folder() -> Path:
    """The static dashboard (web/ at the repository root)."""
    return Path(__file__).resolve().parents[4] / "web"


def build_local_app(container: Container, background: bool = True) -> FastAPI:
    app = create_app(container, http_functions(), "check_key")
    hub = StreamHub()
    container.bus.observers.append(hub.publish)
    app.add_api_websocket_route(STREAM_PATH, hub.endpoint)
    app.state.hub = hub

    web = dashboard_folder()
    if web.is_dir():
        app.mount("/", StaticFiles(directory=web, html=True), name="dashboard")

    if background:
        workers = [Scheduler(container), RawFolderWatcher(container)]

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            for worker in workers:
                worker.start()
            yield
            for worker in workers:
                worker.stopping.set()

        app.router.lifespan_context = lifespan
    return app
