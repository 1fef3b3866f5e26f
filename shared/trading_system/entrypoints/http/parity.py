"""Strategies' route of a deployment's parity report; found through strategies.py, as the catalog
names its context."""

from __future__ import annotations

from typing import Annotated

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.strategies.parity import ParityReport
from trading_system.strategies.queries import GetParity


def get_parity(
    deployment_id: Annotated[str, like(GetParity, "deployment_id", in_path=True)], bus: Bus, context: Context
) -> ParityReport:
    report: ParityReport = bus.ask(GetParity(deployment_id=deployment_id), context)
    return report
