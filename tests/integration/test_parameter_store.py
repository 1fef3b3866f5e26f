"""Settings precedence: defaults < TOML settings file < TRADING_* environment < SSM Parameter Store.

SSM is moto's server on loopback; Powertools builds its own boto3 client, which finds the server
through AWS_ENDPOINT_URL (boto3 honours it for every service).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from tests.aws_fixtures import aws_env, boto_client, moto_url, unique_name
from trading_system.config import Settings, SettingsError, load_settings

__all__ = ["aws_env", "moto_url"]  # fixtures this module uses


@pytest.fixture(autouse=True)
def clean_settings_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No TRADING_* variable, trading.toml or cached parameter from outside the test leaks in."""
    for name in list(os.environ):
        if name.startswith("TRADING_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    parameters.clear_caches()  # Powertools caches values and its client across calls
    yield
    parameters.clear_caches()


@pytest.fixture
def ssm(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return boto_client("ssm", moto_url)


@pytest.fixture
def parameters_path(ssm: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh parameter path, set as TRADING_PARAMETERS_PATH."""
    path = "/" + unique_name("trading")
    monkeypatch.setenv("TRADING_PARAMETERS_PATH", path)
    return path


def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "conf" / "settings.toml"
    path.parent.mkdir()
    path.write_text(text)
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(path))
    return path


def put(ssm: Any, name: str, value: str, kind: str = "String") -> None:
    ssm.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = load_settings()

    assert settings.max_batch_rows == 100_000
    assert settings.port == 8000
    assert settings.log_level == "INFO"
    assert settings.table_name == "trading"


def test_the_settings_file_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_file(tmp_path, monkeypatch, 'max_batch_rows = 500\nport = 9000\nlog_level = "DEBUG"\n')

    settings = load_settings()

    assert (settings.max_batch_rows, settings.port, settings.log_level) == (500, 9000, "DEBUG")
    assert settings.table_name == "trading"  # unset in the file: still the default


def test_trading_toml_in_the_working_directory_is_the_default_file(tmp_path: Path) -> None:
    (tmp_path / "trading.toml").write_text("port = 9123\n")

    assert load_settings().port == 9123


def test_the_environment_overrides_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_file(tmp_path, monkeypatch, "max_batch_rows = 500\nport = 9000\n")
    monkeypatch.setenv("TRADING_MAX_BATCH_ROWS", "700")

    settings = load_settings()

    assert settings.max_batch_rows == 700
    assert settings.port == 9000


def test_parameter_store_overrides_environment_file_and_defaults(
    ssm: Any, parameters_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file(
        tmp_path, monkeypatch, 'max_batch_rows = 500\nport = 9000\nduckdb_threads = 2\nlog_level = "DEBUG"\n'
    )
    monkeypatch.setenv("TRADING_MAX_BATCH_ROWS", "700")
    monkeypatch.setenv("TRADING_PORT", "8100")
    put(ssm, f"{parameters_path}/max_batch_rows", "900")
    put(ssm, f"{parameters_path}/log_level", "WARNING")

    settings = load_settings()

    assert settings.max_batch_rows == 900  # parameter store > environment > file
    assert settings.log_level == "WARNING"  # parameter store > file
    assert settings.port == 8100  # environment > file
    assert settings.duckdb_threads == 2  # file > default
    assert settings.max_upload_bytes == 64 * 1024 * 1024  # default
    assert settings.parameters_path == parameters_path


def test_secure_string_parameters_are_decrypted(ssm: Any, parameters_path: str) -> None:
    put(ssm, f"{parameters_path}/table_name", "secret-table", kind="SecureString")

    assert load_settings().table_name == "secret-table"


def test_a_trailing_slash_on_the_path_is_harmless(
    ssm: Any, parameters_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(ssm, f"{parameters_path}/port", "8200")
    monkeypatch.setenv("TRADING_PARAMETERS_PATH", parameters_path + "/")

    assert load_settings().port == 8200


def test_parameters_that_are_not_settings_or_lie_deeper_are_ignored(ssm: Any, parameters_path: str) -> None:
    put(ssm, f"{parameters_path}/not_a_setting", "x")
    put(ssm, f"{parameters_path}/nested/port", "1234")
    put(ssm, f"{parameters_path}-other/port", "4321")  # a sibling path sharing the prefix
    put(ssm, f"{parameters_path}/port", "8300")

    settings = load_settings()

    assert settings.port == 8300


def test_no_parameter_store_is_read_without_a_path(ssm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # With no TRADING_PARAMETERS_PATH nothing calls SSM, so a broken endpoint cannot matter.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    assert load_settings().port == 8000


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_PORT", "abc")

    with pytest.raises(SettingsError, match="TRADING_PORT") as raised:
        load_settings()

    assert "'abc'" in str(raised.value)


def test_a_bad_parameter_value_names_the_setting(ssm: Any, parameters_path: str) -> None:
    put(ssm, f"{parameters_path}/port", "70000")

    with pytest.raises(SettingsError, match="TRADING_PORT") as raised:
        load_settings()

    assert "70000" in str(raised.value)


def test_settings_built_directly_use_the_same_sources(ssm: Any, parameters_path: str) -> None:
    put(ssm, f"{parameters_path}/event_bus_name", "bus-from-ssm")

    assert Settings().event_bus_name == "bus-from-ssm"
