"""The garbage collector of the platform's long-lived processes (entrypoints/garbage.py): off
during start-up, then on with start-up's objects frozen and young objects collected every 10,000
allocations; in a Lambda (functions/__init__.py, lambda_runtime.instrument) and in `trading serve`."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trading_system import bootstrap
from trading_system.entrypoints import garbage


@pytest.fixture(autouse=True)
def restored_collector() -> Iterator[None]:
    """This test process's own collector as it was, whatever a test did to it."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def test_start_up_runs_without_the_collector_and_ends_with_it_tuned() -> None:
    default_middle, default_oldest = gc.get_threshold()[1:]
    gc.unfreeze()
    garbage.starting()
    assert not gc.isenabled()
    made_at_start_up = [[i] for i in range(1_000)]  # containers, which the collector tracks

    garbage.started()

    assert gc.isenabled()
    assert gc.get_threshold() == (garbage.YOUNG_COLLECTION_EVERY, default_middle, default_oldest)
    assert gc.get_freeze_count() >= len(made_at_start_up)
    walked = {id(x) for x in gc.get_objects()}  # every tracked object a collection may walk
    assert not walked & {id(x) for x in made_at_start_up}


def test_a_second_started_changes_nothing() -> None:
    """A process that already runs with its collector on (a second function module imported in
    the same process, a test) keeps what it has."""
    gc.enable()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()

    garbage.started()

    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_trading_serve_starts_uvicorn_after_start_up_is_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from trading_system.entrypoints.cli import app

    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.chdir(tmp_path)
    gc.enable()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    seen: dict[str, Any] = {}

    def run(app_: Any, **options: Any) -> None:
        seen.update(enabled=gc.isenabled(), threshold=gc.get_threshold(), frozen=gc.get_freeze_count())

    monkeypatch.setattr(uvicorn, "run", run)
    warmed: list[tuple[object, bool]] = []
    monkeypatch.setattr(bootstrap, "warm_up", lambda container: warmed.append((container, gc.isenabled())))
    result = CliRunner().invoke(app, ["serve", "--port", "0"])

    assert result.exit_code == 0, result.output
    ((container, collecting),) = warmed  # warmed up once, before the freeze (collector still off)
    assert isinstance(container, bootstrap.Container) and not collecting
    assert seen["enabled"]
    assert seen["threshold"][0] == garbage.YOUNG_COLLECTION_EVERY
    assert seen["frozen"] > 10_000  # the container, the app and their imports


def test_a_warmed_up_process_has_loaded_every_context_and_duckdb_s_first_query(tmp_path: Path) -> None:
    """What `trading serve` loads at start (bootstrap.warm_up), in a fresh interpreter: nothing of
    it before, all of it after. pandas stands for DuckDB's first parameterised query, which
    imports it where it is installed (the dev environment the server runs in)."""
    code = f"""
import json, sys
from trading_system.bootstrap import CONTEXTS, TABLES_APART, bootstrap, warm_up
from trading_system.config import load_settings
wanted = [f"trading_system.{{c}}.handlers" for c in CONTEXTS] + list(TABLES_APART.values()) + ["pandas"]
container = bootstrap(load_settings(data_dir={str(tmp_path)!r}))
before = [m for m in wanted if m in sys.modules]
warm_up(container)
print(json.dumps({{"before": before, "missing": [m for m in wanted if m not in sys.modules]}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    env["TRADING_SETTINGS_FILE"] = str(tmp_path / "absent.toml")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"before": [], "missing": []}
