"""The local runtime: every catalog route, the stream, the dashboard, the schedules and the
raw-folder watcher in one process, on embedded adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from trading_system.adapters.local.inprocess_bus import InProcessPublisher
from trading_system.bootstrap import Container
from trading_system.catalog import http_functions
from trading_system.entrypoints.http.app import create_app
from trading_system.entrypoints.local.hub import StreamHub
from trading_system.entrypoints.local.metrics import PrometheusMetrics
from trading_system.entrypoints.local.workers import RawFolderWatcher, Scheduler
from trading_system.scanning.commands import SyncScannerSchedules

STREAM_PATH = "/v1/stream"
METRICS_PATH = "/metrics"


def repository_root() -> Path:
    return Path(__file__).resolve().parents[4]


def dashboard_folder() -> Path:
    """The static dashboard (web/ at the repository root)."""
    return repository_root() / "web"


def vendor_folder() -> Path:
    """The dashboard's chart library, as npm installed it: served from node_modules rather than
    copied into the repository, so the pinned version in package.json is the one users get."""
    return repository_root() / "node_modules" / "lightweight-charts" / "dist"


def build_local_app(container: Container, background: bool = True) -> FastAPI:
    app = create_app(container, http_functions(), "check_key")
    hub = StreamHub()
    container.bus.observers.append(hub.publish)
    app.add_api_websocket_route(STREAM_PATH, hub.endpoint)
    app.state.hub = hub
    metrics = PrometheusMetrics()
    container.bus.observers.append(metrics.observe)
    if isinstance(container.publisher, InProcessPublisher):
        container.publisher.dead_letter_listeners.append(metrics.dead_lettered)
    app.add_route(METRICS_PATH, metrics.endpoint, methods=["GET"], include_in_schema=False)
    app.state.metrics = metrics

    # /vendor before /: a mount at / would otherwise swallow every /vendor request.
    vendor = vendor_folder()
    if vendor.is_dir():
        app.mount("/vendor", StaticFiles(directory=vendor), name="vendor")
    web = dashboard_folder()
    if web.is_dir():
        app.mount("/", StaticFiles(directory=web, html=True), name="dashboard")

    if background:
        workers: list[Scheduler | RawFolderWatcher] = [Scheduler(container), RawFolderWatcher(container)]

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            # Scanners from a data folder older than the timetable get their schedules back.
            container.bus.execute(SyncScannerSchedules())
            for worker in workers:
                worker.start()
            yield
            for worker in workers:
                worker.stopping.set()

        app.router.lifespan_context = lifespan
    return app
