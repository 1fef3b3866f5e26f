"""Short selling as an account setting: positions below zero, their cash and equity, the
margin they hold out of buying power, the risk rules on short sales and covers, and the checks
a fill passes when it settles. Exact Decimal arithmetic, with numbers worked out by hand and an
independent rational oracle."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.unit import trading_factories
from tests.unit.trading_factories import ACCOUNT, T0, D, market_order_placed
from trading_system.kernel.errors import Conflict
from trading_system.trading import risk
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account, Position
from trading_system.trading.broker import Fill, Quote
from trading_system.trading.events import (
    AccountCreated,
    AccountEvent,
    AccountHalted,
    FillSettled,
    FundsReserved,
    OrderPlaced,
)
from trading_system.trading.execution import execute
from trading_system.trading.ledger import Change
from trading_system.trading.orders import Order
from trading_system.trading.precision import money
from trading_system.trading.risk import Verdict
from trading_system.trading.views import account_view, position_views

SHORTING: dict[str, Any] = {"shorting": True}


def created(cash: str = "10000", **terms: Any) -> AccountCreated:
    return trading_factories.created(cash, **terms)


def settled(
    side: str,
    qty: str | Decimal,
    price: str | Decimal,
    commission: str | Decimal = "0",
    symbol: str = "AAPL",
    *,
    in_cents: bool = False,
) -> FillSettled:
    """A fill as settled now (`in_cents`: its amount rounded to the cent), or as fills were
    settled before amounts were rounded (exactly qty x price)."""
    return FillSettled(
        account_id=ACCOUNT,
        order_id=f"o-{side}-{qty}-{price}",
        fill_id=f"f-{side}-{qty}-{price}",
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        qty=D(qty),
        price=D(price),
        commission=D(commission),
        market_time=T0,
        amount=money(D(qty) * D(price)) if in_cents else None,
        at=T0,
    )


def reserved(order_id: str, side: str, cash: str, qty: str) -> FundsReserved:
    return FundsReserved(
        account_id=ACCOUNT,
        order_id=order_id,
        symbol="AAPL",
        side=side,  # type: ignore[arg-type]
        cash=D(cash),
        qty=D(qty),
        at=T0,
    )


def fold(*events: AccountEvent) -> Account:
    return Account.from_events(list(events))


def short_account(cash: str = "10000", short: str = "100", at: str = "50", **terms: Any) -> Account:
    """An account that sold `short` AAPL short at `at`: cash is `cash` plus the proceeds."""
    return fold(created(cash, **SHORTING, **terms), settled("sell", short, at))


def order(
    side: str = "sell",
    qty: str | None = "100",
    *,
    type: str = "market",
    limit: str | None = None,
    stop: str | None = None,
    notional: str | None = None,
) -> Order:
    return Order.placed(
        OrderPlaced(
            order_id="ord-1",
            account_id=ACCOUNT,
            symbol="AAPL",
            client_order_id="c-1",
            side=side,  # type: ignore[arg-type]
            type=type,  # type: ignore[arg-type]
            time_in_force="gtc",
            qty=None if qty is None else D(qty),
            notional=None if notional is None else D(notional),
            limit_price=None if limit is None else D(limit),
            stop_price=None if stop is None else D(stop),
            as_of=None,
            fingerprint="fp",
            at=T0,
        )
    )


def quote(price: str) -> Quote:
    return Quote(symbol="AAPL", price=D(price), volume=D(1_000_000), market_time=T0)


# -- the settings ------------------------------------------------------------------------------


def test_shorting_is_off_by_default_with_reg_t_margin() -> None:
    terms = AccountSettings()
    assert (terms.shorting, terms.short_margin_pct) == (False, D(150))


@pytest.mark.parametrize("pct", [D("99.99"), D(0), D(1001), D("150.001")])
def test_the_short_margin_is_at_least_the_proceeds(pct: Decimal) -> None:
    with pytest.raises(ValidationError):
        AccountSettings(shorting=True, short_margin_pct=pct)


# -- positions below zero ----------------------------------------------------------------------


def test_a_position_goes_short_adds_covers_and_flips_at_average_cost() -> None:
    position = Position(symbol="AAPL")
    position = position.after(settled("sell", "10", "50"), shorting=True)
    assert (position.qty, position.cost_basis, position.avg_entry_price, position.side) == (
        D(-10),
        D(-500),
        D(50),
        "short",
    )
    position = position.after(settled("sell", "5", "56"), shorting=True)  # adds: 780 / 15 = 52
    assert (position.qty, position.cost_basis, position.avg_entry_price) == (D(-15), D(-780), D(52))
    position = position.after(settled("buy", "5", "40", "1"), shorting=True)  # covers 5: (52 - 40) x 5
    assert (position.qty, position.cost_basis, position.realized_pl, position.commission) == (
        D(-10),
        D(-520),
        D(60),
        D(1),
    )
    # a buy of 15 covers the 10 short ((52 - 45) x 10) and buys 5 long at 45
    position = position.after(settled("buy", "15", "45"), shorting=True)
    assert (position.qty, position.cost_basis, position.realized_pl, position.side) == (
        D(5),
        D(225),
        D(130),
        "long",
    )
    # a sell of 8 sells the 5 long ((50 - 45) x 5) and 3 short at 50
    position = position.after(settled("sell", "8", "50"), shorting=True)
    assert (position.qty, position.cost_basis, position.realized_pl) == (D(-3), D(-150), D(155))
    position = position.after(settled("buy", "3", "60"), shorting=True)  # a loss: (50 - 60) x 3
    assert (position.qty, position.cost_basis, position.realized_pl) == (D(0), D(0), D(125))


def test_without_shorting_a_sell_beyond_the_position_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="holds 10"):
        fold(created(), settled("buy", "10", "1"), settled("sell", "11", "1"))
    with pytest.raises(Conflict, match="holds 10"):
        Position(symbol="AAPL", qty=D(10), cost_basis=D(10)).after(settled("sell", "11", "1"))


def test_a_short_sale_credits_its_proceeds_and_counts_negative_in_equity() -> None:
    account = fold(created(**SHORTING, commission_per_share=D("0.01")), settled("sell", "100", "50", "1"))
    assert account.cash == D(10000) + D(5000) - D(1)
    assert (account.held("AAPL"), account.positions["AAPL"].cost_basis) == (D(-100), D(-5000))
    assert account.equity({"AAPL": D(50)}) == D(9999)
    assert account.equity({"AAPL": D(40)}) == D(10999)  # the price fell: the short gained
    assert account.equity({"AAPL": D(60)}) == D(8999)
    assert account.equity({}) == D(9999)  # no price known: at cost


def test_the_margin_of_shorts_is_marked_and_held_out_of_buying_power() -> None:
    account = short_account()  # cash 15,000; 100 short at 50
    assert account.short_margin({"AAPL": D(50)}) == D(7500)  # 150% of 5,000
    assert account.buying_power({"AAPL": D(50)}) == D(7500)
    assert account.short_margin({"AAPL": D(60)}) == D(9000)
    assert account.buying_power({"AAPL": D(60)}) == D(6000)
    assert account.short_margin({}) == D(7500)  # at cost without a price
    assert account.buying_power({"AAPL": D(120)}) == D(15000) - D(18000)  # it ran up: negative
    # a long position holds no margin; other open orders still hold back their share
    mixed = account.apply(settled("buy", "10", "100", symbol="MSFT")).apply(reserved("o9", "buy", "500", "5"))
    assert mixed.short_margin({"AAPL": D(50), "MSFT": D(200)}) == D(7500)
    assert mixed.buying_power({"AAPL": D(50), "MSFT": D(200)}) == D(14000) - D(500) - D(7500)
    # each short valued as money first (3 x 33.335 = 100.005 -> 100.01, half up), then
    # 150% of it to the cent: 150.015 -> 150.02
    odd = short_account(short="3", at="33.335")
    assert odd.short_margin({}) == D("150.02")
    pct = short_account(short_margin_pct=D(200))
    assert pct.short_margin({"AAPL": D(50)}) == D(10000)


Q = st.integers(1, 10**6).map(lambda n: D(n) / 1000)  # 0.001 .. 1000 shares
P = st.integers(1, 10**6).map(lambda n: D(n) / 100)  # 0.01 .. 10000.00
C = st.integers(0, 500).map(lambda n: D(n) / 100)
TRADE = st.tuples(st.sampled_from(["AAPL", "MSFT"]), st.booleans(), Q, P, C)


@pytest.mark.parametrize("in_cents", [False, True], ids=["settled-exactly", "settled-in-cents"])
@settings(max_examples=300, deadline=None)
@given(trades=st.lists(TRADE, min_size=1, max_size=40), lasts=st.tuples(P, P))
def test_long_and_short_pnl_match_an_independent_average_cost_computation(
    in_cents: bool, trades: list[tuple[str, bool, Decimal, Decimal, Decimal]], lasts: tuple[Decimal, Decimal]
) -> None:
    """Any buys and sells, through zero either way: cash, positions, realized P&L and the
    equity identity against rational arithmetic that closes the old side at its average cost
    before it opens the new one. Fills settled in cents (as they are now) keep every money
    figure on the cent, within a cent a fill of the rational figures, and the identity exact;
    fills settled exactly (events stored before) replay exactly."""
    start = D(1_000_000_000)
    account = Account.created(created(str(start), **SHORTING))
    cash = Fraction(start)
    qty: dict[str, Fraction] = {}
    cost: dict[str, Fraction] = {}
    realized = Fraction(0)
    commission = Fraction(0)
    for symbol, buy, amount, price, fee in trades:
        account = account.apply(
            settled("buy" if buy else "sell", amount, price, fee, symbol, in_cents=in_cents)
        )
        q, p = Fraction(amount), Fraction(price)
        held = qty.get(symbol, Fraction(0))
        sign = 1 if buy else -1
        if held and (held > 0) != buy:
            closed = min(q, abs(held))
            average = cost[symbol] / held
            side = 1 if held > 0 else -1
            realized += (p - average) * closed * side
            cost[symbol] -= average * closed * side
            held -= closed * side
            q -= closed
        if q:
            cost[symbol] = cost.get(symbol, Fraction(0)) + sign * q * p
            held += sign * q
        qty[symbol] = held
        value = Fraction(money(amount * price)) if in_cents else Fraction(amount) * p
        cash += -sign * value - Fraction(fee)
        commission += Fraction(fee)

    assert Fraction(account.cash) == cash
    assert Fraction(account.commission) == commission
    for symbol in ("AAPL", "MSFT"):
        assert Fraction(account.held(symbol)) == qty.get(symbol, Fraction(0))
    # rounding to the cent moves each fill's realized P&L and cost by at most a cent
    tolerance = Fraction(len(trades), 100) if in_cents else Fraction(1, 10**12)
    assert abs(Fraction(account.realized_pl) - realized) <= tolerance
    for symbol, position in account.positions.items():
        assert abs(Fraction(position.cost_basis) - cost[symbol]) <= tolerance
        # the cost basis has the qty's sign (or is nothing: a few shares at a cent cost 0.00)
        assert (position.cost_basis > 0) == (position.qty > 0) or (in_cents and not position.cost_basis)

    marks = dict(zip(("AAPL", "MSFT"), lasts, strict=True))
    if in_cents:
        on_the_cent = [account.cash, account.realized_pl, account.commission]
        on_the_cent += [p.cost_basis for p in account.positions.values()]
        on_the_cent += [p.realized_pl for p in account.positions.values()]
        assert all(figure == money(figure) for figure in on_the_cent)
        unrealized = sum(
            (p.market_value(marks[s]) - p.cost_basis for s, p in account.positions.items()), D(0)
        )
        equity = account.equity(marks)
    else:
        unrealized = sum((p.qty * marks[s] - p.cost_basis for s, p in account.positions.items()), D(0))
        equity = account.cash + sum((p.qty * marks[s] for s, p in account.positions.items()), D(0))
    assert equity - account.starting_cash == account.realized_pl + unrealized - account.commission


# -- the risk rules: short sales ----------------------------------------------------------------


def test_without_shorting_a_sale_beyond_the_position_is_rejected() -> None:
    holding = fold(created(), settled("buy", "30", "0"))
    assert risk.check(order(qty="31", type="limit", limit="50"), holding, None, None) == Verdict(
        "insufficient position: AAPL holds 30, of which 30 is not held by open sell orders; "
        "this order sells 31 (short selling is off on account acct)",
        "insufficient_position",
    )


def test_a_market_short_holds_half_its_value_at_the_last_price_plus_3_percent() -> None:
    account = fold(created(**SHORTING))
    # 100 x 50 x 1.03 = 5,150, of which the proceeds give 100% and buying power 50%
    assert risk.check(order(), account, quote("50"), None) == Verdict(
        None, cash=D(2575), qty=D(100), short_qty=D(100)
    )


@pytest.mark.parametrize(
    ("kind", "last", "valued_at"),
    [
        ({"type": "limit", "limit": "60"}, "50", "60"),  # the limit is above the market + 3%
        ({"type": "limit", "limit": "50"}, "50", "51.5"),  # the market + 3% is above the limit
        ({"type": "limit", "limit": "50"}, None, "50"),  # no price yet: the limit
        ({"type": "stop", "stop": "45"}, "50", "51.5"),
        ({"type": "stop_limit", "stop": "45", "limit": "44"}, None, "45"),
    ],
)
def test_a_short_sale_is_valued_at_its_limit_or_the_market_plus_3_percent(
    kind: dict[str, str], last: str | None, valued_at: str
) -> None:
    account = fold(created(**SHORTING))
    verdict = risk.check(order(qty="10", **kind), account, quote(last) if last else None, None)
    assert verdict == Verdict(None, cash=10 * D(valued_at) / 2, qty=D(10), short_qty=D(10))


def test_a_short_beyond_the_margin_is_rejected_naming_it() -> None:
    account = fold(created(**SHORTING, commission_per_share=D("0.01")))
    # 388 x 51.5 = 19,982 -> 9,991 + 3.88 commission = 9,994.88: fits in 10,000
    assert risk.check(order(qty="388"), account, quote("50"), None).reason is None
    assert risk.check(order(qty="389"), account, quote("50"), None) == Verdict(
        "insufficient buying power for a short sale: selling 389 AAPL short, valued at 51.50 a share, "
        "holds short_margin_pct 150% of 20033.50 (its proceeds and 10020.64 more, commission "
        "included); buying power is 10000.00",
        "insufficient_buying_power",
    )
    # a higher requirement leaves room for less
    strict = fold(created(**SHORTING, short_margin_pct=D(200)))
    assert risk.check(order(qty="194", type="limit", limit="51.5"), strict, None, None).reason is None
    assert risk.check(order(qty="195", type="limit", limit="51.5"), strict, None, None).reason is not None


def test_a_sale_sells_the_long_shares_first_and_only_the_rest_short() -> None:
    account = fold(created(**SHORTING), settled("buy", "30", "0"))
    assert risk.check(order(type="limit", limit="60"), account, None, None) == Verdict(
        None,
        cash=D(2100),
        qty=D(100),
        short_qty=D(70),  # 70 x 60 x 50%
    )
    # shares another open sell holds back are not this one's to sell long
    busy = account.apply(reserved("o2", "sell", "0", "20"))
    assert risk.check(order(qty="30", type="limit", limit="60"), busy, None, None) == Verdict(
        None, cash=D(600), qty=D(30), short_qty=D(20)
    )
    # selling only what is held is no short: nothing held back but the shares
    assert risk.check(order(qty="10", type="limit", limit="60"), busy, None, None) == Verdict(None, qty=D(10))


def test_a_short_sale_needs_a_price_and_a_qty() -> None:
    account = fold(created(**SHORTING), settled("buy", "5", "0"))
    assert risk.check(order(), account, None, None) == Verdict(
        "no price is known for AAPL yet to check this order; use a limit order", "no_price"
    )
    assert risk.check(order(qty="5"), account, None, None) == Verdict(None, qty=D(5))  # held: no short
    assert risk.check(order(qty=None, notional="1000"), account, quote("50"), None) == Verdict(
        "a notional order cannot sell short (AAPL holds 5); give a qty", "notional_short"
    )


def test_max_position_notional_limits_the_short_it_could_come_to() -> None:
    account = fold(created("100000", **SHORTING, max_position_notional=D("2999.99")))
    assert risk.check(order(qty="30", type="limit", limit="100"), account, None, None) == Verdict(
        "short position in AAPL would reach 3000.00, above max_position_notional 2999.99",
        "max_position_notional",
    )
    assert risk.check(order(qty="29", type="limit", limit="100"), account, None, None).reason is None
    pending = account.apply(reserved("o2", "sell", "500", "10"))  # 10 more may go short
    assert risk.check(order(qty="20", type="limit", limit="100"), pending, None, None).reason == (
        "short position in AAPL would reach 3000.00, above max_position_notional 2999.99"
    )


def test_the_shorts_margin_reduces_what_a_buy_may_spend() -> None:
    account = short_account(short="100", at="50")  # cash 15,000
    buy = order("buy", "61", type="limit", limit="100")
    marks = {"AAPL": D(60)}  # margin 9,000: 6,000 left
    cover = order("buy", "60", type="limit", limit="100")  # covers 60: only its commission to pay
    assert risk.check(cover, account, None, None, marks) == Verdict(None, cash=D(0), qty=D(60))
    msft = buy.model_copy(update={"symbol": "MSFT"})
    assert risk.check(msft, account, None, None, marks) == Verdict(
        "insufficient buying power: the order needs 6100.00, buying power is 6000.00",
        "insufficient_buying_power",
    )
    assert risk.check(msft.model_copy(update={"qty": D(60)}), account, None, None, marks) == Verdict(
        None, cash=D(6000), qty=D(60)
    )


def test_covering_a_short_is_always_allowed_even_with_no_buying_power() -> None:
    account = short_account(short="100", at="50", commission_per_share=D("0.01"))
    marks = {"AAPL": D(200)}  # it ran up fourfold: margin 30,000, buying power -15,000
    assert account.buying_power(marks) == D(-15000)
    assert risk.check(order("buy", "100", type="limit", limit="200"), account, None, None, marks) == Verdict(
        None,
        cash=D(1),
        qty=D(100),  # only its commission is held back
    )
    # one share more is a long to pay for: 101 x 200 - the 100 covered + commission
    assert risk.check(order("buy", "101", type="limit", limit="200"), account, None, None, marks) == Verdict(
        "insufficient buying power: the order needs 201.01, buying power is -15000.00",
        "insufficient_buying_power",
    )
    # shares an open buy already covers are not this one's to cover
    covering = account.apply(reserved("o2", "buy", "1", "60"))
    assert (
        risk.check(order("buy", "40", type="limit", limit="200"), covering, None, None, marks).reason is None
    )
    assert risk.check(order("buy", "41", type="limit", limit="200"), covering, None, None, marks).reason == (
        "insufficient buying power: the order needs 200.41, buying power is -15001.00"
    )


def test_a_halted_account_may_cover_its_shorts_but_not_sell_more() -> None:
    account = fold(
        created(**SHORTING, max_daily_loss=D(100)),
        settled("sell", "100", "50"),
        AccountHalted(account_id=ACCOUNT, limit="max_daily_loss", equity=D(9000), threshold=D(9900), at=T0),
    )
    assert risk.check(order("buy", "100", type="limit", limit="60"), account, None, None).reason is None
    halted = risk.check(order("buy", "101", type="limit", limit="60"), account, None, None).reason
    assert halted is not None and halted.startswith("account acct is halted: max_daily_loss crossed")
    assert risk.check(order(qty="1", type="limit", limit="60"), account, None, None).reason == halted


# -- what a short sale's order holds while it fills ---------------------------------------------------


def test_a_sells_margin_is_released_as_its_short_part_fills() -> None:
    placed = order(type="limit", limit="60")
    accepted = placed.apply(placed.accept(T0, D(2100), D(100), D(70)))  # 30 long, 70 short
    assert accepted.held_cash == D(2100)
    steps = [("30", D(2100)), ("35", D(1050)), ("10", D(750)), ("24", D("30.00")), ("1", D(0))]
    current = accepted
    for qty, held in steps:
        current = current.apply(current.fill(f"f{qty}", D(qty), D(60), D(0), T0, T0))
        assert current.held_cash == held, qty
    assert current.status == "filled"
    # a sell that sells nothing short holds no cash, as before
    plain = placed.apply(placed.accept(T0, D(0), D(100)))
    assert plain.held_cash == D(0)


# -- fills that settle, and fills that cannot ------------------------------------------------------


def accept(
    account: Account, side: str, qty: str, cash: str = "0", short_qty: str = "0", mark: str = "50"
) -> Change:
    change = Change.of(account, {"AAPL": D(mark)})
    placed = change.on_order(market_order_placed(side, qty))
    change.on_order(placed.accept(T0, D(cash), D(qty), D(short_qty)))
    change.on_account(reserved(placed.id, side, cash, qty))
    return change


def test_a_short_sale_settles_and_gives_back_its_margin_hold() -> None:
    account = fold(created(**SHORTING))
    change = accept(account, "sell", "100", cash="2575", short_qty="100")
    assert change.account.buying_power({}) == D(7425)
    execute(change, "ord-1", [Fill(D(100), D(50), D(0), T0)], T0, None)
    after = change.account
    assert change.orders["ord-1"].status == "filled"
    assert (after.cash, after.held("AAPL"), after.reserved_cash, after.open_orders) == (
        D(15000),
        D(-100),
        D(0),
        0,
    )
    assert after.buying_power(change.marks) == D(7500)
    fill = next(e for e in change.account_events if isinstance(e, FillSettled))
    assert (fill.held_cash_used, fill.equity) == (D(2575), D(10000))
    assert [type(e).__name__ for e in change.published][-2:] == ["OrderFilled", "PositionOpened"]


def test_a_short_fill_beyond_the_margin_is_canceled_at_fill() -> None:
    account = fold(created(**SHORTING))
    change = accept(account, "sell", "100", cash="2575", short_qty="100")
    # it fills far above the estimate: 100 x 300 needs 45,000 of margin against 40,000 of cash
    execute(change, "ord-1", [Fill(D(100), D(300), D(0), T0)], T0, None)
    canceled = change.orders["ord-1"]
    assert canceled.status == "canceled"
    assert canceled.cancel_reason == (
        "insufficient buying power at fill for a short sale: selling 100 AAPL short at 300 holds "
        "short_margin_pct 150% of its value, 5000.00 more than is available"
    )
    assert (change.account.cash, change.account.reserved_cash, change.account.positions) == (
        D(10000),
        D(0),
        {},
    )


def test_without_shorting_a_sale_beyond_the_position_is_canceled_at_fill() -> None:
    account = fold(created(), settled("buy", "10", "50"))
    change = accept(account, "sell", "10")
    execute(change, "ord-1", [Fill(D(11), D(50), D(0), T0)], T0, None)
    assert change.orders["ord-1"].cancel_reason == "insufficient position at fill: 10 AAPL held"


def test_a_cover_settles_even_when_it_takes_cash_below_zero() -> None:
    account = short_account(short="100", at="50")  # cash 15,000
    change = accept(account, "buy", "100", cash="0", mark="200")
    execute(change, "ord-1", [Fill(D(100), D(200), D(0), T0)], T0, None)
    after = change.account
    assert change.orders["ord-1"].status == "filled"
    assert (after.cash, after.positions, after.realized_pl) == (D(-5000), {}, D(-15000))
    assert after.equity({}) == D(-5000) == after.starting_cash + after.realized_pl
    assert [type(e).__name__ for e in change.published][-1] == "PositionClosed"


def test_a_buy_through_zero_pays_for_its_long_part_only_after_the_cover() -> None:
    account = short_account(short="100", at="50")  # cash 15,000, margin 7,500 at 50
    # 300 at 50: covers 100 (5,000, giving back 7,500 of margin), buys 200 long (10,000)
    change = accept(account, "buy", "300", cash="10000")
    execute(change, "ord-1", [Fill(D(300), D(50), D(0), T0)], T0, None)
    assert change.orders["ord-1"].status == "filled"
    assert (change.account.cash, change.account.held("AAPL")) == (D(0), D(200))
    # one share more than the cash can pay for is canceled at fill, as for any buy
    again = accept(account, "buy", "301", cash="10050")
    execute(again, "ord-1", [Fill(D(301), D(50), D(0), T0)], T0, None)
    assert (
        again.orders["ord-1"].cancel_reason
        == "insufficient cash at fill: 15050.00 needed, 15000.00 available"
    )


def test_fills_of_other_symbols_count_the_shorts_margin() -> None:
    account = short_account(short="100", at="50")  # cash 15,000; at 60 the short holds 9,000
    change = Change.of(account, {"AAPL": D(60)})
    placed = change.on_order(market_order_placed("buy", "61").model_copy(update={"symbol": "MSFT"}))
    change.on_order(placed.accept(T0, D(0), D(61)))
    execute(change, "ord-1", [Fill(D(61), D(100), D(0), T0)], T0, None)
    assert (
        change.orders["ord-1"].cancel_reason == "insufficient cash at fill: 6100.00 needed, 6000.00 available"
    )


# -- what the views show -------------------------------------------------------------------------


def test_a_short_position_shows_as_alpaca_shows_one() -> None:
    account = fold(
        created(**SHORTING), settled("sell", "100", "50", "1"), settled("buy", "10", "20", symbol="MSFT")
    )
    quotes = {"AAPL": quote("45"), "MSFT": Quote(symbol="MSFT", price=D(25), volume=D(1), market_time=T0)}
    aapl, msft = position_views(account, quotes)
    assert (aapl.side, aapl.qty, aapl.avg_entry_price, aapl.cost_basis) == ("short", D(-100), D(50), D(-5000))
    assert (aapl.market_value, aapl.unrealized_pl, aapl.unrealized_plpc) == (D(-4500), D(500), D("0.1"))
    assert (msft.side, msft.market_value, msft.unrealized_pl) == ("long", D(250), D(50))
    view = account_view(account, quotes)
    assert view.cash == D(10000) + D(5000) - D(1) - D(200)
    assert (view.long_market_value, view.short_market_value) == (D(250), D(-4500))
    assert view.short_margin == D(6750)  # 150% of 4,500
    assert view.equity == view.cash + D(250) - D(4500) == D(10549)
    assert view.buying_power == view.cash - D(6750)
    assert view.unrealized_pl == D(550)
    assert view.equity - view.starting_cash == view.realized_pl + view.unrealized_pl - view.commission
