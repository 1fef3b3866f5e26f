"""A sweep as a fan-out (catalog.FanOut): planned into blocks, each block run and kept on its
own, then finished. Run locally in blocks of one backtest, it must equal the sweep run whole to
the last bit, report each block, fail whole when one block fails, and keep nothing that looks
complete when a block is missing or the sweep was deleted meanwhile."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_backtests_api import boom, get, goog
from tests.integration.test_sweeps_api import sweep
from trading_system.bootstrap import Container
from trading_system.config import Settings, load_settings
from trading_system.kernel.jobs import JobStatus
from trading_system.kernel.messages import Envelope
from trading_system.strategies.builtin import SmaCross
from trading_system.strategies.commands import DeleteSweep, FinishSweep, PlanSweep, RunSweepBlock
from trading_system.strategies.jobs import SweepJob
from trading_system.strategies.results import fingerprint
from trading_system.strategies.runs import bars_of, profile_of
from trading_system.strategies.sweep import run_sweep
from trading_system.strategies.vector import STAT_KEYS

__all__ = ["boom", "goog"]

GRID = {"n1": [2, 3, 4, 5, 6, 7, 8, 9], "n2": [20, 25, 30, 35, 40]}  # 40 combinations


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # blocks of one backtest: one block per symbol and run of 32 combinations (the statistics' batch)
    return load_settings(data_dir=tmp_path / "data", sweep_block_backtests=1)


def progress_of(container: Container) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def observe(envelope: Envelope) -> None:
        if envelope.event_type == "SweepProgressed":
            seen.append(envelope.payload)

    container.bus.observers.append(observe)
    return seen


def test_a_sweep_in_blocks_equals_the_sweep_run_whole_and_reports_each_block(
    client: TestClient, keys: Keys, goog: None, container: Container
) -> None:
    progress = progress_of(container)
    queued = sweep(client, keys, sweep={"grid": GRID, "rank_by": "sharpe_ratio"})
    job = container.sweeps.get(queued["sweep_id"])
    assert job is not None and job.status is JobStatus.COMPLETED, job
    outcome = job.require_results()
    assert outcome.backtests == 80 and outcome.vectorised == 80

    # four blocks (two symbols x combinations [0, 32) and [32, 40)), each reported once
    assert sorted(p["block"] for p in progress) == [0, 1, 2, 3]
    assert {p["blocks"] for p in progress} == {4} and sum(p["backtests"] for p in progress) == 80
    blocks = container.sweep_results.blocks(job.sweep_id)
    assert [(b.symbols, b.first_combination) for b in blocks] == [
        (["GOOG"], 0),
        (["GOOG"], 32),
        (["TWIN"], 0),
        (["TWIN"], 32),
    ]

    # the oracle: the same sweep run whole, in one process
    request = job.request
    bars = {s: bars_of(request, s, container.symbols, container.lake)[0] for s in request.symbols}
    params = [SmaCross.Params(**values) for values in job.combinations]
    whole = run_sweep(SmaCross, params, bars, request.cash, profile_of(request), request.finalize)
    kept = container.sweep_results.read(job.sweep_id, request.symbols, STAT_KEYS, len(params))
    assert np.array_equal(kept, whole.stats, equal_nan=True)
    assert outcome.best[0]["values"] == whole.ranking("sharpe_ratio")[0].values
    assert outcome.bars == {s: len(b) for s, b in bars.items()}
    assert outcome.data_fingerprint == fingerprint(list(bars.values()))  # as a backtest records it


def test_a_failed_block_fails_the_whole_sweep_with_its_error_and_keeps_nothing(
    client: TestClient, keys: Keys, goog: None, boom: None, container: Container
) -> None:
    job = sweep(client, keys, strategy="boom", sweep={"grid": {"after": [50, 100]}})
    failed = get(client, keys, f"/v1/sweeps/{job['sweep_id']}")
    assert (
        failed["status"] == "failed" and "ZeroDivisionError: the strategy divided by zero" in failed["error"]
    )
    assert container.sweep_results.blocks(job["sweep_id"]) == []
    assert container.lake.files.list_files(f"sweeps/sweep_id={job['sweep_id']}/") == []


def queued_copy(container: Container, done: SweepJob, sweep_id: str) -> SweepJob:
    """A completed sweep queued again under another id: the steps run by hand from here."""
    copy = done.model_copy(
        update={
            "sweep_id": sweep_id,
            "status": JobStatus.QUEUED,
            "outcome": None,
            "started_at": None,
            "finished_at": None,
        }
    )
    container.sweeps.add(copy)
    return copy


def test_the_steps_are_safe_to_repeat_and_a_missing_block_fails_the_finish(
    client: TestClient, keys: Keys, goog: None, container: Container
) -> None:
    done = container.sweeps.get(sweep(client, keys, sweep={"grid": GRID})["sweep_id"])
    assert done is not None
    job = queued_copy(container, done, "sw_by_hand")
    plan = container.bus.execute(PlanSweep(sweep_id=job.sweep_id))
    assert len(plan.items) == 4 and plan.finish == {"sweep_id": job.sweep_id, "blocks": 4}
    assert container.bus.execute(PlanSweep(sweep_id=job.sweep_id)).finish is None  # redelivered
    for item in plan.items[:3]:
        container.bus.execute(RunSweepBlock(**item))
    container.bus.execute(RunSweepBlock(**plan.items[0]))  # a retried invocation replaces its block
    container.bus.execute(FinishSweep(**plan.finish))
    failed = container.sweeps.get(job.sweep_id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error == f"RuntimeError: sweep {job.sweep_id}: block(s) [3] of 4 left no results"
    assert container.lake.files.list_files(f"sweeps/sweep_id={job.sweep_id}/") == []
    container.bus.execute(FinishSweep(**plan.finish))  # a redelivered finish changes nothing
    assert container.sweeps.get(job.sweep_id) == failed


def test_a_sweep_deleted_while_it_runs_leaves_no_results(
    client: TestClient, keys: Keys, goog: None, container: Container
) -> None:
    done = container.sweeps.get(sweep(client, keys, sweep={"grid": GRID})["sweep_id"])
    assert done is not None
    job = queued_copy(container, done, "sw_deleted")
    plan = container.bus.execute(PlanSweep(sweep_id=job.sweep_id))
    container.bus.execute(RunSweepBlock(**plan.items[0]))
    container.bus.execute(DeleteSweep(sweep_id=job.sweep_id))
    container.bus.execute(RunSweepBlock(**plan.items[1]))  # a block after the delete runs nothing
    container.bus.execute(FinishSweep(**plan.finish))
    assert container.sweeps.get(job.sweep_id) is None
    assert container.lake.files.list_files(f"sweeps/sweep_id={job.sweep_id}/") == []


def test_the_clis_progress_bar_counts_every_backtest_of_each_block(
    client: TestClient, keys: Keys, goog: None, container: Container
) -> None:
    from rich.console import Console

    from trading_system.entrypoints.cli.strategies import sweep_progress
    from trading_system.strategies.commands import SubmitSweep, SweepRequest

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, color_system=None, width=100)
    request = SweepRequest.model_validate(
        {"strategy": "sma_cross", "symbols": ["GOOG", "TWIN"], "sweep": {"grid": GRID}}
    )
    with sweep_progress(container, terminal):
        container.bus.execute(SubmitSweep(request=request))
    shown = screen.getvalue()
    assert "80/80 backtests" in shown, shown
    assert "0/80 backtests" in shown or "32/80 backtests" in shown, shown
    plain = Console(file=io.StringIO(), force_terminal=False)
    with sweep_progress(container, plain):  # not a terminal: nothing is drawn
        container.bus.execute(SubmitSweep(request=request))
    assert "backtests" not in plain.file.getvalue()  # type: ignore[attr-defined]
