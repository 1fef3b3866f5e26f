"""Every scheduled function (fixed or timetabled) may record its runs: without the table and the
two kinds in its grant, its Lambda could not say that it failed (entrypoints/scheduled.py)."""

from __future__ import annotations

from trading_system.catalog import CATALOG, Every, Resource, Timetabled, by_name
from trading_system.kernel import kinds


def test_every_scheduled_function_may_record_its_runs() -> None:
    scheduled = [f for f in CATALOG if isinstance(f.trigger, Every | Timetabled)]
    assert {"compact_lake_nightly", "close_session", "pull_alpaca_bars", "run_scheduled_scanner"} <= {
        f.name for f in scheduled
    }
    for entry in scheduled:
        assert entry.uses.get(Resource.TABLE) == "read_write", entry.name
        assert kinds.SCHEDULE_STATUS in entry.kinds, entry.name
        assert kinds.owned(kinds.SCHEDULE_RUNS) in entry.kinds, entry.name


def test_only_scheduled_functions_write_runs_and_the_route_only_reads_statuses() -> None:
    for entry in CATALOG:
        if not isinstance(entry.trigger, Every | Timetabled):
            assert kinds.owned(kinds.SCHEDULE_RUNS) not in entry.kinds, entry.name
    route = by_name()["list_schedules"]
    assert route.kinds == (kinds.SCHEDULE_STATUS,)
    assert route.uses == {Resource.TABLE: "read"}
