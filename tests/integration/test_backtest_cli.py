"""`trading backtest run`, end to end on a temporary data folder: backtesting.py's GOOG data is
ingested through the same command users run, and the JSON the CLI prints keeps the contract
scripts depend on (stats in backtesting.py's units and signs, trades with times, prices, size
and P&L) and equals backtesting.py's own results."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
from backtesting import Backtest
from backtesting.test import GOOG
from typer.testing import CliRunner, Result

from tests.unit.test_backtest_oracle import BtSmaCross
from trading_system.entrypoints.cli import app

CONTRACT = ("trades", "equity_final", "return_pct", "sharpe_ratio", "max_drawdown_pct", "win_rate_pct")


@pytest.fixture
def goog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    path = tmp_path / "goog.csv"
    frame = GOOG.rename(columns=str.lower)
    frame.index.name = "ts"
    frame.to_csv(path, date_format="%Y-%m-%d")
    run("ingest", str(path), "--timeframe", "1d", "--symbol", "GOOG", "--register")
    return tmp_path


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}{result.exception!r}"
    return result


def backtest_json(*extra: str) -> dict[str, Any]:
    args = ["backtest", "run", "--strategy", "sma_cross", "--param", "n1=10", "--param", "n2=20"]
    args += ["--symbols", "GOOG", "--timeframe", "1d", "--cash", "10000", "--commission", "0.002", "--json"]
    document: dict[str, Any] = json.loads(run(*args, *extra).output)
    return document


@pytest.mark.parametrize("keep_open", [False, True], ids=["finalize", "keep-open"])
def test_the_json_contract_and_backtesting_py_agree(goog: Path, keep_open: bool) -> None:
    document = backtest_json(*(["--keep-open"] if keep_open else []))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = Backtest(
            GOOG, BtSmaCross, cash=10_000, commission=0.002, finalize_trades=not keep_open
        ).run()
    stats = document["stats"]
    for key in CONTRACT:
        assert isinstance(stats[key], int | float) and not isinstance(stats[key], bool), key
    assert stats["trades"] == expected["# Trades"]
    assert stats["equity_final"] == pytest.approx(expected["Equity Final [$]"], rel=1e-9)
    assert stats["return_pct"] == pytest.approx(expected["Return [%]"], rel=1e-9)
    assert stats["sharpe_ratio"] == pytest.approx(expected["Sharpe Ratio"], rel=1e-6)
    assert stats["max_drawdown_pct"] == pytest.approx(expected["Max. Drawdown [%]"], rel=1e-9)
    assert stats["max_drawdown_pct"] < 0
    assert stats["win_rate_pct"] == pytest.approx(expected["Win Rate [%]"], rel=1e-9)
    trades = document["trades"]
    assert len(trades) == len(expected["_trades"])
    for got, want in zip(trades, expected["_trades"].itertuples(), strict=True):
        assert got["size"] == want.Size
        assert got["entry_price"] == want.EntryPrice and got["exit_price"] == want.ExitPrice
        assert got["entry_time"].startswith(want.EntryTime.strftime("%Y-%m-%d"))
        assert got["exit_time"].startswith(want.ExitTime.strftime("%Y-%m-%d"))
        assert got["pnl"] == pytest.approx(want.PnL, rel=1e-9)
    assert {t["size"] < 0 for t in trades} == {True, False}  # sma_cross reverses: shorts too
    assert document["open_trades"] == (1 if keep_open else 0)
    assert len(document["data_fingerprint"]) == 64 and document["code_version"]


def test_the_same_data_gives_the_same_fingerprint_and_results(goog: Path) -> None:
    first, second = backtest_json(), backtest_json()
    assert first["data_fingerprint"] == second["data_fingerprint"]
    assert first["stats"] == second["stats"] and first["backtest_id"] != second["backtest_id"]


def test_an_undefined_statistic_is_null(goog: Path) -> None:
    # No cross in a flat stretch short enough: no trades, so no win rate and no Sharpe.
    args = ["backtest", "run", "--strategy", "sma_cross", "--param", "n1=100", "--param", "n2=200"]
    args += ["--symbols", "GOOG", "--start", "2004-08-19", "--end", "2005-06-01", "--json"]
    stats = json.loads(run(*args).output)["stats"]
    assert stats["trades"] == 0
    assert stats["win_rate_pct"] is None and stats["sharpe_ratio"] is None
    assert not any(isinstance(v, float) and (math.isnan(v) or math.isinf(v)) for v in stats.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "sma_crosss", "--symbols", "GOOG"],
            "unknown strategy 'sma_crosss'; did you mean 'sma_cross'",
        ),
        (["--strategy", "sma_cross", "--symbols", "GOOG", "--param", "n3=4"], "n3"),
        (["--strategy", "sma_cross", "--symbols", "GOOG", "--param", "n1=abc"], "n1"),
        (
            ["--strategy", "sma_cross", "--symbols", "GOOG", "--param", "n1=30"],
            "n1 (30) must be less than n2 (20)",
        ),
        (["--strategy", "sma_cross", "--symbols", "GOOG", "--param", "n1"], "write name=value"),
        (["--strategy", "sma_cross", "--symbols", "MSFT"], "symbol MSFT is not registered"),
        (
            ["--strategy", "sma_cross", "--symbols", "GOOG", "--start", "2020-01-01"],
            "no 1d bars of GOOG between 2020-01-01",
        ),
        (["--strategy", "sma_cross", "--symbols", "GOOG", "--timeframe", "1h"], "no 1h bars of GOOG"),
        (["--strategy", "sma_cross", "--symbols", "GOOG", "--cash", "-5"], "cash"),
        (
            ["--strategy", "sma_cross", "--symbols", "GOOG", "--profile", "nope"],
            "unknown fill profile 'nope'",
        ),
    ],
)
def test_bad_input_is_a_clear_error(goog: Path, args: list[str], message: str) -> None:
    result = run("backtest", "run", *args, code=2)
    assert message in result.output


def test_strategies_are_listed_with_their_parameters(goog: Path) -> None:
    listed = json.loads(run("strategies", "--json").output)
    names = {s["name"]: s for s in listed}
    assert {"sma_cross", "rsi_reversion", "donchian_breakout"} <= set(names)
    assert names["sma_cross"]["params"]["properties"]["n1"]["default"] == 10


def test_the_table_output_shows_the_statistics(goog: Path) -> None:
    args = [
        "backtest",
        "run",
        "--strategy",
        "donchian_breakout",
        "--symbols",
        "GOOG",
        "--commission",
        "0.001",
    ]
    output = run(*args).output
    assert "Return [%]" in output and "Max. Drawdown [%]" in output and "entry_time" in output


def test_several_symbols_make_one_portfolio_with_shared_cash(goog: Path) -> None:
    path = goog / "twin.csv"
    frame = GOOG.rename(columns=str.lower).iloc[300:]
    frame.index.name = "ts"
    frame.to_csv(path, date_format="%Y-%m-%d")
    run("ingest", str(path), "--timeframe", "1d", "--symbol", "TWIN", "--register")
    args = ["backtest", "run", "--strategy", "donchian_breakout", "--symbols", "GOOG,TWIN", "--json"]
    args += ["--param", "entry=20", "--param", "exit=10", "--param", "fraction=0.5", "--equity"]
    document = json.loads(run(*args).output)
    assert document["symbols"] == ["GOOG", "TWIN"]
    assert {t["symbol"] for t in document["trades"]} == {"GOOG", "TWIN"}
    assert document["bars"] == len(GOOG) == len(document["equity"])  # one timeline, the union
    assert document["stats"]["trades"] == len(document["trades"])
    first_twin = min(t["entry_time"] for t in document["trades"] if t["symbol"] == "TWIN")
    assert first_twin >= GOOG.index[300].strftime("%Y-%m-%d")
    assert min(point["equity"] for point in document["equity"]) > 0


def test_a_declarative_strategy_is_saved_and_backtested_from_the_cli(goog: Path) -> None:
    saved = run("strategy", "save", "--name", "oversold", "--entry", "rsi(14) < 30", "--exit", "rsi(14) > 70")
    assert "saved oversold" in saved.output
    assert "oversold" in run("strategies").output
    rules = backtest_json_of("oversold")
    python = backtest_json_of("rsi_reversion")
    assert rules["stats"] == python["stats"] and rules["trades"] == python["trades"]
    listed = run("backtest", "list", "--format", "json").output
    assert rules["backtest_id"] in listed and python["backtest_id"] in listed
    shown = json.loads(run("backtest", "show", rules["backtest_id"], "--json").output)
    assert shown["stats"] == rules["stats"]
    bad = run("strategy", "save", "--name", "broken", "--entry", "rsi(14) <", code=2)
    assert "entry[0]" in bad.output
    assert (
        "exists"
        in run(
            "strategy", "save", "--name", "oversold", "--entry", "close > 1", "--exit", "close < 1", code=2
        ).output
    )
    run("strategy", "save", "--name", "oversold", "--entry", "close > 1", "--exit", "close < 1", "--replace")
    assert json.loads(run("strategy", "show", "oversold").output)["rules"]["entry"] == ["close > 1"]
    run("backtest", "delete", rules["backtest_id"])
    assert rules["backtest_id"] not in run("backtest", "list", "--format", "json").output
    run("strategy", "delete", "oversold")
    assert (
        "unknown strategy 'oversold'"
        in run("backtest", "run", "--strategy", "oversold", "--symbols", "GOOG", code=2).output
    )


def backtest_json_of(strategy: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        run("backtest", "run", "--strategy", strategy, "--symbols", "GOOG", "--json").output
    )
    return document


def test_a_sweep_from_the_cli_ranks_the_combinations(goog: Path) -> None:
    args = [
        "sweep",
        "run",
        "--strategy",
        "sma_cross",
        "--symbols",
        "GOOG",
        "--grid",
        "n1=5,10",
        "--grid",
        "n2=20,40",
    ]
    document = json.loads(run(*args, "--rank-by", "return_pct", "--json").output)
    assert document["status"] == "completed" and document["outcome"]["backtests"] == 4
    ranking = document["ranking"]
    assert [r["values"] for r in ranking] != [] and len(ranking) == 4
    assert [r["mean"] for r in ranking] == sorted((r["mean"] for r in ranking), reverse=True)
    best = ranking[0]["values"]
    alone = backtest_json_of_params("sma_cross", best)
    assert ranking[0]["mean"] == pytest.approx(alone["stats"]["return_pct"], rel=1e-9)
    table = run(*args).output
    assert "ranked by sharpe_ratio" in table and "mean" in table
    assert (
        "n3"
        in run(
            "sweep", "run", "--strategy", "sma_cross", "--symbols", "GOOG", "--grid", "n3=1,2", code=2
        ).output
    )


def backtest_json_of_params(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
    flags = [part for name, value in params.items() for part in ("--param", f"{name}={value}")]
    document: dict[str, Any] = json.loads(
        run("backtest", "run", "--strategy", strategy, "--symbols", "GOOG", *flags, "--json").output
    )
    return document
