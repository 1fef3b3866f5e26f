"""`trading serve` as a newcomer meets it (issue 9, "First contact"): a busy port is one clear
line, and the API keys that browsers put in URLs never reach the log."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import TRADING, LocalRunner, server_env

pytestmark = pytest.mark.xdist_group("e2e")

CLI_TIMEOUT_S = 60
WS_TIMEOUT_S = 5.0


def trading(data_dir: Path, *args: str, check: bool) -> subprocess.CompletedProcess[str]:
    """The `trading` command on the data folder, its output captured."""
    return subprocess.run(
        [str(TRADING), *args],
        env=server_env(data_dir),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=check,
    )


def test_a_busy_port_is_one_line_naming_it_and_no_banner(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = trading(tmp_path, "serve", "--host", "127.0.0.1", "--port", str(port), check=False)
    assert done.returncode != 0
    assert done.stdout == ""  # no banner announcing a server that never starts
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "--port" in lines[0] and "TRADING_PORT" in lines[0]


def new_admin_key(data_dir: Path) -> str:
    done = trading(data_dir, "keys", "create", "--role", "admin", "--label", "log test", check=True)
    key: str = json.loads(done.stdout)["api_key"]
    return key


def test_api_keys_in_urls_are_redacted_in_every_log_line(tmp_path: Path) -> None:
    key = new_admin_key(tmp_path)
    wrong_key = "tsk_000000000000_notarealsecret"
    runner = LocalRunner(data_dir=tmp_path, admin_key=key, log_level="INFO")
    runner.start()
    try:
        with runner.client() as client:
            assert client.get("/v1/symbols", params={"api_key": key, "limit": 1}).status_code in (200, 401)
        with connect(f"{runner.ws_url}?api_key={key}", open_timeout=WS_TIMEOUT_S) as stream:
            stream.send(json.dumps({"action": "ping"}))
            assert json.loads(stream.recv(timeout=WS_TIMEOUT_S)) == {"type": "pong"}
        with (
            connect(f"{runner.ws_url}?api_key={wrong_key}", open_timeout=WS_TIMEOUT_S) as refused,
            pytest.raises(ConnectionClosed),  # accepted, then closed with 4401
        ):
            refused.recv(timeout=WS_TIMEOUT_S)
    except httpx.TransportError:
        pytest.fail(f"the server stopped answering:\n{runner.log_tail()}")
    finally:
        runner.stop()

    log = runner.log_path.read_text()
    assert key not in log
    assert key.split("_", 2)[-1] not in log  # not even the secret part (which may hold "_" itself)
    assert wrong_key not in log
    assert "GET /v1/symbols?api_key=***&limit=1 HTTP/1.1" in log
    assert log.count('"WebSocket /v1/stream?api_key=***" [accepted]') == 2
