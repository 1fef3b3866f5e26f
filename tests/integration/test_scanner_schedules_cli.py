"""A scanner's schedule from the command line: made with the scanner, and put back by
`trading scan sync-schedules` when the timetable lost it (a restored table, an older data folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trading_system.bootstrap import bootstrap
from trading_system.entrypoints.cli import app


def test_sync_schedules_puts_back_what_the_timetable_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
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
