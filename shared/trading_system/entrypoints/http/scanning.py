"""Scanning routes: scanners, their runs, and signals.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Response

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import IsoMoment, like, moment
from trading_system.entrypoints.http.routes import route
from trading_system.scanning.commands import (
    CreateScanner,
    DeleteScanner,
    RaiseSignal,
    RunScanner,
    UpdateScanner,
)
from trading_system.scanning.domain import ExternalSignal, RaisedSignal, Scanner, ScannerDefinition, ScanRun
from trading_system.scanning.queries import GetScanner, ListScanners, ListScanRuns, ListSignals


@route(status_code=201)
def create_scanner(body: ScannerDefinition, response: Response, bus: Bus, context: Context) -> Scanner:
    scanner: Scanner = bus.execute(CreateScanner(definition=body), context)
    response.headers["Location"] = f"/v1/scanners/{scanner.scanner_id}"
    return scanner


def list_scanners(bus: Bus, context: Context) -> list[Scanner]:
    scanners: list[Scanner] = bus.ask(ListScanners(), context)
    return scanners


def get_scanner(
    scanner_id: Annotated[str, like(GetScanner, "scanner_id", in_path=True)], bus: Bus, context: Context
) -> Scanner:
    scanner: Scanner = bus.ask(GetScanner(scanner_id=scanner_id), context)
    return scanner


def update_scanner(
    scanner_id: Annotated[str, like(UpdateScanner, "scanner_id", in_path=True)],
    body: ScannerDefinition,
    bus: Bus,
    context: Context,
) -> Scanner:
    scanner: Scanner = bus.execute(UpdateScanner(scanner_id=scanner_id, definition=body), context)
    return scanner


@route(status_code=204)
def delete_scanner(
    scanner_id: Annotated[str, like(DeleteScanner, "scanner_id", in_path=True)], bus: Bus, context: Context
) -> Response:
    bus.execute(DeleteScanner(scanner_id=scanner_id), context)
    return Response(status_code=204)


@route(status_code=201)
def run_scanner(
    scanner_id: Annotated[str, like(RunScanner, "scanner_id", in_path=True)],
    response: Response,
    bus: Bus,
    context: Context,
) -> ScanRun:
    run: ScanRun = bus.execute(RunScanner(scanner_id=scanner_id), context)
    response.headers["Location"] = f"/v1/scanners/{scanner_id}/runs"
    return run


@route(
    status_code=201,
    responses={200: {"description": "The scanner had this symbol's signal at this bar already"}},
)
def raise_signal(
    scanner_id: Annotated[str, like(RaiseSignal, "scanner_id", in_path=True)],
    body: ExternalSignal,
    response: Response,
    bus: Bus,
    context: Context,
) -> RaisedSignal:
    raised: RaisedSignal = bus.execute(RaiseSignal(scanner_id=scanner_id, signal=body), context)
    if not raised.new:
        response.status_code = 200
    return raised


def list_scan_runs(
    scanner_id: Annotated[str, like(ListScanRuns, "scanner_id", in_path=True)],
    bus: Bus,
    context: Context,
    limit: int = like(ListScanRuns, "limit"),
) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = bus.ask(ListScanRuns(scanner_id=scanner_id, limit=limit), context)
    return runs


def list_signals(
    bus: Bus,
    context: Context,
    scanner_id: str | None = like(ListSignals, "scanner_id"),
    symbol: str | None = like(ListSignals, "symbol"),
    since: IsoMoment | None = None,
    limit: int = like(ListSignals, "limit"),
) -> list[dict[str, Any]]:
    query = ListSignals(scanner_id=scanner_id, symbol=symbol, since=moment(since), limit=limit)
    signals: list[dict[str, Any]] = bus.ask(query, context)
    return signals
