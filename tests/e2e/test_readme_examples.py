"""The README's examples, run in order as a newcomer would: on a fresh data folder seeded like
`make run` seeds it, against the real local runner, one bash session from the first block to
the last (so a variable set in one example is there for the next).

Which blocks run: a fenced block right after the line `<!-- readme-example: run -->`. What is
checked: every command exits 0 (curl is given `--fail-with-body`, so an HTTP error is a
failure, not a quietly printed problem document), and a command whose trailing comment ends in
`-> TEXT` prints TEXT. Loopback only; every command and the whole run are bounded in time.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import TRADING, LocalRunner, server_env

pytestmark = pytest.mark.xdist_group("e2e")

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE = "<!-- readme-example: run -->"
OUTCOME = re.compile(r"\s#[^#]*?\s->\s+(?P<text>.+?)\s*$")  # a trailing comment "... -> TEXT"
README_PORT = "127.0.0.1:8000"  # what the README's examples talk to; the test's server is elsewhere
COMMAND_TIMEOUT_S = 120.0
TOTAL_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Example:
    line: int  # in README.md, for the failure message
    command: str
    expected: str | None


def runnable_blocks(markdown: str) -> Iterator[tuple[int, list[str]]]:
    """(line of the first command, its lines) for every fenced block marked runnable."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != RUNNABLE:
            continue
        fence = lines[i + 1].strip()
        assert fence.startswith("```"), f"README.md:{i + 1}: {RUNNABLE} must come right before a fence"
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        yield i + 3, lines[i + 2 : end]


def examples(markdown: str) -> list[Example]:
    """Each block's commands: a command runs on while a line ends in a backslash or a quote is
    open (a JSON body over several lines)."""
    found = []
    for first, block in runnable_blocks(markdown):
        pending: list[str] = []
        for offset, line in enumerate(block):
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending.append(line)
            text = "\n".join(pending)
            if text.endswith("\\") or not _complete(text):
                continue
            last = pending[-1]
            outcome = OUTCOME.search(last)
            found.append(
                Example(first + offset - len(pending) + 1, text, outcome["text"] if outcome else None)
            )
            pending = []
        assert not pending, f"README.md:{first}: a command is left unfinished: {pending}"
    return found


def _complete(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:  # no closing quotation yet
        return False
    return True


class BashSession:
    """One bash process the examples are typed into, one after another."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """The exit code and the output (stdout and stderr) of one command."""
        marker = f"__done_{uuid.uuid4().hex}__"
        assert self.process.stdin is not None
        # The command's stdin is /dev/null: it must not read the examples that follow it.
        self.process.stdin.write(f"{{\n{command}\n}} < /dev/null\n__rc=$?; echo; echo {marker} $__rc\n")
        self.process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                pytest.fail(f"timed out after {timeout} s:\n{command}\n{''.join(output)}")
            if line is None:
                pytest.fail(f"bash exited during:\n{command}\n{''.join(output)}")
            if line.startswith(marker):
                return int(line.split()[1]), "".join(output)
            output.append(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def seed_like_make_run(data_dir: Path) -> str:
    """What `make run` does before serving; returns the demo admin key."""
    data_dir.mkdir(parents=True)
    subprocess.run(
        [str(TRADING), "demo", "seed", "--if-empty"],
        env=server_env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )
    return (data_dir / "demo-api-key").read_text().strip()


def test_the_readme_has_runnable_examples() -> None:
    found = examples(README.read_text())
    assert len(found) > 40
    assert any(e.command.startswith("trading ") for e in found)
    assert any(e.command.startswith("curl ") for e in found)


def test_the_readme_examples_run_in_order_on_a_fresh_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / ".data"  # the README's examples run where `make run` runs: beside .data/
    runner = LocalRunner(data_dir=data_dir, admin_key=seed_like_make_run(data_dir))
    env = server_env(data_dir)
    env["PATH"] = f"{TRADING.parent}{os.pathsep}{env['PATH']}"  # `trading` as after activating .venv
    runner.start()
    session = BashSession(tmp_path, env)
    try:
        # pipefail: `ID=$(curl ... | jq -r .id)` fails when curl does, not only when jq does.
        session.run("set -o pipefail", COMMAND_TIMEOUT_S)
        session.run(
            'curl() { command curl --fail-with-body --max-time 60 --noproxy "*" "$@"; }', COMMAND_TIMEOUT_S
        )
        found = examples(README.read_text())
        assert found, f"no block of README.md is marked {RUNNABLE}"
        deadline = time.monotonic() + TOTAL_TIMEOUT_S
        for example in found:
            command = example.command.replace(README_PORT, f"127.0.0.1:{runner.port}")
            left = deadline - time.monotonic()
            assert left > 0, f"the examples took more than {TOTAL_TIMEOUT_S} s"
            code, output = session.run(command, min(COMMAND_TIMEOUT_S, left))
            where = f"README.md:{example.line}:\n{example.command}\n--- output:\n{output}"
            assert code == 0, f"exit {code}, {where}\n--- server log:\n{runner.log_tail()}"
            if example.expected is not None:
                assert example.expected in output, f"{example.expected!r} not printed, {where}"
    finally:
        session.close()
        runner.stop()
