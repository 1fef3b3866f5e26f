"""Scanning routes: scanners, their runs, and signals.

Each route is built by a factory, called only for the function that serves it (see routes.py):
a Lambda pays FastAPI's analysis of its own route at cold start, not of its context's others.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import moment
from trading_system.scanning.commands import (
    CreateScanner,
    DeleteScanner,
    GetScanner,
    ListScanners,
    ListScanRuns,
    ListSignals,
    RunScanner,
    UpdateScanner,
)
from trading_system.scanning.domain import Scanner, ScannerDefinition, ScanRun


def create_scanner() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.post("/v1/scanners", status_code=201, summary="Create a scanner")
    def _create(body: ScannerDefinition, response: Response, bus: Bus, context: Context) -> Scanner:
        scanner: Scanner = bus.execute(CreateScanner(definition=body), context)
        response.headers["Location"] = f"/v1/scanners/{scanner.scanner_id}"
        return scanner

    return router


def list_scanners() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.get("/v1/scanners", summary="List scanners")
    def _list(bus: Bus, context: Context) -> list[Scanner]:
        scanners: list[Scanner] = bus.ask(ListScanners(), context)
        return scanners

    return router


def get_scanner() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.get("/v1/scanners/{scanner_id}", summary="One scanner")
    def _get(scanner_id: str, bus: Bus, context: Context) -> Scanner:
        scanner: Scanner = bus.ask(GetScanner(scanner_id=scanner_id), context)
        return scanner

    return router


def update_scanner() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.put("/v1/scanners/{scanner_id}", summary="Replace a scanner's definition")
    def _update(scanner_id: str, body: ScannerDefinition, bus: Bus, context: Context) -> Scanner:
        scanner: Scanner = bus.execute(UpdateScanner(scanner_id=scanner_id, definition=body), context)
        return scanner

    return router


def delete_scanner() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.delete("/v1/scanners/{scanner_id}", status_code=204, summary="Delete a scanner")
    def _delete(scanner_id: str, bus: Bus, context: Context) -> Response:
        bus.execute(DeleteScanner(scanner_id=scanner_id), context)
        return Response(status_code=204)

    return router


def run_scanner() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.post("/v1/scanners/{scanner_id}/runs", status_code=201, summary="Run a scanner now")
    def _run(scanner_id: str, response: Response, bus: Bus, context: Context) -> ScanRun:
        run: ScanRun = bus.execute(RunScanner(scanner_id=scanner_id), context)
        response.headers["Location"] = f"/v1/scanners/{scanner_id}/runs"
        return run

    return router


def list_scan_runs() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.get("/v1/scanners/{scanner_id}/runs", summary="A scanner's runs, newest first")
    def _runs(
        scanner_id: str, bus: Bus, context: Context, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = bus.ask(ListScanRuns(scanner_id=scanner_id, limit=limit), context)
        return runs

    return router


def list_signals() -> APIRouter:
    router = APIRouter(tags=["scanning"])

    @router.get("/v1/signals", summary="Signals, newest first")
    def _signals(
        bus: Bus,
        context: Context,
        scanner_id: str | None = None,
        symbol: str | None = None,
        since: datetime | date | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    ) -> list[dict[str, Any]]:
        query = ListSignals(scanner_id=scanner_id, symbol=symbol, since=moment(since), limit=limit)
        signals: list[dict[str, Any]] = bus.ask(query, context)
        return signals

    return router


ROUTERS = {
    "create_scanner": create_scanner,
    "list_scanners": list_scanners,
    "get_scanner": get_scanner,
    "update_scanner": update_scanner,
    "delete_scanner": delete_scanner,
    "run_scanner": run_scanner,
    "list_scan_runs": list_scan_runs,
    "list_signals": list_signals,
}
