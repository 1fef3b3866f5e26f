"""Market orders outside their symbol's trading hours, through the HTTP API of the local app
(issue 11, "Trading uses the calendar"): an account set to `outside_hours: refuse` has them
rejected with the session times, one set to `queue` (the default) keeps them open until the
first bar of the next session, which fills them; a queued day order expires at that session's
close. The market is the XNYS calendar around Thanksgiving 2024 (Friday the 29th closed early,
at 13:00 New York); the container's clock is moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.fakes.clock import MovableClock
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import Settings
from trading_system.trading.commands import CloseSession

D = Decimal
WEDNESDAY_EVENING = "2024-11-27T22:00:00"  # after Wednesday's close, Thanksgiving next
SATURDAY = "2024-11-30T15:00:00"
NEXT_OPEN = "the next session opens 2024-12-02 09:30 America/New_York (14:30 UTC)"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(utc(WEDNESDAY_EVENING))


@pytest.fixture
def container(settings: Settings, clock: MovableClock) -> Container:
    return bootstrap(settings, clock=clock)


class Market:
    def __init__(self, client: TestClient, keys: Keys, clock: MovableClock) -> None:
        self.client, self.keys, self.clock = client, keys, clock

    def at(self, moment: str) -> None:
        self.clock.at = utc(moment)

    def post(self, path: str, body: Any, role: str = "trader") -> httpx.Response:
        response: httpx.Response = self.client.post(path, json=body, headers=self.keys.header(role))
        return response

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.keys.header("viewer"))
        assert response.status_code == 200, response.text
        return response.json()

    def ingest(self, symbol: str, timeframe: str, *bars: tuple[str, str]) -> None:
        """Bars (start, open) at flat prices around the open."""
        rows = [
            {"ts": ts, "open": o, "high": o + 1, "low": o - 1, "close": o, "volume": 1e6}
            for ts, o in ((ts, float(o)) for ts, o in bars)
        ]
        response = self.post("/v1/bars", {"timeframe": timeframe, "symbol": symbol, "bars": rows})
        assert response.status_code == 201, response.text

    def market_buy(
        self, account: str, symbol: str = "SPY", tif: str = "day", qty: str = "10"
    ) -> httpx.Response:
        body = {"account_id": account, "symbol": symbol, "side": "buy", "qty": qty, "time_in_force": tif}
        return self.post("/v1/orders", body)

    def placed(self, account: str, symbol: str = "SPY", tif: str = "day", qty: str = "10") -> dict[str, Any]:
        response = self.market_buy(account, symbol, tif, qty)
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    def refused(self, account: str, symbol: str = "SPY") -> dict[str, Any]:
        response = self.market_buy(account, symbol)
        assert response.status_code == 422, response.text
        found = response.json()
        assert found["type"] == "/problems/order-rejected"
        order: dict[str, Any] = found["order"]
        assert order["status"] == "rejected" and order["reject_reason"] in found["detail"]
        return order

    def order(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/v1/orders/{order_id}")
        return found


@pytest.fixture
def market(client: TestClient, keys: Keys, clock: MovableClock) -> Market:
    market = Market(client, keys, clock)
    for symbol, exchange in (("SPY", "NYSE"), ("DIA", "NYSE"), ("COIN", "CRYPTO")):
        registered = market.post("/v1/symbols", {"symbol": symbol, "exchange": exchange})
        assert registered.status_code == 201, registered.text
    # Daily bars up to Wednesday: the last price is Wednesday's close, 100.
    market.ingest("SPY", "1d", ("2024-11-26", "99"), ("2024-11-27", "100"))
    market.ingest("DIA", "1d", ("2024-11-27", "400"))
    market.ingest("COIN", "1d", ("2024-11-27", "50"))
    return market


def create(market: Market, account_id: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"account_id": account_id, "starting_cash": "100000"}
    if settings is not None:
        body["settings"] = settings
    response = market.post("/v1/accounts", body, role="admin")
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_an_account_that_refuses_rejects_market_orders_while_the_market_is_closed(market: Market) -> None:
    created = create(market, "strict", {"outside_hours": "refuse"})
    assert created["settings"]["outside_hours"] == "refuse"
    assert market.get("/v1/account", account_id="strict")["settings"]["outside_hours"] == "refuse"

    # After Friday's early close (13:30 New York): refused, naming both session times.
    market.at("2024-11-29T18:30:00")
    after_close = market.refused("strict")
    assert after_close["reject_reason"] == (
        f"XNYS is closed: {NEXT_OPEN}, the last closed 2024-11-29 13:00 America/New_York (18:00 UTC); "
        "account strict refuses market orders outside hours (outside_hours=refuse): place it when the "
        "market is open, or use a limit order"
    )
    # Recorded as any rejection: the order and its trail say so, with the reason's kind.
    assert market.order(after_close["id"])["status"] == "rejected"
    trail = market.get(f"/v1/orders/{after_close['id']}/events")
    assert [e["type"] for e in trail] == ["OrderPlaced", "OrderRejected"]
    assert trail[-1]["data"]["code"] == "market_closed"

    # The weekend: refused too; a limit order rests; a 24/7 symbol is never outside hours.
    market.at(SATURDAY)
    assert NEXT_OPEN in market.refused("strict")["reject_reason"]
    limit = {"account_id": "strict", "symbol": "SPY", "side": "buy", "qty": "1", "type": "limit"}
    resting = market.post("/v1/orders", {**limit, "limit_price": "90", "time_in_force": "gtc"})
    assert (resting.status_code, resting.json()["status"]) == (201, "accepted")
    assert market.placed("strict", "COIN")["status"] == "filled"

    # Monday before the open (09:00 New York): refused; at 10:00, in session, filled at once.
    market.at("2024-12-02T14:00:00")
    assert NEXT_OPEN in market.refused("strict")["reject_reason"]
    market.at("2024-12-02T15:00:00")
    filled = market.placed("strict")
    assert (filled["status"], D(filled["filled_avg_price"])) == ("filled", D(100))
    assert market.get("/v1/account", account_id="strict")["open_orders"] == 1  # the limit only

    # The setting changes the way settings do, with a reset (admin): now it queues.
    reset = market.post("/v1/accounts/strict/resets", {"settings": {"outside_hours": "queue"}}, role="admin")
    assert reset.status_code == 200, reset.text
    assert reset.json()["settings"]["outside_hours"] == "queue"
    market.at("2024-12-02T21:30:00")  # after Monday's close
    queued = market.placed("strict")
    assert (queued["status"], queued["queued_until"]) == ("accepted", "2024-12-03T14:30:00Z")


def test_an_account_that_queues_fills_at_the_next_sessions_first_bar(
    market: Market, container: Container
) -> None:
    created = create(market, "patient")  # the default setting
    assert created["settings"]["outside_hours"] == "queue"

    market.at(SATURDAY)
    queued = market.placed("patient")
    # Open, though a last price is known (Wednesday's close); waiting for Monday's open.
    assert (queued["status"], queued["filled_qty"]) == ("accepted", "0")
    assert queued["queued_until"] == "2024-12-02T14:30:00Z"
    gtc = market.placed("patient", tif="gtc", qty="5")
    idle = market.placed("patient", "DIA")  # no bar of Monday will come for it
    account = market.get("/v1/account", account_id="patient")
    assert account["open_orders"] == 3 and D(account["reserved_cash"]) == D(10 * 100 + 5 * 100 + 10 * 400)

    # Friday's bars arrive late (on Sunday): an earlier session's, they fill nothing.
    market.at("2024-12-01T12:00:00")
    market.ingest("SPY", "1d", ("2024-11-29", "104"))
    market.ingest("SPY", "1m", ("2024-11-29T17:59:00", "105"))  # Friday's last minute
    assert market.order(queued["id"])["status"] == "accepted"
    assert market.order(gtc["id"])["status"] == "accepted"
    # The scheduled close does not run on a Sunday; a run at Friday's close would be over too.

    # Monday's first minute (09:30 New York) fills both at its open.
    market.at("2024-12-02T14:31:00")
    market.ingest("SPY", "1m", ("2024-12-02T14:30:00", "107"))
    for order_id, qty in ((queued["id"], "10"), (gtc["id"], "5")):
        order = market.order(order_id)
        assert (order["status"], order["filled_qty"], D(order["filled_avg_price"])) == ("filled", qty, D(107))
    fills = market.get("/v1/fills", account_id="patient")["fills"]
    assert {(f["price"], f["market_time"]) for f in fills} == {("107", "2024-12-02T14:30:00+00:00")}
    trail = [e["type"] for e in market.get(f"/v1/orders/{queued['id']}/events")]
    assert trail == ["OrderPlaced", "OrderAccepted", "OrderSessionOpened", "OrderFilled"]

    # The queued day order that met no bar belongs to Monday's session: it expires at Monday's
    # close (16:00 New York), not before. (The close is a scheduled job: run as the schedule does.)
    market.at("2024-12-02T20:00:00")
    assert container.bus.execute(CloseSession()) == {"expired": 0, "session": None}
    assert market.order(idle["id"])["status"] == "accepted"
    market.at("2024-12-02T21:00:00")
    assert container.bus.execute(CloseSession()) == {"expired": 1, "session": "2024-12-02"}
    assert market.order(idle["id"])["status"] == "expired"
    assert market.get("/v1/account", account_id="patient")["open_orders"] == 0
