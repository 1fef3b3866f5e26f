"""A strategy written as a Python file in the strategies folder (the `strategies_dir` setting) is
listed and backtested like a built-in one, and a broken folder is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_backtests_api import get, goog, submit
from trading_system.config import Settings, load_settings
from trading_system.strategies import registry

__all__ = ["goog"]  # the fixture, imported for these tests

MOMENTUM = """
from pydantic import Field

from trading_system.strategies.domain import Context, Strategy, StrategyParams
from trading_system.strategies.builtin import SmaCross  # imported, so not this file's strategy


class Momentum(Strategy):
    name = "momentum"
    summary = "Long after `days` rising closes, out on the first falling one"

    class Params(StrategyParams):
        days: int = Field(default=3, ge=1, le=20)

    def next(self, ctx: Context) -> None:
        rising = all(ctx.value("close", k) > ctx.value("close", k + 1) for k in range(self.params.days))
        if rising and not ctx.position:
            ctx.buy()
        elif ctx.position and ctx.value("close") < ctx.value("close", 1):
            ctx.close()
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    folder = tmp_path / "my_strategies"
    folder.mkdir()
    (folder / "momentum.py").write_text(MOMENTUM)
    (folder / "_helpers.py").write_text("raise RuntimeError('files starting with _ are not loaded')\n")
    return load_settings(data_dir=tmp_path / "data", strategies_dir=str(folder))


def test_a_folder_strategy_is_listed_and_backtested(client: TestClient, keys: Keys, goog: None) -> None:
    listed = {s["name"]: s for s in get(client, keys, "/v1/strategies")}
    assert listed["momentum"]["kind"] == "python"
    assert listed["momentum"]["params"]["properties"]["days"]["default"] == 3
    job = get(
        client,
        keys,
        f"/v1/backtests/{submit(client, keys, strategy='momentum', params={'days': 2})['backtest_id']}",
    )
    assert job["status"] == "completed" and job["outcome"]["stats"]["trades"] > 10
    trades = get(client, keys, f"/v1/backtests/{job['backtest_id']}/trades?limit=10000")
    assert all(t["size"] > 0 for t in trades)  # long only, as written
    bad = client.post(
        "/v1/backtests",
        json={"strategy": "momentum", "symbols": ["GOOG"], "params": {"days": 0}},
        headers=keys.header("trader"),
    )
    assert bad.status_code == 422 and "params.days" in bad.text


def test_a_missing_folder_or_a_clashing_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        registry.available(str(tmp_path / "absent"))
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "mine.py").write_text(MOMENTUM.replace('name = "momentum"', 'name = "sma_cross"'))
    with pytest.raises(ValueError, match="two strategies are named 'sma_cross'"):
        registry.available(str(clash))
