"""What a SnapStart function still does on a cold start (issue 13), beside what it does without.

For each catalog function with `snap_start`, in fresh interpreters with the AWS runtime settings
of tests/bench/test_cold_imports.py (boto3 clients built at import, fake credentials, no call
leaves the process):

- without SnapStart: the cold import of the function module, i.e. its whole init phase (the
  baseline, as test_cold_imports.py measures it);
- with SnapStart: the module is imported with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` and a
  stand-in for the runtime's `snapshot_restore_py` that records the hooks, the before-snapshot
  hooks run (untimed: that is the snapshot, made once per deployment), then the after-restore
  hooks are timed: the work left on the restore path (new seeds, a new boto3 session, the
  function's clients and DuckDB connection built again, entrypoints/snapstart.py).

Not measured here: Lambda's own restore of the microVM's memory (AWS reports it as "Restore
Duration"), and the credentials a restored function fetches from Lambda's endpoint on its first
AWS call. Rounds are interleaved; medians are reported. No timing is asserted; that the hooks
ran and the clients were built again is.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench import report
from tests.bench.test_cold_imports import aws_env
from trading_system.catalog import CATALOG

ROUNDS = 3
SECTION = "SnapStart: the restore path beside a cold init (AWS runtime settings, fake credentials)"
pytestmark = pytest.mark.timeout(900)

_COLD = """
import time
t0 = time.perf_counter()
__import__({module!r})
t1 = time.perf_counter()
import json
print({prefix!r} + json.dumps({{"ms": (t1 - t0) * 1000}}), flush=True)
"""

# The runtime's library, as Lambda's Python runtime ships it: here it only records the hooks.
_RESTORED = """
import sys, time, types
hooks = {{"before": [], "after": []}}
runtime = types.ModuleType("snapshot_restore_py")
runtime.register_before_snapshot = lambda f, *a: hooks["before"].append((f, a))
runtime.register_after_restore = lambda f, *a: hooks["after"].append((f, a))
sys.modules["snapshot_restore_py"] = runtime
__import__({module!r})
for f, a in reversed(hooks["before"]):  # the runtime runs them in reverse order of registration
    f(*a)
(restore, (container, build)), = hooks["after"]
before = {{name: container.__dict__.get(name) for name in ("store", "lake", "publisher")}}
from trading_system.adapters.aws import clients
session = clients._session
t0 = time.perf_counter()
for f, a in hooks["after"]:
    f(*a)
t1 = time.perf_counter()
import json
print({prefix!r} + json.dumps({{
    "ms": (t1 - t0) * 1000,
    "before_hooks": len(hooks["before"]),
    "handlers_in_snapshot": "trading_system.{context}.handlers" in sys.modules,
    "rebuilt": sorted(
        n for n, old in before.items() if old is not None and container.__dict__.get(n) not in (None, old)
    ),
    "built_at_init": sorted(n for n, old in before.items() if old is not None),
    "new_session": session is not None and clients._session is not session,
}}), flush=True)
"""

SNAP_STARTED = [entry for entry in CATALOG if entry.snap_start]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def test_snapstart_restore_path(scratch: Path) -> None:
    assert SNAP_STARTED, "no catalog function asks for SnapStart"
    cold_env = aws_env(scratch)
    snap_env = {**cold_env, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
    prefix = report.RESULT_PREFIX
    runs: dict[str, dict[str, list[float]]] = {e.name: {"cold": [], "restore": []} for e in SNAP_STARTED}
    flags: dict[str, dict[str, Any]] = {}
    warm = "\n".join(f"__import__({e.module!r})" for e in SNAP_STARTED)
    warmup = report.run_child([sys.executable, "-c", warm], cold_env, scratch)  # byte code, page cache
    assert warmup.returncode == 0, warmup.stderr[-5000:]
    for _ in range(ROUNDS):
        for entry in SNAP_STARTED:
            cold = report.run_child(
                [sys.executable, "-c", _COLD.format(module=entry.module, prefix=prefix)], cold_env, scratch
            )
            runs[entry.name]["cold"].append(cold.result()["ms"])
            code = _RESTORED.format(module=entry.module, prefix=prefix, context=entry.context)
            restored = report.run_child([sys.executable, "-c", code], snap_env, scratch).result()
            runs[entry.name]["restore"].append(restored.pop("ms"))
            flags[entry.name] = restored

    report.section(SECTION)
    print(f"{'':58} (median of {ROUNDS} fresh interpreters each)")
    for entry in SNAP_STARTED:
        cold_ms = statistics.median(runs[entry.name]["cold"])
        restore_ms = statistics.median(runs[entry.name]["restore"])
        found = flags[entry.name]
        report.figure(SECTION, f"{entry.name}: cold init without SnapStart (import)", cold_ms, "ms")
        report.figure(
            SECTION,
            f"{entry.name}: after-restore hooks with SnapStart",
            restore_ms,
            "ms",
            baseline=cold_ms,
            note=f"rebuilt {', '.join(found['rebuilt'])}; {entry.memory_mb} MB",
        )
    for entry in SNAP_STARTED:
        found = flags[entry.name]
        assert found["before_hooks"] == 1 and found["handlers_in_snapshot"], (entry.name, found)
        # Every client its init built is built again after the restore, in a new session.
        assert found["built_at_init"] and found["rebuilt"] == found["built_at_init"], (entry.name, found)
        assert found["new_session"], (entry.name, found)
