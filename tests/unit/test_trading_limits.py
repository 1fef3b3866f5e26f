"""Account loss limits: max_daily_loss and max_drawdown_pct halt an account when a fill or a
mark takes its equity below their thresholds; a halted account takes only orders that reduce a
position until an admin resumes it, which starts its peak and its day's loss again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.trading_factories import ACCOUNT, T0, D, at, created, market_order_placed
from trading_system.trading import risk
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account, AccountHalt
from trading_system.trading.broker import Fill, Quote
from trading_system.trading.events import (
    AccountEvent,
    AccountHalted,
    AccountReset,
    AccountResumed,
    EquityMarked,
    FillSettled,
    FundsReserved,
)
from trading_system.trading.execution import execute
from trading_system.trading.ledger import Change
from trading_system.trading.orders import Order
from trading_system.trading.views import account_view


def settled(side: str, qty: str, price: str, equity: str | None = None, symbol: str = "AAPL") -> FillSettled:
    return FillSettled(
        account_id=ACCOUNT,
        order_id=f"o-{side}-{qty}",
        fill_id=f"f-{side}-{qty}-{price}",
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        qty=D(qty),
        price=D(price),
        commission=D(0),
        market_time=T0,
        equity=None if equity is None else D(equity),
        at=T0,
    )


def marked(equity: str, n: int = 0) -> EquityMarked:
    return EquityMarked(account_id=ACCOUNT, equity=D(equity), at=at(n))


def halted(limit: str = "max_daily_loss", equity: str = "98000", threshold: str = "99000") -> AccountHalted:
    return AccountHalted(
        account_id=ACCOUNT,
        limit=limit,  # type: ignore[arg-type]
        equity=D(equity),
        threshold=D(threshold),
        at=at(1),
    )


def fold(*events: AccountEvent) -> Account:
    return Account.from_events(list(events))


def order(
    side: str = "buy", qty: str | None = "10", notional: str | None = None, symbol: str = "AAPL"
) -> Order:
    return Order.placed(market_order_placed(side, qty, notional=notional, symbol=symbol, time_in_force="day"))


def quote(price: str, symbol: str = "AAPL") -> Quote:
    return Quote(symbol=symbol, price=D(price), volume=D(1_000_000), market_time=T0)


# -- the settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "terms",
    [
        {"max_daily_loss": D(0)},
        {"max_daily_loss": D(-1)},
        {"max_daily_loss": D("1.001")},
        {"max_drawdown_pct": D(0)},
        {"max_drawdown_pct": D(100)},
        {"max_drawdown_pct": D("12.34567")},
    ],
)
def test_loss_limits_must_be_positive_money_and_a_percent_below_100(terms: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AccountSettings(**terms)


def test_loss_limits_are_off_by_default() -> None:
    account = fold(created())
    assert not account.has_loss_limits
    assert (account.daily_loss_threshold, account.drawdown_threshold) == (None, None)
    assert account.limit_crossed(D(1), T0) is None  # no limits: nothing ever halts it


# -- the references: last close and peak ------------------------------------------------------------


def test_the_peak_follows_fills_and_closes_and_never_falls() -> None:
    account = fold(created(max_drawdown_pct=D(10)))
    assert (account.peak_equity, account.daily_loss_base) == (D(100000), D(100000))
    account = account.apply(settled("buy", "10", "100", equity="100000"))
    assert account.peak_equity == D(100000)
    account = account.apply(settled("buy", "10", "100", equity="101500.5"))
    assert account.peak_equity == D("101500.5")
    account = account.apply(settled("sell", "5", "90", equity="100900"))
    assert account.peak_equity == D("101500.5")  # a lower mark leaves the peak
    account = account.apply(settled("sell", "5", "90"))  # a fill recorded before equity marks
    assert account.peak_equity == D("101500.5")
    account = account.apply(marked("102000"))  # the close marks it too
    assert (account.peak_equity, account.last_equity, account.daily_loss_base) == (
        D(102000),
        D(102000),
        D(102000),
    )
    account = account.apply(marked("99000"))
    assert (account.peak_equity, account.daily_loss_base) == (D(102000), D(99000))
    assert account.drawdown_threshold == D("91800.00")  # 102,000 x 0.9


def test_thresholds_follow_the_last_close_and_the_peak() -> None:
    account = fold(created(max_daily_loss=D("1500.50"), max_drawdown_pct=D("7.5")), marked("98000.25"))
    assert account.daily_loss_threshold == D("96499.75")
    assert account.drawdown_threshold == D("92500.00")  # the peak is still the starting cash
    # to the cent, half up: 100,000.01 x 0.925 = 92,500.00925
    odd = fold(created("100000.01", max_drawdown_pct=D("7.5")))
    assert odd.drawdown_threshold == D("92500.01")


# -- crossing --------------------------------------------------------------------------------------


def test_equity_below_a_threshold_calls_for_a_halt_naming_the_limit() -> None:
    account = fold(created(max_daily_loss=D(1000)))
    assert account.limit_crossed(D(99000), at(1)) is None  # at the threshold is not below it
    assert account.limit_crossed(D("98999.99"), at(1)) == AccountHalted(
        account_id=ACCOUNT, limit="max_daily_loss", equity=D("98999.99"), threshold=D(99000), at=at(1)
    )
    drawdown = fold(created(max_drawdown_pct=D(5)), marked("120000"))
    assert drawdown.limit_crossed(D(114000), at(1)) is None
    crossed = drawdown.limit_crossed(D("113999.99"), at(1))
    assert crossed is not None and (crossed.limit, crossed.threshold) == ("max_drawdown_pct", D(114000))


def test_the_daily_loss_is_reported_first_when_both_are_crossed() -> None:
    account = fold(created(max_daily_loss=D(1000), max_drawdown_pct=D(1)))
    crossed = account.limit_crossed(D(90000), at(1))
    assert crossed is not None and crossed.limit == "max_daily_loss"


def test_a_halted_account_is_not_halted_again() -> None:
    account = fold(created(max_daily_loss=D(1000)), halted())
    assert account.halt == AccountHalt(limit="max_daily_loss", equity=D(98000), threshold=D(99000), at=at(1))
    assert account.halt.reason == "max_daily_loss crossed: equity 98000.00 fell below 99000.00"
    assert account.limit_crossed(D(1), at(2)) is None


def test_a_resume_lifts_the_halt_and_starts_peak_and_day_from_the_equity_then() -> None:
    account = fold(
        created(max_daily_loss=D(1000), max_drawdown_pct=D(10)),
        marked("110000"),
        halted(equity="108000", threshold="109000"),
        AccountResumed(account_id=ACCOUNT, equity=D(108500), at=at(2)),
    )
    assert account.halt is None
    assert (account.peak_equity, account.daily_loss_base, account.last_equity) == (
        D(108500),
        D(108500),
        D(110000),  # day P&L is still measured from the close
    )
    assert account.limit_crossed(D(108500), at(3)) is None  # does not trip again at once
    assert account.daily_loss_threshold == D(107500)
    crossed = account.limit_crossed(D("107499.99"), at(3))
    assert crossed is not None and crossed.threshold == D(107500)


def test_a_reset_lifts_the_halt_and_starts_over_from_the_starting_cash() -> None:
    account = fold(created(max_daily_loss=D(1000)), marked("120000"), halted())
    reset = account.apply(
        AccountReset(account_id=ACCOUNT, starting_cash=D(50000), settings=account.settings, epoch=1, at=at(5))
    )
    assert reset.halt is None
    assert (reset.peak_equity, reset.daily_loss_base, reset.last_equity) == (D(50000), D(50000), D(50000))


def test_an_account_stored_before_loss_limits_reads_with_its_last_equity_as_references() -> None:
    doc = fold(created(), marked("101000")).model_dump(mode="json")
    for name in ("peak_equity", "daily_loss_base", "halt"):
        del doc[name]
    account = Account.model_validate(doc)
    assert (account.peak_equity, account.daily_loss_base, account.halt) == (D(101000), D(101000), None)


def test_the_account_view_shows_the_halt_and_the_thresholds() -> None:
    account = fold(created(max_daily_loss=D(1000), max_drawdown_pct=D(20)), halted())
    view = account_view(account, {})
    assert view.halted is True and view.halt == account.halt
    assert view.halt_reason == "max_daily_loss crossed: equity 98000.00 fell below 99000.00"
    assert (view.daily_loss_threshold, view.drawdown_threshold, view.peak_equity) == (
        D(99000),
        D(80000),
        D(100000),
    )
    fine = account_view(fold(created()), {})
    assert (fine.halted, fine.halt, fine.halt_reason) == (False, None, None)
    assert (fine.daily_loss_threshold, fine.drawdown_threshold) == (None, None)


# -- a halted account: only orders that reduce a position ------------------------------------------


def halted_holding(qty: str = "10", **terms: Any) -> Account:
    return fold(created(max_daily_loss=D(1000), **terms), settled("buy", qty, "0"), halted())


HALTED = (
    "account acct is halted: max_daily_loss crossed: equity 98000.00 fell below 99000.00; only orders "
    "that reduce a position are accepted until an admin resumes it (POST /v1/accounts/acct/resume)"
)


def test_a_halted_account_rejects_buys_naming_the_limit() -> None:
    account = halted_holding()
    assert risk.check(order(), account, quote("100"), None) == risk.Verdict(HALTED, "account_halted")
    assert risk.check(order(qty=None, notional="500"), account, quote("100"), None) == risk.Verdict(
        HALTED, "account_halted"
    )
    assert risk.check(order(qty=None, notional="500"), account, None, None) == risk.Verdict(
        HALTED, "account_halted"
    )
    assert risk.check(order(symbol="MSFT"), account, quote("10", "MSFT"), None) == risk.Verdict(
        HALTED, "account_halted"
    )


def test_a_halted_account_accepts_sells_of_what_it_holds_and_no_more() -> None:
    account = halted_holding()
    assert risk.check(order("sell", "10"), account, quote("100"), None) == risk.Verdict(None, qty=D(10))
    assert risk.check(order("sell", "4"), account, None, None) == risk.Verdict(None, qty=D(4))
    assert risk.check(order("sell", "11"), account, quote("100"), None) == risk.Verdict(
        HALTED, "account_halted"
    )
    # shares another open sell holds back are not this order's to reduce
    busy = account.apply(
        FundsReserved(
            account_id=ACCOUNT, order_id="o2", symbol="AAPL", side="sell", cash=D(0), qty=D(7), at=T0
        )
    )
    assert risk.check(order("sell", "4"), busy, quote("100"), None) == risk.Verdict(HALTED, "account_halted")
    assert risk.check(order("sell", "3"), busy, quote("100"), None).reason is None


def test_the_kill_switch_comes_before_the_account_halt() -> None:
    account = halted_holding()
    assert risk.check(order("sell", "1"), account, quote("100"), "maintenance") == risk.Verdict(
        "trading is halted: maintenance", "trading_halted"
    )


# -- fills mark the equity and may halt the account -----------------------------------------------


def accepted(account: Account, side: str, qty: str, cash: str = "0") -> tuple[Change, str]:
    change = Change.of(account, {"AAPL": D(100)})
    placed = change.on_order(market_order_placed(side, qty, "ord-9"))
    change.on_order(placed.accept(T0, D(cash), D(qty)))
    reserve = {"order_id": "ord-9", "symbol": "AAPL", "side": side, "cash": D(cash), "qty": D(qty)}
    change.on_account(FundsReserved(account_id=ACCOUNT, at=T0, **reserve))
    return change, placed.id


def test_a_fill_records_the_equity_after_it_and_raises_the_peak() -> None:
    account = fold(created(max_drawdown_pct=D(10)), settled("buy", "100", "100", "100000"))
    change, order_id = accepted(account, "sell", "50")
    # the position is marked at 100; selling 50 at 110 marks the rest at 110 as well
    execute(change, order_id, [Fill(D(50), D(110), D(0), T0)], at(1), None)
    fill = next(e for e in change.account_events if isinstance(e, FillSettled))
    assert fill.equity == D(100000) - D(10000) + 50 * D(110) + 50 * D(110)  # 101,000
    assert change.account.peak_equity == D(101000)
    assert change.marks["AAPL"] == D(110)
    assert not any(isinstance(e, AccountHalted) for e in change.account_events)


def test_a_fill_that_takes_equity_below_a_limit_halts_the_account() -> None:
    # 100 held at 100 (marked at 100), cash 90,000; the daily limit of 500 is from 100,000
    account = fold(created(max_daily_loss=D(500)), settled("buy", "100", "100", "100000"))
    change, order_id = accepted(account, "sell", "100")
    execute(change, order_id, [Fill(D(100), D("94.99"), D(0), T0)], at(1), None)
    kinds = [type(e).__name__ for e in change.account_events]
    assert kinds == ["FundsReserved", "FillSettled", "AccountHalted", "FundsReleased"]
    halt = change.account_events[2]
    assert isinstance(halt, AccountHalted)
    assert (halt.limit, halt.equity, halt.threshold, halt.at) == ("max_daily_loss", D(99499), D(99500), at(1))
    assert change.account.halt is not None and change.account.halt.equity == D(99499)
    # it is published, after the fill's own events
    assert [type(e).__name__ for e in change.published][-2:] == ["PositionClosed", "AccountHalted"]
    assert change.orders[order_id].status == "filled"  # the fill that crossed it stands


def test_a_fill_on_a_halted_account_does_not_halt_it_again() -> None:
    account = fold(created(max_daily_loss=D(500)), settled("buy", "100", "100", "100000"), halted())
    change, order_id = accepted(account, "sell", "100")
    execute(change, order_id, [Fill(D(100), D(50), D(0), T0)], at(1), None)
    assert not any(isinstance(e, AccountHalted) for e in change.account_events)
