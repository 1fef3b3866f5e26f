"""The real local runner as a subprocess (`trading serve`) on a seeded temporary data folder.

One server per test session: starting it costs seconds, and the e2e tests share it through the
`e2e` xdist group (so they all run on one worker). Each test registers its own symbols, so they
do not depend on one another's data or order. Every wait here is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
TRADING = Path(sys.executable).parent / "trading"  # the console script of this venv


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(data_dir: Path, log_level: str = "WARNING") -> dict[str, str]:
    """The test's settings only: a developer's TRADING_* variables or proxy settings must not leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRADING_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env["TRADING_DATA_DIR"] = str(data_dir)
    env["TRADING_SETTINGS_FILE"] = str(data_dir / "no-settings-file.toml")
    env["TRADING_LOG_LEVEL"] = log_level
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def http_client(base_url: str, key: str | None = None, timeout: float = 15.0) -> httpx.Client:
    """trust_env=False: the tests talk to 127.0.0.1 only, never through a proxy from the environment."""
    headers = {"x-api-key": key} if key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, trust_env=False)


def seed(data_dir: Path) -> str:
    """A small demo universe; returns its admin key."""
    command = [
        str(TRADING), "demo", "seed",
        "--symbols", "5", "--days", "60", "--intraday-symbols", "1", "--intraday-days", "1",
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env=server_env(data_dir),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"demo seed failed:\n{done.stdout}\n{done.stderr}"
    return (data_dir / "demo-api-key").read_text().strip()


@dataclass
class LocalRunner:
    """A running `trading serve`; `restart()` stops it and starts it again on the same data."""

    data_dir: Path
    admin_key: str
    port: int = field(default_factory=free_port)
    log_level: str = "WARNING"  # INFO writes uvicorn's access log too
    process: subprocess.Popen[str] | None = None
    _log: IO[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self) -> None:
        self._log = self.log_path.open("a")
        command = [str(TRADING), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command,
            env=server_env(self.data_dir, self.log_level),
            cwd=self.data_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with http_client(self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get("/v1/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"the server was not healthy within {STARTUP_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: uvicorn shuts down gracefully
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, key: str | None = None) -> httpx.Client:
        return http_client(self.base_url, key)

    def __iter__(self) -> Iterator[Any]:
        """So `base_url, admin_key, data_dir = local_runner` reads naturally."""
        return iter((self.base_url, self.admin_key, self.data_dir))


@pytest.fixture(scope="session")
def local_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRunner]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    runner = LocalRunner(data_dir=data_dir, admin_key=seed(data_dir))
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def admin(local_runner: LocalRunner) -> Iterator[httpx.Client]:
    """An HTTP client with the admin key."""
    with local_runner.client(local_runner.admin_key) as client:
        yield client
