"""Market Data's read routes of backfill jobs. Found through market_data.py, as the catalog names
their context; apart from the other reads (market_data_queries.py), as a job holds its request (a
command: jobs.py imports commands.py), and from the commands' routes (market_data_commands.py)."""

from __future__ import annotations

from typing import Annotated

from trading_system.entrypoints.http.dependencies import Bus, Context
from trading_system.entrypoints.http.params import like
from trading_system.market_data.jobs import BackfillJob
from trading_system.market_data.queries import GetBackfill, ListBackfills


def list_backfills(
    bus: Bus,
    context: Context,
    after: str | None = like(ListBackfills, "after"),
    limit: int = like(ListBackfills, "limit"),
) -> list[BackfillJob]:
    jobs: list[BackfillJob] = bus.ask(ListBackfills(after=after, limit=limit), context)
    return jobs


def get_backfill(
    backfill_id: Annotated[str, like(GetBackfill, "backfill_id", in_path=True)], bus: Bus, context: Context
) -> BackfillJob:
    job: BackfillJob = bus.ask(GetBackfill(backfill_id=backfill_id), context)
    return job
