"""`trading data backfill`, as a user runs it, against the fake provider server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.fakes.provider_server import ALPACA_KEY_ID, ALPACA_SECRET, ProviderServer
from trading_system.entrypoints.cli import app

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderServer]:
    running = ProviderServer().start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("TRADING_PROVIDER_URLS", json.dumps({"alpaca": running.url, "binance": running.url}))
    monkeypatch.setenv("TRADING_PROVIDER_TIMEOUT_S", "5")
    monkeypatch.setenv("TRADING_ALPACA_KEY_ID", ALPACA_KEY_ID)
    monkeypatch.setenv("TRADING_ALPACA_SECRET_KEY", ALPACA_SECRET)
    yield running
    running.stop()


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}{result.exception!r}"
    return result


def backfill(*extra: str, code: int = 0) -> Result:
    return run("data", "backfill", "--timeframe", "1m", "--start", START.isoformat(), *extra, code=code)


def test_backfill_two_symbols_then_read_them(server: ProviderServer) -> None:
    server.state.add("AAPL", START, 150)
    server.state.add("MSFT", START, 90, price=370.0)
    end = (START + 149 * MINUTE).isoformat()
    result = backfill("--provider", "alpaca", "--symbols", "AAPL, MSFT", "--end", end)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["symbol", "bars", "pages", "resumed_from", "through"]
    assert lines[1].split()[:3] == ["AAPL", "150", "1"] and lines[2].split()[:3] == ["MSFT", "90", "1"]
    csv = run("bars", "AAPL", "--timeframe", "1m", "--start", START.isoformat()).stdout.splitlines()
    assert csv[0] == "ts,open,high,low,close,volume" and len(csv) == 151
    assert csv[1].startswith("2024-01-02T14:30:00Z,")
    # run again: everything is there already, so nothing is fetched
    server.state.requests.clear()
    again = json.loads(
        backfill("--provider", "alpaca", "--symbols", "AAPL,MSFT", "--end", end, "--format", "json").stdout
    )
    assert again["bars"] == 0 and server.state.bar_requests("alpaca") == []


def test_a_crypto_backfill(server: ProviderServer) -> None:
    server.state.add("BTCUSDT", START, 30, price=42_000.0)
    end = (START + 29 * MINUTE).isoformat()
    report = json.loads(
        backfill("--provider", "binance", "--symbols", "btc-usdt", "--end", end, "--format", "json").stdout
    )
    assert report["bars"] == 30 and report["symbols"][0]["symbol"] == "BTC-USDT"
    assert run("symbols").stdout.splitlines()[1].startswith("BTC-USDT,crypto,binance,1m:")


def test_a_crypto_backfill_keeps_the_unified_pair_name(server: ProviderServer) -> None:
    server.state.add("BTCUSDT", START, 30, price=42_000.0)
    end = (START + 29 * MINUTE).isoformat()
    report = json.loads(
        backfill("--provider", "binance", "--symbols", "btc/usdt", "--end", end, "--format", "json").stdout
    )
    assert report["bars"] == 30 and report["symbols"][0]["symbol"] == "BTC/USDT"
    assert run("symbols").stdout.splitlines()[1].startswith("BTC/USDT,crypto,binance,1m:")
    csv = run("bars", "BTC/USDT", "--timeframe", "1m", "--start", START.isoformat()).stdout.splitlines()
    assert len(csv) == 31 and csv[1].startswith("2024-01-02T14:30:00Z,")
    run("lake", "compact")
    partitions = {path.name for path in Path("data").rglob("symbol=*")}
    assert partitions == {"symbol=BTC%2FUSDT"}  # one folder, the pair's slash encoded in its name


def test_an_unknown_provider_exits_2_naming_the_known_ones(server: ProviderServer) -> None:
    result = backfill("--provider", "bloomberg", "--symbols", "AAPL", code=2)
    assert "unknown provider 'bloomberg'" in result.output and "alpaca" in result.output


def test_missing_keys_name_the_settings_never_the_key(
    server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADING_ALPACA_SECRET_KEY")
    result = backfill("--provider", "alpaca", "--symbols", "AAPL", "--end", "2024-01-03", code=2)
    assert "TRADING_ALPACA_SECRET_KEY" in result.output and ALPACA_KEY_ID not in result.output
    assert server.state.bar_requests("alpaca") == []


def test_a_start_in_the_future_exits_2(server: ProviderServer) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    result = run(
        "data",
        "backfill",
        "--provider",
        "alpaca",
        "--symbols",
        "AAPL",
        "--timeframe",
        "1d",
        "--start",
        tomorrow,
        code=2,
    )
    assert "in the future" in result.output


def test_an_empty_answer_warns(server: ProviderServer) -> None:
    result = backfill("--provider", "alpaca", "--symbols", "ZZZZ", "--end", "2024-01-03")
    assert "no 1m bars for ZZZZ" in result.output


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_shows_on_a_terminal_only(server: ProviderServer, terminal: bool) -> None:
    import io

    from rich.console import Console

    from trading_system.entrypoints.cli.common import build_container
    from trading_system.entrypoints.cli.market_data import backfill_progress
    from trading_system.market_data.commands import BackfillBars

    server.state.add("AAPL", START, 120)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=terminal, width=100)
    container = build_container()
    command = BackfillBars(
        provider="alpaca", symbols=["AAPL"], timeframe="1m", start=START, end=START + 119 * MINUTE
    )
    with backfill_progress(container, console, command):
        container.bus.execute(command)
    assert container.bus.observers == []  # the bar stops listening when the backfill ends
    if terminal:
        assert "AAPL" in screen.getvalue() and "120 bars" in screen.getvalue()
    else:
        assert screen.getvalue() == ""
