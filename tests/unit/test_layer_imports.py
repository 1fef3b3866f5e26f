"""The Lambda layer carries pyproject's [project].dependencies and what they pull in, nothing
else: every module a Lambda can import must import with only those packages. (A scanner's cron
schedule once needed croniter, which only the local extra had.) The check runs in a fresh
interpreter whose import system refuses any third-party package outside the layer."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from layers import build_layer

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "shared" / "trading_system"
# The local runtime's own modules: never in a Lambda (they need uvicorn, typer, websockets).
LOCAL_ONLY = (
    "trading_system.entrypoints.local",
    "trading_system.entrypoints.cli",
    "trading_system.entrypoints.demo",
)

_PROBE = """
import importlib, importlib.abc, json, sys

allowed = set(json.loads(sys.argv[1]))
modules = json.loads(sys.argv[2])


class OnlyTheLayer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top.startswith("_sysconfigdata"):
            return None  # let the normal finders find it
        # as if it were not installed: optional imports (try: import x / except) still work
        raise ModuleNotFoundError(f"{top} is not in the Lambda layer (imported as {name})", name=name)


sys.meta_path.insert(0, OnlyTheLayer())
failed = {}
for module in modules:
    try:
        importlib.import_module(module)
    except ImportError as error:
        failed[module] = str(error)
# What runs lazily must find its packages too: a scanner's cron schedule is evaluated in Lambda.
try:
    from trading_system.kernel.schedule import Schedule

    Schedule("cron(0 21 ? * MON-FRI *)")
except ImportError as error:
    failed["cron schedule"] = str(error)
print(json.dumps(failed))
"""


def layer_import_names() -> set[str]:
    """The top-level names the layer's distributions install (packages, modules and extension
    modules such as `_duckdb.cpython-312-....so`), as pip would put them in the layer."""
    requirements = build_layer.runtime_requirements()
    pins = requirements + build_layer.installed_constraints(requirements)
    names = {"trading_system", "functions"}
    for pin in pins:
        distribution = importlib.metadata.distribution(pin.split("==")[0])
        names |= {Path(str(file)).parts[0].partition(".")[0] for file in distribution.files or []}
    return names


def runtime_modules() -> list[str]:
    modules = []
    for path in sorted(RUNTIME.rglob("*.py")):
        parts = path.relative_to(RUNTIME.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not module.startswith(LOCAL_ONLY):
            modules.append(module)
    functions = sorted((ROOT / "functions").rglob("*.py"))
    return modules + [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in functions]


def probe(allowed: set[str], modules: list[str], tmp_path: Path) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(sorted(allowed)), json.dumps(modules)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRADING_DATA_DIR": str(tmp_path)},
        cwd=ROOT,
        timeout=240,
        check=True,
    )
    failed: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return failed


def test_every_runtime_and_function_module_imports_with_only_the_layer(tmp_path: Path) -> None:
    allowed = layer_import_names()
    assert "croniter" in allowed and "typer" not in allowed and "uvicorn" not in allowed
    assert probe(allowed, runtime_modules(), tmp_path) == {}


def test_the_probe_catches_a_package_outside_the_layer(tmp_path: Path) -> None:
    # Were croniter only in the local extra (as it once was), cron schedules would fail in Lambda.
    failed = probe(layer_import_names() - {"croniter"}, ["trading_system.scanning.handlers"], tmp_path)
    assert failed == {"cron schedule": "croniter is not in the Lambda layer (imported as croniter)"}
    failed = probe(layer_import_names() - {"duckdb"}, ["trading_system.adapters.duck"], tmp_path)
    assert "duckdb is not in the Lambda layer" in failed["trading_system.adapters.duck"]
