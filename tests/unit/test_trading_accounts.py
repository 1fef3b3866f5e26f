"""The Account aggregate folded from its events: cash, positions at cost, realized P&L,
commissions and what open orders hold back, checked with exact Decimal arithmetic."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.trading_factories import ACCOUNT, T0, D, at, created
from trading_system.kernel.errors import Conflict
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account, Position, position_event
from trading_system.trading.events import (
    AccountEvent,
    AccountReset,
    EquityMarked,
    FillSettled,
    FundsReleased,
    FundsReserved,
    PositionChanged,
    PositionClosed,
    PositionOpened,
)


def reserved(
    order_id: str, side: str, cash: str = "0", qty: str = "0", symbol: str = "AAPL"
) -> FundsReserved:
    return FundsReserved(
        account_id=ACCOUNT,
        order_id=order_id,
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        cash=D(cash),
        qty=D(qty),
        at=T0,
    )


def released(
    order_id: str, side: str, cash: str = "0", qty: str = "0", symbol: str = "AAPL"
) -> FundsReleased:
    """An order closed, giving back what it still held: `cash` and `qty` are its leftover."""
    return FundsReleased(
        account_id=ACCOUNT,
        order_id=order_id,
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        cash=D(cash),
        qty=D(qty),
        at=T0,
    )


def settled(
    order_id: str,
    side: str,
    qty: str | Decimal,
    price: str | Decimal,
    commission: str | Decimal = "0",
    symbol: str = "AAPL",
    *,
    cash_used: str | Decimal = "0",
    qty_used: str | Decimal = "0",
) -> FillSettled:
    """A fill; `cash_used` and `qty_used` are the part of its order's holding it used up."""
    return FillSettled(
        account_id=ACCOUNT,
        order_id=order_id,
        fill_id=f"fill-{order_id}-{qty}-{price}",
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        qty=D(qty),
        price=D(price),
        commission=D(commission),
        market_time=T0,
        held_cash_used=D(cash_used),
        held_qty_used=D(qty_used),
        at=T0,
    )


def fold(*events: AccountEvent) -> Account:
    return Account.from_events(list(events))


def holding(account: Account) -> tuple[int, Decimal, dict[str, Decimal], dict[str, Decimal]]:
    """What the account says its open orders hold back."""
    return (account.open_orders, account.reserved_cash, account.reserved_buy_qty, account.reserved_sell_qty)


def assert_not_negative(account: Account) -> None:
    assert account.open_orders >= 0
    assert account.reserved_cash >= 0
    assert all(q > 0 for q in account.reserved_buy_qty.values()), account.reserved_buy_qty
    assert all(q > 0 for q in account.reserved_sell_qty.values()), account.reserved_sell_qty


# -- a worked example --------------------------------------------------------------------------


def test_a_round_trip_folds_to_the_numbers_worked_out_by_hand() -> None:
    account = Account.created(created())
    assert (account.cash, account.buying_power({}), account.version) == (D(100000), D(100000), 1)
    assert holding(account) == (0, D(0), {}, {})

    # an order to buy 30, holding back 30 x 104.30 + 2 commission
    account = account.apply(reserved("o1", "buy", cash="3131", qty="30"))
    assert holding(account) == (1, D(3131), {"AAPL": D(30)}, {})
    assert (account.reserved_cash, account.buying_power({})) == (D(3131), D(96869))
    assert account.reserved_qty("AAPL", "buy") == D(30)
    assert account.cash == D(100000)

    # the fill spent 10 x 100 + 1: that much of the order's 3131 is used up
    account = account.apply(settled("o1", "buy", "10", "100", "1.00", cash_used="1001", qty_used="10"))
    assert account.cash == D(100000) - D(1000) - D(1)
    assert account.cash == D("98999.00")
    position = account.positions["AAPL"]
    assert (position.qty, position.cost_basis, position.avg_entry_price) == (D(10), D(1000), D(100))
    # the holding shrinks by exactly what the fill used, so buying power does not count it twice
    assert holding(account) == (1, D(3131) - D(1001), {"AAPL": D(20)}, {})
    assert account.reserved_cash == D(2130)
    assert account.buying_power({}) == D("98999") - D("2130")
    assert_not_negative(account)

    # 20 x 106 + 2 = 2122 of the 2130 left: the order's holding drops to 8, so 2122 is used
    account = account.apply(settled("o1", "buy", "20", "106", "2.00", cash_used="2122", qty_used="20"))
    position = account.positions["AAPL"]
    assert account.cash == D("98999") - D("2120") - D(2)
    assert (position.qty, position.cost_basis) == (D(30), D(3120))
    assert position.avg_entry_price == D(104)  # (10 x 100 + 20 x 106) / 30
    assert holding(account) == (1, D(8), {}, {})  # no shares left to buy: the symbol is gone
    assert account.reserved_qty("AAPL", "buy") == D(0)
    assert account.realized_pl == D(0)
    assert_not_negative(account)

    # the order closes and gives back its leftover 8
    account = account.apply(released("o1", "buy", cash="8"))
    assert holding(account) == (0, D(0), {}, {})
    assert account.buying_power({}) == account.cash == D("96877.00")

    # sell 12 then the remaining 18, with the 30 held back for the order
    account = account.apply(reserved("o2", "sell", qty="30"))
    assert holding(account) == (1, D(0), {}, {"AAPL": D(30)})
    assert account.reserved_qty("AAPL", "sell") == D(30)
    assert account.reserved_qty("AAPL", "buy") == D(0)
    assert account.buying_power({}) == account.cash  # a sell holds back shares, not cash

    account = account.apply(settled("o2", "sell", "12", "110", "1.50", qty_used="12"))
    position = account.positions["AAPL"]
    assert account.cash == D("96877") + D("1320") - D("1.50")
    assert (position.qty, position.cost_basis, position.avg_entry_price) == (D(18), D(1872), D(104))
    assert account.realized_pl == (D(110) - D(104)) * 12 == D(72)
    assert position.realized_pl == D(72)
    assert holding(account) == (1, D(0), {}, {"AAPL": D(18)})
    assert account.reserved_qty("AAPL", "sell") == D(18)
    assert account.buying_power({}) == account.cash  # the proceeds are not held back

    account = account.apply(settled("o2", "sell", "18", "101", "1.25", qty_used="18"))
    assert "AAPL" not in account.positions  # closed
    assert account.held("AAPL") == D(0)
    assert account.cash == D("98195.50") + D("1818") - D("1.25")
    assert account.cash == D("100012.25")
    assert account.realized_pl == D(72) + (D(101) - D(104)) * 18 == D(18)
    assert account.commission == D("5.75")  # kept apart from the realized P&L
    assert account.reserved_qty("AAPL", "sell") == D(0)
    assert holding(account) == (1, D(0), {}, {})
    assert account.cash - account.starting_cash == account.realized_pl - account.commission

    account = account.apply(released("o2", "sell"))  # filled: nothing left to give back
    assert holding(account) == (0, D(0), {}, {})
    assert account.buying_power({}) == account.cash

    account = account.apply(EquityMarked(account_id=ACCOUNT, equity=D("100012.25"), at=at(9)))
    assert account.last_equity == D("100012.25")
    assert account.updated_at == at(9)
    assert account.version == 1 + 9
    assert (account.starting_cash, account.epoch) == (D(100000), 0)
    assert_not_negative(account)


def test_from_events_is_the_same_fold() -> None:
    events: list[AccountEvent] = [
        created(),
        reserved("o1", "buy", cash="1000", qty="10"),
        settled("o1", "buy", "10", "99", "0.50", cash_used="990.50", qty_used="10"),
        released("o1", "buy", cash="9.50"),
        settled("o2", "sell", "4", "101"),
    ]
    account = Account.created(created())
    for event in events[1:]:
        account = account.apply(event)
    assert Account.from_events(events) == account
    assert holding(account) == (0, D(0), {}, {})
    with pytest.raises(TypeError):
        Account.from_events(events[1:])


def test_reservations_from_several_orders_add_up() -> None:
    account = fold(
        created("10000"),
        reserved("b1", "buy", cash="1000", qty="10"),
        reserved("b2", "buy", cash="2500.50", qty="25", symbol="MSFT"),
        reserved("b3", "buy", cash="300", qty="3"),
        reserved("s1", "sell", qty="4.5"),
    )
    assert holding(account) == (4, D("3800.50"), {"AAPL": D(13), "MSFT": D(25)}, {"AAPL": D("4.5")})
    assert account.buying_power({}) == D("6199.50")
    assert account.reserved_qty("AAPL", "buy") == D(13)
    assert account.reserved_qty("MSFT", "buy") == D(25)
    assert account.reserved_qty("AAPL", "sell") == D("4.5")
    assert account.reserved_qty("MSFT", "sell") == D(0)

    account = account.apply(released("b2", "buy", cash="2500.50", qty="25", symbol="MSFT"))
    assert holding(account) == (3, D(1300), {"AAPL": D(13)}, {"AAPL": D("4.5")})
    assert account.buying_power({}) == D(10000) - D(1300)

    # a release gives back only the leftover it names, from its own side
    account = account.apply(released("b1", "buy", cash="1000", qty="10"))
    assert holding(account) == (2, D(300), {"AAPL": D(3)}, {"AAPL": D("4.5")})
    account = account.apply(released("s1", "sell", qty="4.5"))
    assert holding(account) == (1, D(300), {"AAPL": D(3)}, {})
    account = account.apply(released("b3", "buy", cash="300", qty="3"))
    assert holding(account) == (0, D(0), {}, {})
    assert account.buying_power({}) == account.cash == D(10000)


def test_a_fill_takes_off_exactly_what_it_used_of_the_holding() -> None:
    account = fold(
        created("10000"),
        reserved("b1", "buy", cash="1000", qty="10"),
        reserved("b2", "buy", cash="505.05", qty="5"),
        # 4 x 100.01 + 0.04: the fill used 400.08 of b1's 1000
        settled("b1", "buy", "4", "100.01", "0.04", cash_used="400.08", qty_used="4"),
    )
    assert holding(account) == (2, D("1104.97"), {"AAPL": D(11)}, {})  # 599.92 + 505.05; 6 + 5
    assert account.cash == D(10000) - D("400.08")
    assert account.buying_power({}) == D("9599.92") - D("1104.97") == D("8494.95")
    assert_not_negative(account)


def test_a_fill_dearer_than_its_holding_uses_it_up_and_no_more() -> None:
    """The order held back 1000 and the fill cost 1051: it used the 1000 and the rest came out
    of free cash, so the total drops to zero, not below."""
    account = fold(
        created("10000"),
        reserved("o1", "buy", cash="1000", qty="10"),
        settled("o1", "buy", "10", "105", "1", cash_used="1000", qty_used="10"),
    )
    assert holding(account) == (1, D(0), {}, {})
    assert account.buying_power({}) == account.cash == D(10000) - D(1051)
    assert_not_negative(account)
    account = account.apply(released("o1", "buy"))
    assert holding(account) == (0, D(0), {}, {})


def test_a_fill_that_used_nothing_leaves_the_holdings_alone() -> None:
    account = fold(
        created(),
        reserved("o1", "buy", cash="500", qty="5"),
        reserved("o2", "sell", qty="1", symbol="MSFT"),
        settled("o9", "buy", "1", "10"),  # an order that held nothing back (an unpriced market buy)
    )
    assert holding(account) == (2, D(500), {"AAPL": D(5)}, {"MSFT": D(1)})
    assert account.buying_power({}) == D(100000) - D(10) - D(500)


def test_a_sell_fill_uses_shares_of_its_side_only() -> None:
    account = fold(
        created(),
        settled("o0", "buy", "10", "100"),
        reserved("b1", "buy", cash="250", qty="2.5"),
        reserved("s1", "sell", qty="6"),
        settled("s1", "sell", "2.25", "110", "0.10", qty_used="2.25"),
    )
    assert holding(account) == (2, D(250), {"AAPL": D("2.5")}, {"AAPL": D("3.75")})
    assert account.held("AAPL") == D("7.75")
    assert account.held("AAPL") - account.reserved_qty("AAPL", "sell") == D(4)  # still sellable


def test_positions_are_kept_per_symbol() -> None:
    account = fold(
        created(),
        settled("o1", "buy", "10", "100", symbol="AAPL"),
        settled("o2", "buy", "5", "300", symbol="MSFT"),
        settled("o3", "sell", "5", "310", symbol="MSFT"),
        settled("o4", "buy", "0.5", "99.99", symbol="AAPL"),
    )
    assert set(account.positions) == {"AAPL"}
    aapl = account.positions["AAPL"]
    assert (aapl.qty, aapl.cost_basis) == (D("10.5"), D("1049.995"))
    assert aapl.avg_entry_price == D("99.999524")  # 1049.995 / 10.5 = 99.99952380..., 6 places
    assert account.realized_pl == D(50)
    assert account.cash == D(100000) - D(1000) - D(1500) + D(1550) - D("49.995")


def test_selling_more_than_is_held_is_a_conflict() -> None:
    account = fold(created(), settled("o1", "buy", "10", "100"))
    with pytest.raises(Conflict, match="holds 10"):
        account.apply(settled("o2", "sell", "10.000000001", "100"))
    with pytest.raises(Conflict, match="holds 0"):
        account.apply(settled("o2", "sell", "1", "100", symbol="MSFT"))


def test_a_reset_starts_the_account_over() -> None:
    account = fold(
        created(),
        settled("o1", "buy", "10", "100", "1"),
        settled("o1", "sell", "5", "120", "1"),
        reserved("o2", "buy", cash="100", qty="1"),
        reserved("o3", "sell", qty="2"),
        reserved("o4", "buy", cash="50", qty="1", symbol="MSFT"),
        EquityMarked(account_id=ACCOUNT, equity=D("100500"), at=T0),
    )
    assert account.realized_pl == D(100) and account.commission == D(2)
    assert holding(account) == (3, D(150), {"AAPL": D(1), "MSFT": D(1)}, {"AAPL": D(2)})
    terms = AccountSettings(commission_per_share=D("0.01"))
    reset = account.apply(
        AccountReset(account_id=ACCOUNT, starting_cash=D(50000), settings=terms, epoch=1, at=at(5))
    )
    assert (reset.starting_cash, reset.cash, reset.last_equity) == (D(50000), D(50000), D(50000))
    assert reset.positions == {}
    assert holding(reset) == (0, D(0), {}, {})
    assert reset.reserved_qty("AAPL", "buy") == reset.reserved_qty("AAPL", "sell") == D(0)
    assert (reset.realized_pl, reset.commission, reset.buying_power({})) == (D(0), D(0), D(50000))
    assert (reset.epoch, reset.reset_at, reset.settings) == (1, at(5), terms)
    assert reset.created_at == T0


SIDE_SYMBOL = st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(["AAPL", "MSFT"]))
MONEY = st.integers(0, 10**7).map(lambda n: D(n) / 100)  # 0 .. 100,000.00
SHARES = st.integers(1, 10**6).map(lambda n: D(n) / 1000)  # 0.001 .. 1000
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), SIDE_SYMBOL, MONEY, SHARES),
        st.tuples(st.just("fill"), st.integers(0, 10**6), SHARES, MONEY.map(lambda m: m / 10)),
        st.tuples(st.just("release"), st.integers(0, 10**6)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_the_totals_are_the_sum_of_what_each_open_order_still_holds(steps: list[tuple[Any, ...]]) -> None:
    """Orders reserve, fill (each fill using min(what its order holds, what it spent)) and close
    giving back their leftover, in any interleaving: the account's totals are at every step the
    sum over the open orders of what each still holds, exactly, and never negative."""
    start = D(10**12)
    account = fold(
        created(str(start)),
        settled("seed-a", "buy", "1000000", "0", symbol="AAPL"),  # shares to sell, for nothing
        settled("seed-m", "buy", "1000000", "0", symbol="MSFT"),
    )
    # the oracle: each open order's side, symbol and what it still holds back
    held: dict[str, tuple[str, str, Decimal, Decimal]] = {}
    for n, step in enumerate(steps):
        if step[0] == "reserve":
            _, (side, symbol), money, qty = step
            cash = money if side == "buy" else D(0)
            account = account.apply(reserved(f"o{n}", side, str(cash), str(qty), symbol))
            held[f"o{n}"] = (side, symbol, cash, qty)
        elif step[0] == "fill" and held:
            _, pick, qty, price = step
            order_id = sorted(held)[pick % len(held)]
            side, symbol, cash, left = held[order_id]
            commission = D("0.01")
            spent = qty * price + commission if side == "buy" else D(0)
            cash_used, qty_used = min(cash, spent), min(left, qty)
            account = account.apply(
                settled(
                    order_id, side, qty, price, commission, symbol, cash_used=cash_used, qty_used=qty_used
                )
            )
            held[order_id] = (side, symbol, cash - cash_used, left - qty_used)
        elif step[0] == "release" and held:
            order_id = sorted(held)[step[1] % len(held)]
            side, symbol, cash, left = held.pop(order_id)
            account = account.apply(released(order_id, side, str(cash), str(left), symbol))

        assert account.open_orders == len(held)
        assert account.reserved_cash == sum((h[2] for h in held.values()), D(0))
        for side in ("buy", "sell"):
            for symbol in ("AAPL", "MSFT"):
                expected = sum((h[3] for h in held.values() if h[:2] == (side, symbol)), D(0))
                assert account.reserved_qty(symbol, side) == expected, (side, symbol)
        assert account.buying_power({}) == account.cash - account.reserved_cash
        assert_not_negative(account)

    for order_id, (side, symbol, cash, left) in sorted(held.items()):
        account = account.apply(released(order_id, side, str(cash), str(left), symbol))
    assert holding(account) == (0, D(0), {}, {})
    assert account.buying_power({}) == account.cash


# -- position events ---------------------------------------------------------------------------


def test_position_events_say_opened_changed_and_closed() -> None:
    empty = Position(symbol="AAPL")
    bought = empty.after(settled("o1", "buy", "1", "1"))
    opened = position_event(empty, bought, ACCOUNT, T0)
    assert isinstance(opened, PositionOpened)
    assert (opened.qty, opened.avg_entry_price, opened.cost_basis, opened.realized_pl) == (
        D(1),
        D(1),
        D(1),
        D(0),
    )

    more = bought.after(settled("o2", "buy", "2", "2"))
    changed = position_event(bought, more, ACCOUNT, T0)
    assert isinstance(changed, PositionChanged)
    assert (changed.qty, changed.cost_basis) == (D(3), D(5))
    assert changed.avg_entry_price == D("1.666667")

    less = more.after(settled("o3", "sell", "1", "4"))
    changed = position_event(more, less, ACCOUNT, T0)
    assert isinstance(changed, PositionChanged)
    assert changed.qty == D(2)
    assert abs(changed.realized_pl - (D(4) - D(5) / D(3))) < D("1e-12")  # (4 - 5/3) x 1

    gone = less.after(settled("o4", "sell", "2", "1"))
    closed = position_event(less, gone, ACCOUNT, T0)
    assert isinstance(closed, PositionClosed)
    assert (closed.qty, closed.cost_basis, closed.avg_entry_price) == (D(0), D(0), D(0))
    assert (closed.account_id, closed.symbol, closed.at) == (ACCOUNT, "AAPL", T0)
    # realized over the life of the position: 4 + 2 sold, 5 paid
    assert closed.realized_pl == D(1)
    assert gone.commission == D(0)


def test_position_commission_is_kept_apart_from_cost() -> None:
    position = Position(symbol="AAPL").after(settled("o1", "buy", "10", "100", "2.50"))
    assert (position.cost_basis, position.commission, position.avg_entry_price) == (
        D(1000),
        D("2.50"),
        D(100),
    )
    position = position.after(settled("o2", "sell", "10", "110", "2.50"))
    assert (position.realized_pl, position.commission) == (D(100), D(5))


# -- the equity identity -----------------------------------------------------------------------


def test_the_equity_identity_holds_exactly_after_uneven_partial_sells() -> None:
    """equity - starting cash = realized + unrealized - commissions, exactly. Two partial sells
    out of a position whose cost does not divide evenly (5 / 3 a share)."""
    account = fold(
        created("1000000"),
        settled("o1", "buy", "1", "1"),
        settled("o2", "buy", "2", "2"),
        settled("o3", "sell", "1", "1"),
        settled("o4", "sell", "1", "100.5"),
    )
    position = account.positions["AAPL"]
    last = D(3)
    equity = account.cash + position.qty * last
    unrealized = position.qty * last - position.cost_basis
    assert account.cash - account.starting_cash == D("96.5")  # -1 - 4 + 1 + 100.5
    assert equity - account.starting_cash == account.realized_pl + unrealized - account.commission


Q = st.integers(1, 10**6).map(lambda n: D(n) / 1000)  # 0.001 .. 1000 shares
P = st.integers(1, 10**6).map(lambda n: D(n) / 100)  # 0.01 .. 10000.00
C = st.integers(0, 500).map(lambda n: D(n) / 100)  # commission, 0 .. 5.00
TRADE = st.tuples(st.sampled_from(["AAPL", "MSFT"]), st.booleans(), Q, P, C)


@settings(max_examples=300, deadline=None)
@given(trades=st.lists(TRADE, min_size=1, max_size=40), lasts=st.tuples(P, P))
def test_pnl_matches_an_independent_average_cost_computation(
    trades: list[tuple[str, bool, Decimal, Decimal, Decimal]], lasts: tuple[Decimal, Decimal]
) -> None:
    start = D(1_000_000_000)
    account = Account.created(created(str(start)))
    # the oracle, in exact rational arithmetic
    cash = Fraction(start)
    qty: dict[str, Fraction] = {}
    cost: dict[str, Fraction] = {}
    realized = Fraction(0)
    commission = Fraction(0)
    for n, (symbol, buy, amount, price, fee) in enumerate(trades):
        held = qty.get(symbol, Fraction(0))
        if not buy and held == 0:
            buy = True  # nothing to sell yet
        if not buy:
            amount = min(amount, D(held.numerator) / D(held.denominator))  # held has 3 places: exact
        account = account.apply(settled(f"o{n}", "buy" if buy else "sell", amount, price, fee, symbol))
        q, p = Fraction(amount), Fraction(price)
        if buy:
            qty[symbol] = held + q
            cost[symbol] = cost.get(symbol, Fraction(0)) + q * p
            cash -= q * p
        else:
            average = cost[symbol] / held
            realized += (p - average) * q
            cost[symbol] -= average * q
            qty[symbol] = held - q
            cash += q * p
        cash -= Fraction(fee)
        commission += Fraction(fee)

    # cash, quantities and commissions involve no division: exact
    assert Fraction(account.cash) == cash
    assert Fraction(account.commission) == commission
    for symbol in ("AAPL", "MSFT"):
        assert Fraction(account.held(symbol)) == qty.get(symbol, Fraction(0))
    # realized P&L and cost basis divide by the qty held: the same to far below a cent
    tiny = Fraction(1, 10**12)
    assert abs(Fraction(account.realized_pl) - realized) <= tiny
    for symbol, position in account.positions.items():
        assert abs(Fraction(position.cost_basis) - cost[symbol]) <= tiny
    assert all(q > 0 for q in (account.held(s) for s in account.positions))

    marks = dict(zip(("AAPL", "MSFT"), lasts, strict=True))
    market_value = sum((p.qty * marks[s] for s, p in account.positions.items()), D(0))
    unrealized = sum((p.qty * marks[s] - p.cost_basis for s, p in account.positions.items()), D(0))
    equity = account.cash + market_value
    assert equity - account.starting_cash == account.realized_pl + unrealized - account.commission
