"""`trading webhooks create|list|delete`: the secret is printed once, then never again."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trading_system.bootstrap import bootstrap
from trading_system.config import load_settings
from trading_system.entrypoints.cli import app
from trading_system.trading.commands import CreateAccount


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no trading.toml from the working directory
    for variable in [v for v in os.environ if v.startswith("TRADING_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    bootstrap(load_settings()).bus.execute(CreateAccount(account_id="paper", starting_cash=Decimal(1000)))
    return tmp_path / "data"


def trading(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_create_list_delete(data_dir: Path) -> None:
    created = json.loads(trading("webhooks", "create", "--name", "tv", "--account", "paper"))
    assert created["draft"]["order"]["side"] == "{{strategy.order.action}}" and created["secret"]
    listed = trading("webhooks", "list")
    assert created["webhook_id"] in listed and created["secret"] not in listed
    container = bootstrap(load_settings())
    stored = container.webhooks.get(created["webhook_id"])
    assert stored is not None and stored.verifies(created["secret"])
    assert trading("webhooks", "delete", created["webhook_id"]).strip() == f"deleted {created['webhook_id']}"
    assert json.loads(trading("webhooks", "list")) == []
    assert "no webhook" in trading("webhooks", "delete", created["webhook_id"], code=2)
    assert container.webhooks.get(created["webhook_id"]) is None


def test_a_bad_template_or_account_is_refused_naming_it(data_dir: Path) -> None:
    out = trading("webhooks", "create", "--name", "tv", "--account", "paper", "--qty", "{{ 1 + 1 }}", code=2)
    assert "qty" in out
    out = trading("webhooks", "create", "--name", "tv", "--account", "ghost", code=2)
    assert "account ghost does not exist" in out
    assert json.loads(trading("webhooks", "list")) == []
