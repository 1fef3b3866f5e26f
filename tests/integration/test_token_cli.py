"""`trading tokens ...`: issue the platform's own bearer tokens, revoke one, disable a subject."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from trading_system.bootstrap import bootstrap
from trading_system.config import load_settings
from trading_system.entrypoints.cli import app
from trading_system.identity.queries import Authenticate
from trading_system.kernel.errors import Unauthorized
from trading_system.kernel.principal import Principal, Role


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no trading.toml from the working directory
    for variable in [v for v in os.environ if v.startswith("TRADING_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def trading(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def authenticate(data_dir: Path, token: str) -> Principal:
    principal: Principal = bootstrap(load_settings(data_dir=data_dir)).bus.ask(Authenticate(token=token))
    return principal


def test_an_issued_token_authenticates_until_revoked(data_dir: Path) -> None:
    token = trading("tokens", "issue", "--role", "trader", "--subject", "alice", "--ttl", "1h").strip()
    assert (data_dir / "jwt-signing-key.pem").stat().st_mode & 0o777 == 0o600
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600 and claims["sub"] == "alice"
    assert authenticate(data_dir, token) == Principal("jwt:alice", Role.TRADER, user="alice")

    revoked = json.loads(trading("tokens", "revoke", claims["jti"]))
    assert revoked["kind"] == "token" and revoked["revoked_by"] == "system"
    with pytest.raises(Unauthorized):
        authenticate(data_dir, token)
    assert [r["value"] for r in json.loads(trading("tokens", "revoked"))] == [claims["jti"]]


def test_an_id_that_looks_like_an_option_is_revoked_after_a_double_dash(data_dir: Path) -> None:
    # Another issuer's ids may start with "-" (urlsafe base64 does, one time in 64): `--` passes them.
    revoked = json.loads(trading("tokens", "revoke", "--", "-VZrpiTcvWliYIRasW0EUQ"))
    assert revoked["kind"] == "token" and revoked["value"] == "-VZrpiTcvWliYIRasW0EUQ"


def test_a_disabled_subject_is_refused_until_enabled(data_dir: Path) -> None:
    issued = json.loads(trading("tokens", "issue", "--role", "viewer", "--subject", "bob", "--json"))
    assert issued["role"] == "viewer" and issued["subject"] == "bob"
    expires = datetime.fromisoformat(issued["expires_at"]).timestamp()
    assert abs(expires - (time.time() + 3600)) < 60  # the default lifetime: an hour
    trading("tokens", "disable", "bob")
    with pytest.raises(Unauthorized):
        authenticate(data_dir, issued["token"])
    trading("tokens", "enable", "bob")
    assert authenticate(data_dir, issued["token"]).role is Role.VIEWER


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttl", "1x"], "is not a duration"),
        (["--ttl", "10s"], "ttl_s: Input should be greater than or equal to 60"),
        (["--ttl", "31d"], "ttl_s: Input should be less than or equal to 2592000"),
        (["--subject", "al ice"], "subject: String should match pattern"),
    ],
)
def test_bad_options_are_named(data_dir: Path, args: list[str], message: str) -> None:
    options = {"--role": "trader", "--subject": "alice", "--ttl": "1h"}
    options |= dict(zip(args[::2], args[1::2], strict=True))
    result = CliRunner().invoke(app, ["tokens", "issue", *[x for pair in options.items() for x in pair]])
    assert result.exit_code == 2
    assert message in result.output


def test_enabling_a_subject_that_is_not_disabled_says_so(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["tokens", "enable", "nobody"])
    assert result.exit_code == 2 and "subject nobody is not disabled" in result.output
