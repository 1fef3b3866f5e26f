"""Backtests whose universe comes from a scanner, by date: a symbol may be entered only on bars
where the scanner matched it, from the bars up to that bar. The scanner, run live at each
date on only the data it had then, matched exactly what the backtest lets in; a signal on day D
is acted on at D+1's open, never before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration.test_analytics_scanning_api import daily
from tests.integration.test_backtests_api import get, submit

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
UNIVERSE = {"RISER": daily(90, 1, 0.012), "FALLER": daily(90, 2, -0.01), "DRIFTER": daily(90, 3, 0.002)}
RULE = "close > 1.08 * sma(10)"  # a strong close: matched on some bars, not others


def ingest(client: TestClient, keys: Keys, symbol: str, bars: list[dict[str, Any]]) -> None:
    response = client.post(
        "/v1/bars", json={"timeframe": "1d", "symbol": symbol, "bars": bars}, headers=keys.header("trader")
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def scanner(client: TestClient, keys: Keys) -> str:
    for symbol in UNIVERSE:
        assert (
            client.post(
                "/v1/symbols", json={"symbol": symbol, "tags": ["uni"]}, headers=keys.header("trader")
            ).status_code
            == 201
        )
    definition = {
        "name": "strong",
        "universe": {"type": "tag", "tag": "uni"},
        "timeframe": "1d",
        "rules": [RULE],
        "run_on_refresh": False,
    }
    response = client.post("/v1/scanners", json=definition, headers=keys.header("trader"))
    assert response.status_code == 201, response.text
    scanner_id: str = response.json()["scanner_id"]
    return scanner_id


def test_the_universe_on_each_day_is_what_the_scanner_matched_that_day(
    client: TestClient, keys: Keys, scanner: str
) -> None:
    # Live: the bars arrive a day at a time and the scanner runs on each day's data only.
    matched: dict[str, set[str]] = {}
    for day in range(90):
        for symbol, bars in UNIVERSE.items():
            ingest(client, keys, symbol, [bars[day]])
        run = client.post(f"/v1/scanners/{scanner}/runs", headers=keys.header("trader")).json()
        matched[UNIVERSE["RISER"][day]["ts"]] = {m["symbol"] for m in run["matches"]}
    assert sum(len(s) for s in matched.values()) >= 5, "the rule should match now and then"

    # The backtest over the whole history, universe from the scanner, enters only on the day
    # after a match, at that day's open.
    queued = submit(
        client,
        keys,
        strategy="scanner_signals",
        symbols=[],
        universe_scanner=scanner,
        params={"hold_bars": 1, "fraction": 0.3},
    )
    job = get(client, keys, f"/v1/backtests/{queued['backtest_id']}")
    assert job["status"] == "completed", job
    assert sorted(job["request"]["symbols"]) == sorted(UNIVERSE)
    trades = get(client, keys, f"/v1/backtests/{job['backtest_id']}/trades?limit=10000")
    assert trades
    for trade in trades:
        entry_day = trade["entry_time"][:10]
        signal_day = (datetime.fromisoformat(entry_day) - timedelta(days=1)).strftime("%Y-%m-%d")
        assert trade["symbol"] in matched[signal_day], (trade, matched[signal_day])
        bar = next(b for b in UNIVERSE[trade["symbol"]] if b["ts"] == entry_day)
        assert trade["entry_price"] == bar["open"]  # D+1's open, never D's close
    # Every match that found the strategy flat was traded (one day held: flat again next day).
    entries = {(t["symbol"], t["entry_time"][:10]) for t in trades}
    days = sorted(matched)
    for i, day in enumerate(days[:-1]):
        for symbol in matched[day]:
            held_over = (symbol, day) in entries  # it entered today: still in at today's close
            if not held_over:
                assert (symbol, days[i + 1]) in entries, (symbol, day)


def test_another_strategy_is_gated_by_the_scanner_too(client: TestClient, keys: Keys, scanner: str) -> None:
    for symbol, bars in UNIVERSE.items():
        ingest(client, keys, symbol, bars)
    request = {"strategy": "rsi_reversion", "symbols": ["DRIFTER"], "params": {"lower": 55, "upper": 60}}
    free = get(client, keys, f"/v1/backtests/{submit(client, keys, **request)['backtest_id']}")
    gated_id = submit(client, keys, **request, universe_scanner=scanner)["backtest_id"]
    gated = get(client, keys, f"/v1/backtests/{gated_id}")
    assert gated["universe_rules"] == [RULE] and free["universe_rules"] is None
    assert gated["outcome"]["stats"]["trades"] < free["outcome"]["stats"]["trades"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"universe_scanner": "scn_nope"}, "universe_scanner", "no scanner scn_nope"),
        ({"timeframe": "1h"}, "universe_scanner", "scans 1d bars, the backtest 1h"),
        ({"profile": "last_close"}, "profile", "next bar's open at the earliest"),
        ({"universe_scanner": None}, "universe_scanner", "name the scanner in universe_scanner"),
        ({"universe_scanner": None, "symbols": []}, "universe_scanner", "name at least one symbol"),
    ],
)
def test_bad_scanner_universes_are_refused(
    client: TestClient, keys: Keys, scanner: str, changes: dict[str, Any], field: str, message: str
) -> None:
    for symbol, bars in UNIVERSE.items():
        ingest(client, keys, symbol, bars)
    body = {"strategy": "scanner_signals", "symbols": ["RISER"], "universe_scanner": scanner, **changes}
    response = client.post("/v1/backtests", json=body, headers=keys.header("trader"))
    assert response.status_code == 422 and message in response.text, response.text
    assert any(str(p.get("field", "")).endswith(field) for p in response.json()["errors"]), response.json()
