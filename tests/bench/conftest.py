"""The benchmark session: one run file per `make bench`, the machine facts first, and every
figure again as one table at the end."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench import report


@pytest.fixture(scope="session", autouse=True)
def bench_run() -> Iterator[Path]:
    path = report.start_run(shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    facts = json.loads(path.read_text())["machine"]
    print(f"\nbenchmark run -> {path.relative_to(report.REPO)}")
    print(json.dumps(facts))
    yield path


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
