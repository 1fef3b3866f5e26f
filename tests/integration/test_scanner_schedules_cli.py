"""Scanning's upkeep from the command line: a scanner's schedule, made with the scanner and put
back by `trading scan sync-schedules` when the timetable lost it (a restored table, an older data
folder); and the signal log's compaction, `trading scan compact-log`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fakes.signal_log import signal_row
from trading_system.bootstrap import bootstrap
from trading_system.entrypoints.cli import app


@pytest.fixture(autouse=True)
def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh data folder for the commands, and no settings file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))


def test_sync_schedules_puts_back_what_the_timetable_lost() -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["scan", "create", "--name", "hourly", "--rule", "close > 1", "--schedule", "rate(1 hour)"]
    )
    assert created.exit_code == 0, created.output
    scanner_id = json.loads(created.output)["scanner_id"]
    timetable = bootstrap().scanner_timetable
    assert timetable.expression(scanner_id) == "rate(1 hour)"

    timetable.remove(scanner_id)
    timetable.set("scn_gone", "rate(5 minutes)")
    synced = runner.invoke(app, ["scan", "sync-schedules"])
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.output) == {"scheduled": 1, "set": 1, "removed": 1}
    assert timetable.scheduled_keys() == [scanner_id]

    deleted = runner.invoke(app, ["scan", "delete", scanner_id])
    assert deleted.exit_code == 0, deleted.output
    assert timetable.scheduled_keys() == []


def test_compact_log_merges_a_past_days_signal_files_and_refuses_a_bad_budget() -> None:
    log = bootstrap().signal_log
    long_ago = datetime(2026, 1, 5, 21, tzinfo=UTC)
    for symbol in ("AAA", "BBB"):  # two scans' signals of a day long over: two files
        log.append_signals([signal_row(long_ago, symbol, "scn_x")])
    runner = CliRunner()
    refused = runner.invoke(app, ["scan", "compact-log", "--budget-s", "0"])
    assert refused.exit_code != 0 and "budget_s" in refused.output
    assert len(log.lake.files.list_files("signals/")) == 2
    compacted = runner.invoke(app, ["scan", "compact-log"])
    assert compacted.exit_code == 0, compacted.output
    report = json.loads(compacted.output)
    assert (report["days"], report["files_merged"], report["files_written"]) == (1, 2, 1)
    assert len(log.lake.files.list_files("signals/")) == 1
    assert {s["symbol"] for s in log.signals(["scn_x"], None, None, 10)} == {"AAA", "BBB"}
