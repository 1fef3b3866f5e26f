"""The `trading` CLI's trading commands, end to end on a temporary data folder: accounts, orders
filled by the paper broker at the last close, listings, P&L, rejections and the kill switch."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from trading_system.entrypoints.cli import app

BARS = """ts,open,high,low,close,volume
2024-01-02,100,101,99,100.5,1000000
2024-01-03,100.5,102,100,101.25,1200000
2024-01-04,101,103,100.5,102.75,900000
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADING_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    return tmp_path


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}{result.exception!r}"
    return result


def ingest(folder: Path, text: str, name: str = "bars.csv") -> None:
    path = folder / name
    path.write_text(text)
    run("ingest", str(path), "--timeframe", "1d", "--symbol", "AAPL", "--register")


@pytest.fixture
def market(folder: Path) -> Path:
    """The default account `paper` with 100000 cash, and AAPL's daily bars (last close 102.75)."""
    run("accounts", "create", "paper", "--cash", "100000")
    ingest(folder, BARS)
    return folder


def fields(output: str) -> dict[str, str]:
    """`name: value` lines as a dict."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        name, sep, value = line.partition(":")
        if sep and " " not in name:
            out.setdefault(name, value.strip())
    return out


def rows(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def buy(*args: str, code: int = 0) -> Result:
    return run("order", "buy", *args, code=code)


def test_a_market_buy_fills_at_the_last_close(market: Path) -> None:
    placed = fields(buy("AAPL", "10").stdout)
    assert placed["status"] == "filled"
    assert placed["request"] == "buy 10 AAPL market day"
    assert placed["filled"] == "10 @ 102.75"

    shown = as_json(run("order", "show", placed["order"], "--format", "json"))
    assert shown["order"]["qty"] == "10"
    assert shown["order"]["filled_avg_price"] == "102.75"
    assert [e["type"] for e in shown["events"]] == ["OrderPlaced", "OrderAccepted", "OrderFilled"]

    position = rows(run("positions", "--format", "csv").stdout)
    assert len(position) == 1
    assert position[0]["symbol"] == "AAPL"
    assert position[0]["qty"] == "10"
    assert position[0]["current_price"] == "102.75"
    assert position[0]["market_value"] == "1027.50"
    table = run("positions").stdout.splitlines()
    assert table[0].split()[:3] == ["symbol", "qty", "avg_entry_price"]
    assert table[1].split()[:4] == ["AAPL", "10", "102.75", "102.75"]

    account = as_json(run("account", "--format", "json"))
    assert account["cash"] == "98972.50"
    assert account["equity"] == "100000.00"
    assert account["buying_power"] == "98972.50"
    text = fields(run("account").stdout)
    assert text["cash"] == "98972.50"
    assert text["long_market_value"] == "1027.50"

    (fill,) = rows(run("fills", "--format", "csv").stdout)
    assert (fill["symbol"], fill["side"], fill["qty"], fill["price"]) == ("AAPL", "buy", "10", "102.75")
    assert fill["order_id"] == placed["order"]
    assert fill["market_time"].startswith("2024-01-04")  # the bar whose close it filled at


def test_realized_pnl_by_symbol_and_by_day(market: Path) -> None:
    buy("AAPL", "10")
    ingest(market, "ts,open,high,low,close,volume\n2024-01-05,103,111,103,110,1000000\n", "more.csv")
    sold = fields(run("order", "sell", "AAPL", "4").stdout)
    assert sold["status"] == "filled"
    assert sold["filled"] == "4 @ 110"

    (position,) = rows(run("positions", "--format", "csv").stdout)
    assert position["qty"] == "6"
    assert position["realized_pl"] == "29.00"

    (by_symbol,) = rows(run("pnl", "--by", "symbol", "--format", "csv").stdout)
    assert by_symbol["symbol"] == "AAPL"
    assert by_symbol["realized_pl"] == "29.00"  # as the position reads it
    assert by_symbol["fills"] == "2"
    assert (by_symbol["bought_qty"], by_symbol["sold_qty"]) == ("10", "4")

    by_day = rows(run("pnl", "--by", "day", "--format", "csv").stdout)
    # each fill on the day of the bar whose close it filled at (not the day that bar ended)
    assert [(r["day"], r["realized_pl"]) for r in by_day] == [("2024-01-04", "0.00"), ("2024-01-05", "29.00")]
    later = rows(run("pnl", "--start", "2024-01-05", "--format", "csv").stdout)
    assert [r["day"] for r in later] == ["2024-01-05"]
    assert as_json(run("pnl", "--end", "2024-01-04", "--format", "json"))[0]["realized_pl"] == "0.00"
    assert len(rows(run("fills", "--symbol", "AAPL", "--limit", "1", "--format", "csv").stdout)) == 1

    run("pnl", "--by", "week", code=2)
    assert "2024-13-01" in run("pnl", "--start", "2024-13-01", code=2).stderr


def test_a_limit_gtc_order_rests_lists_and_cancels(market: Path) -> None:
    placed = fields(buy("AAPL", "5", "--limit", "90", "--tif", "gtc").stdout)
    assert placed["status"] == "accepted"
    assert placed["request"] == "buy 5 AAPL limit 90 gtc"
    order_id = placed["order"]

    (listed,) = rows(run("orders", "--format", "csv").stdout)
    assert listed["id"] == order_id
    assert (listed["type"], listed["time_in_force"], listed["limit_price"]) == ("limit", "gtc", "90")
    assert listed["status"] == "accepted"
    assert order_id in run("orders").stdout
    assert rows(run("orders", "--status", "closed", "--format", "csv").stdout) == []
    account = as_json(run("account", "--format", "json"))
    assert (account["open_orders"], account["reserved_cash"], account["buying_power"]) == (
        1,
        "450.00",
        "99550.00",
    )

    canceled = fields(run("cancel", order_id).stdout)
    assert canceled["status"] == "canceled"
    assert canceled["reason"] == "canceled by request"
    assert f"cannot cancel order {order_id}: it is canceled" in run("cancel", order_id, code=2).stderr
    assert rows(run("orders", "--format", "csv").stdout) == []
    (closed,) = rows(run("orders", "--status", "all", "--format", "csv").stdout)
    assert closed["status"] == "canceled"

    history = run("order", "show", order_id).stdout
    assert "request:         buy 5 AAPL limit 90 gtc" in history
    events = [line.split() for line in history.split("\n\n")[1].splitlines()]
    assert events[0][:6] == ["version", "recorded_at", "type", "by", "command", "detail"]
    assert [e[2] for e in events[1:]] == ["OrderPlaced", "OrderAccepted", "OrderCanceled"]
    assert events[3][3:6] == ["system", "(admin)", "CancelOrder"]
    assert run("order", "show", "no-such-order", code=2).stderr.startswith("error: order no-such-order")


def test_fractional_and_notional_orders_print_exact_decimals(market: Path) -> None:
    order = as_json(buy("AAPL", "0.123456789", "--format", "json"))
    assert order["qty"] == "0.123456789"
    assert order["filled_qty"] == "0.123456789"
    notional = fields(buy("AAPL", "--notional", "500.50").stdout)
    assert notional["request"] == "buy $500.50 of AAPL market day"
    assert notional["filled"] == "4.871046228 @ 102.75"
    held = rows(run("positions", "--format", "csv").stdout)[0]["qty"]
    assert held == "4.994503017"


def test_a_bad_request_exits_2_naming_the_field(market: Path) -> None:
    assert "limit_price" in buy("AAPL", "5", "--type", "limit", code=2).stderr
    assert "--limit: 'abc' is not a number" in buy("AAPL", "5", "--limit", "abc", code=2).stderr
    assert "limit_price" in buy("AAPL", "5", "--limit", "0", code=2).stderr
    assert "notional" in buy("AAPL", "5", "--notional", "100", code=2).stderr
    assert "qty" in buy("AAPL", code=2).stderr
    assert "unknown symbol MSFT" in buy("MSFT", "1", code=2).stderr
    assert "account nobody does not exist" in buy("AAPL", "1", "--account", "nobody", code=2).stderr
    buy("AAPL", "5", "--tif", "forever", code=2)
    assert rows(run("orders", "--status", "all", "--format", "csv").stdout) == []


def test_a_rejected_order_exits_1_with_its_reason(market: Path) -> None:
    result = buy("AAPL", "5000", code=1)
    reason = "insufficient buying power: the order needs 513750.00, buying power is 100000.00"
    assert f"rejected: {reason}" in result.stderr
    assert fields(result.stdout)["status"] == "rejected"
    (rejected,) = rows(run("orders", "--status", "closed", "--format", "csv").stdout)
    assert rejected["status"] == "rejected"
    assert (
        as_json(run("order", "show", rejected["id"], "--format", "json"))["order"]["reject_reason"] == reason
    )
    assert as_json(run("account", "--format", "json"))["cash"] == "100000.00"

    sell = run("order", "sell", "AAPL", "1", code=1)
    assert "insufficient position" in sell.stderr


def test_a_client_order_id_places_one_order(market: Path) -> None:
    first = fields(buy("AAPL", "1", "--client-order-id", "mine-1").stdout)
    again = buy("AAPL", "1", "--client-order-id", "mine-1")
    assert fields(again.stdout)["order"] == first["order"]
    assert "placed before" in again.stderr
    assert "already used" in buy("AAPL", "2", "--client-order-id", "mine-1", code=2).stderr
    assert len(rows(run("fills", "--format", "csv").stdout)) == 1


def test_halt_refuses_orders_until_resume(market: Path) -> None:
    resting = fields(buy("AAPL", "5", "--limit", "90", "--tif", "gtc").stdout)["order"]

    halted = run("halt", "risk review", "--cancel-open").stdout
    assert "trading is HALTED: risk review" in halted
    assert fields(halted)["by"] == "system"
    assert "kill switch: risk review" in fields(run("order", "show", resting).stdout)["reason"]
    assert "rejected: trading is halted: risk review" in buy("AAPL", "1", code=1).stderr

    assert "trading is running" in run("resume").stdout
    assert fields(buy("AAPL", "1").stdout)["status"] == "filled"
    run("halt", "", code=2)


def test_accounts_create_list_reset(market: Path) -> None:
    created = run(
        "accounts",
        "create",
        "alt",
        "--cash",
        "2500.50",
        "--commission-per-share",
        "0.005",
        "--commission-min",
        "1",
        "--slippage-bps",
        "2.5",
        "--max-order-notional",
        "1000",
        "--restrict",
        "TSLA",
        "--restrict",
        "gme",
        "--format",
        "json",
    )
    account = as_json(created)
    assert account["starting_cash"] == "2500.50"
    assert account["settings"]["commission_per_share"] == "0.005"
    assert account["settings"]["slippage_bps"] == "2.5"
    assert account["settings"]["restricted_symbols"] == ["TSLA", "GME"]
    assert "already exists" in run("accounts", "create", "alt", "--cash", "1", code=2).stderr
    assert "starting_cash" in run("accounts", "create", "neg", "--cash", "-5", code=2).stderr
    assert (
        "participation_cap"
        in run("accounts", "create", "cap", "--cash", "5", "--participation-cap", "2", code=2).stderr
    )

    listed = {r["account_id"]: r for r in rows(run("accounts", "list", "--format", "csv").stdout)}
    assert listed["alt"]["cash"] == "2500.50"
    assert listed["paper"]["cash"] == "100000.00"
    table = run("accounts", "list").stdout
    assert table.splitlines()[0].split()[:4] == ["account_id", "owner", "cash", "buying_power"]
    assert listed["paper"]["owner"] == "admin"

    assert "max_order_notional 1000" in buy("AAPL", "10", "--account", "alt", code=1).stderr
    placed = fields(buy("AAPL", "5", "--account", "alt").stdout)
    assert placed["account"] == "alt"
    assert placed["filled"] == "5 @ 102.7757"  # 102.75 slipped by 2.5 bps
    assert placed["commission"] == "1.00"
    assert rows(run("positions", "--format", "csv").stdout) == []
    assert rows(run("positions", "--account", "alt", "--format", "csv").stdout)[0]["qty"] == "5"
    run("symbols", "add", "TSLA")
    assert "TSLA is restricted on account alt" in buy("TSLA", "1", "--account", "alt", code=1).stderr

    reset = fields(run("accounts", "reset", "alt", "--cash", "5000").stdout)
    assert (reset["cash"], reset["epoch"]) == ("5000", "1")
    assert "commission_per_share=0.005" in reset["settings"]
    assert rows(run("positions", "--account", "alt", "--format", "csv").stdout) == []
    assert rows(run("pnl", "--account", "alt", "--format", "csv").stdout) == []
    assert "does not exist" in run("accounts", "reset", "nobody", code=2).stderr


def test_accounts_outside_hours_is_set_at_creation_and_changed_with_a_reset(market: Path) -> None:
    created = as_json(
        run("accounts", "create", "night", "--cash", "1000", "--outside-hours", "refuse", "--format", "json")
    )
    assert created["settings"]["outside_hours"] == "refuse"
    assert "outside_hours=refuse" in fields(run("account", "--account", "night").stdout)["settings"]
    refused = run("accounts", "create", "odd", "--cash", "1", "--outside-hours", "later", code=2).stderr
    assert "outside_hours" in refused and "'queue' or 'refuse'" in refused
    assert as_json(run("account", "--format", "json"))["settings"]["outside_hours"] == "queue"  # default

    run("accounts", "create", "costly", "--cash", "1000", "--commission-bps", "3")
    reset = as_json(run("accounts", "reset", "costly", "--outside-hours", "refuse", "--format", "json"))
    # the one setting changes, the others stay
    assert (reset["settings"]["outside_hours"], reset["settings"]["commission_bps"]) == ("refuse", "3")
    back = fields(run("accounts", "reset", "night", "--outside-hours", "queue").stdout)
    assert back["settings"] == "defaults"
    assert "does not exist" in run("accounts", "reset", "nobody", "--outside-hours", "queue", code=2).stderr


def test_a_market_order_outside_hours_says_until_when_it_waits(market: Path) -> None:
    """The CLI runs on the wall clock: whichever way the New York market is now, what the
    order shows must agree with it."""
    from datetime import UTC, datetime

    from trading_system.market_data.domain import Listing
    from trading_system.trading.sessions import market_closed

    run("symbols", "add", "NYSX", "--exchange", "NYSE")
    (market / "nysx.csv").write_text(BARS)
    run("ingest", str(market / "nysx.csv"), "--timeframe", "1d", "--symbol", "NYSX")
    listing = Listing(symbol="NYSX", exchange="NYSE", registered_at=datetime.now(UTC))
    closed = market_closed(listing, datetime.now(UTC))
    placed = fields(buy("NYSX", "2").stdout)
    if (market_closed(listing, datetime.now(UTC)) is None) != (closed is None):
        pytest.skip("the market opened or closed while the order was placed")
    if closed is None:  # in session: filled at the last close
        assert placed["status"] == "filled" and "queued_until" not in placed
    else:
        assert placed["status"] == "accepted" and placed["filled"] == "0"
        assert placed["queued_until"] == closed.next_open.isoformat()
        run("accounts", "create", "night", "--cash", "1000", "--outside-hours", "refuse")
        refused = buy("NYSX", "2", "--account", "night", code=1).stderr
        assert "XNYS is closed: the next session opens" in refused and "outside_hours=refuse" in refused


def test_accounts_for_a_user_and_its_readers(market: Path) -> None:
    created = fields(run("accounts", "create", "desk", "--cash", "1000", "--owner", "alice").stdout)
    assert (created["owner"], created["readers"]) == ("alice", "-")
    assert fields(run("accounts", "grant", "desk", "carol").stdout)["readers"] == "carol"
    assert fields(run("accounts", "grant", "desk", "bob").stdout)["readers"] == "bob, carol"
    assert fields(run("accounts", "revoke", "desk", "carol").stdout)["readers"] == "bob"
    listed = {r["account_id"]: r for r in rows(run("accounts", "list", "--format", "csv").stdout)}
    assert listed["desk"]["owner"] == "alice"
    assert "user" in run("accounts", "grant", "desk", "not a user", code=2).stderr
    assert "does not exist" in run("accounts", "grant", "nowhere", "carol", code=2).stderr


def test_the_demo_seed_creates_the_default_account_even_over_older_demo_data(folder: Path) -> None:
    """Data seeded before Trading existed gets the demo account on the next `make run`."""
    small = ("--symbols", "3", "--days", "30", "--intraday-symbols", "0", "--intraday-days", "0")
    run("demo", "seed", *small)
    positions = json.loads(run("positions", "--format", "json").output)
    assert len(positions) == 2
    assert len(json.loads(run("orders", "--format", "json").output)) == 1  # the resting limit

    older = folder / "older"
    older.mkdir()
    (folder / "data").rename(older / "data")
    run("symbols", "add", "OLD")  # symbols but no account, as before Trading existed
    run("demo", "seed", "--if-empty", *small)
    account = json.loads(run("account", "--format", "json").output)
    assert account["starting_cash"] in ("100000", "100000.00")
    assert json.loads(run("orders", "--status", "all", "--format", "json").output) == []
