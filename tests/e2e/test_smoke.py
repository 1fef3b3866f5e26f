"""`trading deployment smoke` (what `make smoke URL=... KEY=...` runs against a deployment),
run here against `trading serve` on loopback: every step passes, twice in a row on the same
data, and a failure names its step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import LocalRunner, free_port

TRADING = Path(sys.executable).parent / "trading"
STEPS = [
    "health",
    "register a symbol",
    "ingest bars",
    "read them back",
    "scan",
    "open the paper account",
    "place a paper order",
    "cancel it",
    "receive OrderCanceled on the stream",
]


def smoke(url: str, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRADING), "deployment", "smoke", "--url", url, "--key", key, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_step_passes_against_the_local_runtime_and_again(local_runner: LocalRunner) -> None:
    for _ in range(2):  # what a first run leaves behind does not fail the next
        result = smoke(local_runner.base_url, local_runner.admin_key)
        assert result.returncode == 0, result.stdout + result.stderr
        passed = [
            line[5:].rsplit(" (", 1)[0] for line in result.stdout.splitlines() if line.startswith("ok ")
        ]
        assert passed == STEPS
        assert result.stdout.strip().endswith(f"smoke test passed: {len(STEPS)} steps")


def test_the_stream_url_may_be_named_apart_from_the_api(local_runner: LocalRunner) -> None:
    """In AWS the stream is its own API (the WebSocketUrl output): `--stream-url` names it, and a
    wrong one is a skipped step, not a pass."""
    stream = local_runner.base_url.replace("http", "ws", 1) + "/v1/stream"
    named = smoke(local_runner.base_url, local_runner.admin_key, "--stream-url", stream)
    assert named.returncode == 0, named.stdout + named.stderr
    assert "ok   receive OrderCanceled on the stream" in named.stdout
    wrong = smoke(
        local_runner.base_url, local_runner.admin_key, "--stream-url", f"ws://127.0.0.1:{free_port()}/x"
    )
    assert "receive OrderCanceled on the stream" not in [
        line[5:].rsplit(" (", 1)[0] for line in wrong.stdout.splitlines() if line.startswith("ok ")
    ]
    assert "skipped" in wrong.stdout


def test_a_failure_names_its_step(local_runner: LocalRunner) -> None:
    wrong_key = smoke(local_runner.base_url, "tsk_000000000000_not-a-key")
    assert wrong_key.returncode == 1
    assert "FAIL register a symbol: POST /v1/symbols answered 401" in wrong_key.stderr
    nobody = smoke(f"http://127.0.0.1:{free_port()}", local_runner.admin_key)
    assert nobody.returncode == 1
    assert "FAIL health: GET /v1/health: cannot reach" in nobody.stderr
