"""Trading follows the market's calendar (issue 11): a day order lives until its session's close
(early closes included, its symbol's calendar or the market's; a 24/7 symbol's UTC day), and the
hourly close expires it within the hour, while the accounts are marked once per market session,
at its close, never on a holiday."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import Every, by_name
from trading_system.config import load_settings
from trading_system.kernel.schedule import Schedule
from trading_system.market_data.commands import BarRow, IngestBars, RegisterSymbol
from trading_system.market_data.domain import Timeframe
from trading_system.trading.commands import CloseSession, CreateAccount, PlaceOrder
from trading_system.trading.orders import OrderRequest
from trading_system.trading.queries import GetOrder


@dataclass
class Clock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(utc("2024-11-29T15:00:00"))


@pytest.fixture
def market(tmp_path: Path, clock: Clock) -> Container:
    container = bootstrap(load_settings(data_dir=tmp_path / "data"), clock=clock)
    container.bus.execute(RegisterSymbol(symbol="NYSEX", exchange="NYSE"))
    container.bus.execute(RegisterSymbol(symbol="COIN", exchange="CRYPTO"))
    container.bus.execute(RegisterSymbol(symbol="PLAIN"))  # no calendar: the market's
    for symbol, day in (("NYSEX", "2024-11-27"), ("COIN", "2024-11-28"), ("PLAIN", "2024-11-27")):
        bar = BarRow(ts=day, open=100, high=101, low=99, close=100, volume=1000)
        container.bus.execute(IngestBars(timeframe=Timeframe("1d"), symbol=symbol, bars=[bar]))
    container.bus.execute(CreateAccount(account_id="acct", starting_cash=Decimal(100_000)))
    return container


def place(market: Container, symbol: str) -> str:
    request = OrderRequest(
        symbol=symbol, side="buy", type="limit", limit_price=Decimal(50), qty=Decimal(1), account_id="acct"
    )
    return str(market.bus.execute(PlaceOrder(request=request)).order.id)


def status(market: Container, order_id: str) -> str:
    return str(market.bus.ask(GetOrder(order_id=order_id)).status)


def close_at(market: Container, clock: Clock, moment: str) -> dict[str, object]:
    clock.moment = utc(moment)
    result: dict[str, object] = market.bus.execute(CloseSession())
    return result


def test_day_orders_expire_at_their_sessions_close(market: Container, clock: Clock) -> None:
    # Friday after Thanksgiving: New York closes early, at 13:00 (18:00 UTC).
    stock, coin, plain = place(market, "NYSEX"), place(market, "COIN"), place(market, "PLAIN")
    assert close_at(market, clock, "2024-11-29T17:00:00") == {"expired": 0, "session": None}  # 12:00
    assert status(market, stock) == "accepted"
    assert close_at(market, clock, "2024-11-29T18:00:00") == {"expired": 2, "session": "2024-11-29"}
    assert (status(market, stock), status(market, plain)) == ("expired", "expired")
    assert status(market, coin) == "accepted"  # its UTC day ends at midnight
    assert close_at(market, clock, "2024-11-29T21:00:00")["session"] is None  # one run per session
    assert close_at(market, clock, "2024-11-29T23:00:00") == {"expired": 0, "session": None}
    assert status(market, coin) == "accepted"
    # Midnight UTC, a Saturday: the crypto day order's session is over; no account is marked.
    assert close_at(market, clock, "2024-11-30T00:00:00") == {"expired": 1, "session": None}
    assert status(market, coin) == "expired"

    # Placed on a Saturday: it lives until Monday's close, not Friday's or the weekend's.
    clock.moment = utc("2024-11-30T15:00:00")
    weekend = place(market, "NYSEX")
    assert close_at(market, clock, "2024-12-01T00:00:00") == {"expired": 0, "session": None}
    assert close_at(market, clock, "2024-12-02T20:00:00") == {"expired": 0, "session": None}  # 15:00 NY
    assert status(market, weekend) == "accepted"
    assert close_at(market, clock, "2024-12-02T21:00:00") == {"expired": 1, "session": "2024-12-02"}
    assert status(market, weekend) == "expired"


def test_the_accounts_are_marked_only_at_the_markets_close(market: Container, clock: Clock) -> None:
    from trading_system.trading.queries import ListAccountEvents

    def marks() -> int:
        events = market.bus.ask(ListAccountEvents(account_id="acct", limit=1000))
        return sum(1 for e in events if e["type"] == "EquityMarked")

    close_at(market, clock, "2024-11-30T00:00:00")  # midnight UTC: day orders only
    close_at(market, clock, "2024-11-29T17:00:00")
    assert marks() == 0
    close_at(market, clock, "2024-11-29T18:00:00")  # 13:00 New York, an early close
    assert marks() == 1


def test_no_close_on_a_holiday_and_at_once_closes_now(market: Container, clock: Clock) -> None:
    clock.moment = utc("2024-12-24T20:00:00")  # Christmas Eve, after its early close (18:00 UTC)
    order = place(market, "NYSEX")
    assert close_at(market, clock, "2024-12-25T21:00:00") == {"expired": 0, "session": None}  # Christmas
    assert status(market, order) == "accepted"  # it waits for the next session's close
    clock.moment = utc("2024-12-25T21:00:00")
    assert market.bus.execute(CloseSession(at_once=True)) == {"expired": 1, "session": None}
    assert status(market, order) == "expired"


def test_the_schedule_fires_at_each_close_across_dst_and_at_midnight_utc() -> None:
    every = by_name()["close_session"].trigger
    assert isinstance(every, Every)
    schedule = Schedule(every.expression, every.timezone)
    # A run on the hour at 16:00 New York in summer (EDT) and winter (EST), at 13:00 on an early
    # close, and at midnight UTC on a Saturday (a 24/7 symbol's day orders).
    for just_before, run in [
        (datetime(2024, 7, 1, 19, 30), datetime(2024, 7, 1, 20, 0)),
        (datetime(2024, 12, 2, 20, 30), datetime(2024, 12, 2, 21, 0)),
        (datetime(2024, 11, 29, 17, 30), datetime(2024, 11, 29, 18, 0)),
        (datetime(2024, 11, 29, 23, 30), datetime(2024, 11, 30, 0, 0)),
    ]:
        assert schedule.next_after(just_before) == run
