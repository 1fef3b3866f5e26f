"""The benchmark session: one run file per `make bench`, the machine facts first, and every
figure again as one table at the end."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench import report


@pytest.fixture(scope="session", autouse=True)
def bench_run() -> Iterator[Path]:
    started = time.perf_counter()
    path = report.start_run(shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    run = json.loads(path.read_text())
    print(f"\nbenchmark run -> {path.relative_to(report.REPO)}")
    print(json.dumps(run["machine"]))
    print(f"load average at start: {run['load_average_start']} (other work on the machine skews figures)")
    yield path
    run = report.finish_run(path, time.perf_counter() - started)
    print(
        f"\nload average at end: {run['load_average_end']}; {run['duration_s']} s; "
        f"CPU core-seconds {run.get('cpu_core_seconds')}"
    )


@pytest.fixture(autouse=True)
def contention(request: pytest.FixtureRequest, bench_run: Path) -> Iterator[None]:
    """Other processes competing for the CPU skew every figure: say how much they took."""
    started, start = time.perf_counter(), report.cpu_snapshot()
    yield
    report.note_contention(request.node.name, report.cpu_used_since(start, time.perf_counter() - started))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    given = os.environ.get(report.RUN_FILE_ENV)
    if not given or not Path(given).exists():
        return
    run = json.loads(Path(given).read_text())
    if not run["figures"]:
        return
    terminalreporter.section("benchmark figures")
    current = None
    for record in run["figures"]:
        if record["section"] != current:
            current = record["section"]
            terminalreporter.write_line(f"-- {current}")
            terminalreporter.write_line(report.HEADER)
        terminalreporter.write_line(report.line(record))
    misses = [r["name"] for r in run["figures"] if r["status"] == "MISS"]
    terminalreporter.write_line(
        f"{len(run['figures'])} figures, {len(misses)} miss(es) against their targets; "
        f"recorded in {Path(given).relative_to(report.REPO)} "
        "(`.venv/bin/python -m tests.bench.report` renders them as markdown)"
    )
