"""Only the HTTP functions import the web framework: FastAPI (and Starlette under it) is
100-170 ms of a cold start, and the API's authorizer, which runs before every request in AWS,
once paid it to read a header. Checked in one fresh interpreter, a module at a time, so the
first one to bring it in is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from trading_system.catalog import CATALOG, Http

ROOT = Path(__file__).resolve().parents[2]
_PROBE = """
import importlib, json, sys
brought = {}
for module in json.loads(sys.argv[1]):
    importlib.import_module(module)
    found = sorted(name for name in ("fastapi", "starlette") if name in sys.modules)
    if found:
        brought[module] = found
        break
print(json.dumps(brought))
"""


def test_functions_other_than_http_ones_do_not_import_the_web_framework(tmp_path: Path) -> None:
    modules = [f.module for f in CATALOG if not isinstance(f.trigger, Http)]
    assert "functions.identity.authorizer" in modules and len(modules) > 20
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADING_", "AWS_"))}
    env |= {
        "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}",
        "TRADING_DATA_DIR": str(tmp_path / "data"),
        "TRADING_SETTINGS_FILE": str(tmp_path / "absent.toml"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == {}


def test_the_probe_names_a_module_that_brings_the_framework_in(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(["json", "trading_system.entrypoints.http.auth"])],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == {"trading_system.entrypoints.http.auth": ["fastapi", "starlette"]}
