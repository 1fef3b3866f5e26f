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


def test_an_external_scanner_its_signal_webhook_and_a_signal_by_hand(data_dir: Path) -> None:
    from trading_system.market_data.commands import RegisterSymbol

    bootstrap(load_settings()).bus.execute(RegisterSymbol(symbol="MSFT"))
    scanner = json.loads(trading("scan", "create", "--name", "tv", "--external", "--timeframe", "1h"))
    assert scanner["kind"] == "external" and scanner["rules"] == []
    hook = json.loads(
        trading(
            "webhooks", "create", "--name", "tv", "--scanner", scanner["scanner_id"],
            "--ts", "{{time}}", "--value", "close={{close}}", "--rate-limit", "5",
        )
    )  # fmt: skip
    signal = {"symbol": "{{ticker}}", "ts": "{{time}}", "values": {"close": "{{close}}"}}
    assert hook["draft"]["signal"] == signal
    assert hook["draft"]["rate_limit"] == 5 and hook["secret"]
    raised = json.loads(
        trading(
            "scan", "signal", scanner["scanner_id"], "--symbol", "MSFT",
            "--ts", "2026-12-04T15:10:00Z", "--value", "close=101.5",
        )
    )  # fmt: skip
    assert (raised["ts"], raised["values"], raised["new"]) == ("2026-12-04T15:00:00Z", {"close": 101.5}, True)
    assert "value 'close=cheap'" in trading(
        "scan", "signal", scanner["scanner_id"], "--symbol", "MSFT", "--value", "close=cheap", code=2
    )
    # A rules scanner still needs its rules.
    assert "at least one rule" in trading("scan", "create", "--name", "empty", code=2)
