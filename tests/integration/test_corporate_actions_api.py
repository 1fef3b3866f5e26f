"""Splits over the HTTP API of the local app: bars read raw by default and split-adjusted on
request, indicators and backtests read split-adjusted, and recording actions is validated and
idempotent."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from backtesting.test import GOOG
from fastapi.testclient import TestClient

from tests.conftest import Keys
from trading_system.bootstrap import Container
from trading_system.kernel.errors import NotFound, ValidationFailed
from trading_system.market_data.commands import CorporateActionRow, RecordCorporateActions
from trading_system.market_data.domain import ActionKind
from trading_system.market_data.queries import ListCorporateActions

SPLIT_AT = 1000  # GOOG's bar index whose date is the 4:1 split's ex-date


def split_row(ex_date: date, new: str = "4", old: str = "1") -> CorporateActionRow:
    return CorporateActionRow(
        kind=ActionKind.SPLIT, ex_date=ex_date, new_rate=Decimal(new), old_rate=Decimal(old)
    )


def daily(scale_before: float) -> list[dict[str, Any]]:
    """GOOG's daily bars, with prices before SPLIT_AT multiplied by `scale_before` and volumes
    divided by it: what GOOG would have traded at had it split 4:1 on that day."""
    rows = []
    for i, (ts, o, h, lo, c, v) in enumerate(
        zip(GOOG.index, GOOG.Open, GOOG.High, GOOG.Low, GOOG.Close, GOOG.Volume, strict=True)
    ):
        k = scale_before if i < SPLIT_AT else 1.0
        rows.append(
            {"ts": ts.strftime("%Y-%m-%d"), "open": o * k, "high": h * k, "low": lo * k}
            | {"close": c * k, "volume": v / k}
        )
    return rows


@pytest.fixture
def split_goog(client: TestClient, keys: Keys, container: Container) -> date:
    """SPLT: GOOG as raw prices with a 4:1 split at SPLIT_AT; GOOG itself: the same series, never split."""
    for symbol, scale in (("SPLT", 4.0), ("GOOG", 1.0)):
        created = client.post("/v1/symbols", json={"symbol": symbol}, headers=keys.header("trader"))
        assert created.status_code == 201, created.text
        response = client.post(
            "/v1/bars",
            json={"timeframe": "1d", "symbol": symbol, "bars": daily(scale)},
            headers=keys.header("trader"),
        )
        assert response.status_code == 201, response.text
    ex_date = GOOG.index[SPLIT_AT].date()
    recorded = container.bus.execute(RecordCorporateActions(symbol="SPLT", actions=[split_row(ex_date)]))
    assert (recorded.recorded, recorded.unchanged) == (1, 0)
    return ex_date


def bars(client: TestClient, keys: Keys, symbol: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/v1/bars/{symbol}?timeframe=1d&limit=50000{query}", headers=keys.header("viewer"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["bars"]
    return found


def test_bars_are_raw_by_default_and_continuous_when_split_adjusted(
    client: TestClient, keys: Keys, split_goog: date
) -> None:
    raw = bars(client, keys, "SPLT")
    assert raw == bars(client, keys, "SPLT", "&adjustment=raw")
    # Raw: the day before the ex-date trades at four times the price; the day of it, at GOOG's.
    before, on = raw[SPLIT_AT - 1], raw[SPLIT_AT]
    assert before["close"] == pytest.approx(4 * GOOG.Close.iloc[SPLIT_AT - 1])
    assert on["close"] == pytest.approx(GOOG.Close.iloc[SPLIT_AT])
    adjusted = client.get(
        "/v1/bars/SPLT?timeframe=1d&limit=50000&adjustment=split", headers=keys.header("viewer")
    ).json()
    assert adjusted["adjustment"] == "split"
    never_split = bars(client, keys, "GOOG")
    assert len(adjusted["bars"]) == len(never_split) == len(GOOG)
    for got, want in zip(adjusted["bars"], never_split, strict=True):
        assert got["ts"] == want["ts"]
        for field in ("open", "high", "low", "close", "volume"):
            assert got[field] == pytest.approx(want[field], rel=1e-12)
    # The split is there to list; a bad adjustment is a 422 naming the parameter.
    bad = client.get("/v1/bars/SPLT?adjustment=total", headers=keys.header("viewer"))
    assert bad.status_code == 422 and "adjustment" in bad.text


def test_indicators_read_split_adjusted_prices(client: TestClient, keys: Keys, split_goog: date) -> None:
    def sma(symbol: str) -> list[float]:
        response = client.get(
            f"/v1/indicators/{symbol}",
            params={"specs": "sma:5", "timeframe": "1d", "limit": 5000},
            headers=keys.header("viewer"),
        )
        assert response.status_code == 200, response.text
        return [row["sma_5"] for row in response.json()["rows"][4:]]  # after the warm-up

    split, never_split = sma("SPLT"), sma("GOOG")
    assert len(split) == len(GOOG) - 4
    # The average of the 5 days around the ex-date is GOOG's, not a mix of 4x and 1x prices.
    assert split == pytest.approx(never_split, rel=1e-12)


def test_a_backtest_across_the_split_does_not_see_a_crash(
    client: TestClient, keys: Keys, split_goog: date
) -> None:
    def run(symbol: str, adjustment: str = "split") -> dict[str, Any]:
        request = {
            "strategy": "sma_cross",
            "params": {"n1": 10, "n2": 20},
            "symbols": [symbol],
            "adjustment": adjustment,
        }
        queued = client.post("/v1/backtests", json=request, headers=keys.header("trader"))
        assert queued.status_code == 202, queued.text
        job = client.get(f"/v1/backtests/{queued.json()['backtest_id']}", headers=keys.header("viewer"))
        assert job.json()["status"] == "completed", job.text
        stats: dict[str, Any] = job.json()["outcome"]["stats"]
        return stats

    split, never_split = run("SPLT"), run("GOOG")
    # Read raw, SPLT falls 75% overnight; adjusted, it is GOOG's own series, traded the same way.
    assert split["trades"] == never_split["trades"] > 0
    assert split["equity_final"] == pytest.approx(never_split["equity_final"], rel=1e-9)
    assert split["max_drawdown_pct"] == pytest.approx(never_split["max_drawdown_pct"], rel=1e-9)
    assert split["max_drawdown_pct"] > -75
    # Asked for raw prices, the backtest sees the overnight fall the split made.
    raw = run("SPLT", "raw")
    assert raw["equity_final"] != pytest.approx(never_split["equity_final"], rel=1e-6)


def test_recording_is_validated_per_row_idempotent_and_listed(container: Container, split_goog: date) -> None:
    bus = container.bus
    again = bus.execute(RecordCorporateActions(symbol="SPLT", actions=[split_row(split_goog)]))
    assert (again.recorded, again.unchanged) == (0, 1)
    dividend = CorporateActionRow(
        kind=ActionKind.CASH_DIVIDEND, ex_date=date(2010, 3, 1), amount=Decimal("0.12"), currency="USD"
    )
    both = bus.execute(RecordCorporateActions(symbol="SPLT", actions=[split_row(split_goog), dividend]))
    assert (both.recorded, both.unchanged) == (1, 1)
    listed = bus.ask(ListCorporateActions(symbol="SPLT"))
    assert [(a.kind, a.ex_date) for a in listed] == sorted(
        [(ActionKind.SPLIT, split_goog), (ActionKind.CASH_DIVIDEND, date(2010, 3, 1))], key=lambda k: k[1]
    )
    assert [a.amount for a in bus.ask(ListCorporateActions(symbol="SPLT", kind="cash_dividend"))] == [
        Decimal("0.12")
    ]

    bad = [
        split_row(date(2011, 1, 3), new="1"),  # 1 for 1
        CorporateActionRow(kind=ActionKind.SPLIT, ex_date=date(2011, 2, 1), new_rate=Decimal(2)),
        CorporateActionRow(kind=ActionKind.CASH_DIVIDEND, ex_date=date(2011, 3, 1), amount=Decimal("0.1")),
        split_row(date(2012, 1, 3)),
        split_row(date(2012, 1, 3), new="2"),  # the same ex-date twice
        split_row(date.today() + timedelta(days=7)),  # announced, not effective yet
    ]
    with pytest.raises(ValidationFailed) as failed:
        bus.execute(RecordCorporateActions(symbol="SPLT", actions=bad))
    assert {(p.row, p.field) for p in failed.value.problems} == {
        (1, "new_rate"),
        (2, "old_rate"),
        (3, "currency"),
        (5, "ex_date"),
        (6, "ex_date"),
    }
    assert len(bus.ask(ListCorporateActions(symbol="SPLT"))) == 2  # nothing of the batch was written
    with pytest.raises(NotFound):
        bus.execute(RecordCorporateActions(symbol="NOPE", actions=[split_row(date(2012, 1, 3))]))


def test_actions_are_recorded_and_listed_over_http(client: TestClient, keys: Keys, split_goog: date) -> None:
    path = "/v1/symbols/SPLT/corporate-actions"
    listed = client.get(path, headers=keys.header("viewer"))
    assert listed.status_code == 200, listed.text
    assert listed.json() == [
        {
            "symbol": "SPLT",
            "kind": "split",
            "ex_date": split_goog.isoformat(),
            "new_rate": "4",
            "old_rate": "1",
            "amount": None,
            "currency": None,
        }
    ]
    body = {
        "actions": [
            {"kind": "cash_dividend", "ex_date": "2009-06-01", "amount": "0.35", "currency": "USD"},
            {"kind": "split", "ex_date": split_goog.isoformat(), "new_rate": 4, "old_rate": 1},
        ]
    }
    created = client.post(path, json=body, headers=keys.header("trader"))
    assert created.status_code == 201, created.text
    assert created.json() == {"symbol": "SPLT", "recorded": 1, "unchanged": 1}
    assert created.headers["Location"] == path
    again = client.post(path, json=body, headers=keys.header("trader"))
    assert again.status_code == 200 and again.json()["recorded"] == 0
    dividends = client.get(f"{path}?kind=cash_dividend", headers=keys.header("viewer")).json()
    assert [(d["ex_date"], d["amount"]) for d in dividends] == [("2009-06-01", "0.35")]

    bad = {"actions": [{"kind": "split", "ex_date": "2010-01-04", "new_rate": 3}]}
    refused = client.post(path, json=bad, headers=keys.header("trader"))
    assert refused.status_code == 422
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(1, "old_rate")]
    assert client.post(path, json=body, headers=keys.header("viewer")).status_code == 403
    assert client.get("/v1/symbols/NOPE/corporate-actions", headers=keys.header("viewer")).status_code == 404
