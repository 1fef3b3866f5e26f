"""Pre-trade risk checks: each rejects with its reason, and a passing order holds back what it
may cost (cash for a buy, commission included; shares for a sell)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trading_system.trading import risk
from trading_system.trading.account_settings import AccountSettings
from trading_system.trading.accounts import Account
from trading_system.trading.broker import Quote
from trading_system.trading.events import (
    AccountCreated,
    AccountEvent,
    FillSettled,
    FundsReleased,
    FundsReserved,
    OrderPlaced,
)
from trading_system.trading.orders import Order
from trading_system.trading.risk import Verdict

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def account(
    cash: str = "100000",
    *,
    held: str | None = None,
    reserve: list[tuple[str, str, str]] | None = None,  # (side, cash, qty) of other open orders
    **terms: Any,
) -> Account:
    events: list[AccountEvent] = [
        AccountCreated(account_id="acct", starting_cash=D(cash), settings=AccountSettings(**terms), at=T0)
    ]
    if held is not None:  # bought for nothing, so cash stays as given
        events.append(
            FillSettled(
                account_id="acct",
                order_id="earlier",
                fill_id="f0",
                symbol="AAPL",
                side="buy",
                qty=D(held),
                price=D(0),
                commission=D(0),
                market_time=T0,
                at=T0,
            )
        )
    for n, (side, money, qty) in enumerate(reserve or []):
        events.append(
            FundsReserved(
                account_id="acct",
                order_id=f"other-{n}",
                symbol="AAPL",
                side=side,  # type: ignore[arg-type]
                cash=D(money),
                qty=D(qty),
                at=T0,
            )
        )
    built = Account.from_events(events)
    # the account keeps what the other orders hold back as running totals
    others = reserve or []
    assert built.open_orders == len(others)
    assert built.reserved_cash == sum((D(money) for _, money, _ in others), D(0))
    for side in ("buy", "sell"):
        assert built.reserved_qty("AAPL", side) == sum((D(q) for s, _, q in others if s == side), D(0))
    return built


def fill_of(order_id: str, side: str, qty: str, price: str, commission: str, cash_used: str) -> FillSettled:
    """A fill of another open order on AAPL, using `cash_used` of what it held and `qty` shares."""
    return FillSettled(
        account_id="acct",
        order_id=order_id,
        fill_id=f"f-{order_id}-{qty}",
        symbol="AAPL",
        side=side,  # type: ignore[arg-type]
        qty=D(qty),
        price=D(price),
        commission=D(commission),
        market_time=T0,
        held_cash_used=D(cash_used),
        held_qty_used=D(qty),
        at=T0,
    )


def release_of(order_id: str, side: str, cash: str, qty: str) -> FundsReleased:
    """Another order closed, giving back its leftover `cash` and `qty`."""
    return FundsReleased(
        account_id="acct",
        order_id=order_id,
        symbol="AAPL",
        side=side,  # type: ignore[arg-type]
        cash=D(cash),
        qty=D(qty),
        at=T0,
    )


def order(
    type: str = "market",
    side: str = "buy",
    qty: str | None = "10",
    *,
    limit: str | None = None,
    stop: str | None = None,
    notional: str | None = None,
    symbol: str = "AAPL",
) -> Order:
    """A just-placed order, as the risk checks see it."""
    return Order.placed(
        OrderPlaced(
            order_id="ord-1",
            account_id="acct",
            symbol=symbol,
            client_order_id="c-1",
            side=side,  # type: ignore[arg-type]
            type=type,  # type: ignore[arg-type]
            time_in_force="day",
            qty=D(qty) if qty is not None else None,
            notional=D(notional) if notional is not None else None,
            limit_price=D(limit) if limit is not None else None,
            stop_price=D(stop) if stop is not None else None,
            as_of=None,
            fingerprint="fp",
            at=T0,
        )
    )


def quote(price: str) -> Quote:
    return Quote(symbol="AAPL", price=D(price), volume=D(10_000), market_time=T0)


NO_PRICE = "no price is known for AAPL yet to check this order; use a limit order"


# -- each check rejects with its reason --------------------------------------------------------


def test_a_halt_rejects_everything_first() -> None:
    restricted = account(restricted_symbols=["AAPL"], max_order_notional=D(1))
    for placed in (order(), order(side="sell"), order("limit", limit="1")):
        assert risk.check(placed, restricted, quote("100"), "maintenance") == Verdict(
            "trading is halted: maintenance", "trading_halted"
        )


def test_a_restricted_symbol_is_rejected() -> None:
    restricted = account(restricted_symbols=["aapl", "TSLA"])  # normalised like any symbol
    assert restricted.settings.restricted_symbols == ["AAPL", "TSLA"]
    assert risk.check(order("limit", limit="1"), restricted, None, None) == Verdict(
        "AAPL is restricted on account acct", "symbol_restricted"
    )
    assert risk.check(order(symbol="MSFT"), restricted, None, None).reason is None


def test_insufficient_buying_power_is_rejected() -> None:
    terms: dict[str, Any] = {"commission_per_share": D("0.01"), "commission_min": D(1)}
    limit_buy = order("limit", limit="100")  # 1000 + 1.00 commission
    assert risk.check(limit_buy, account("1000", **terms), None, None) == Verdict(
        "insufficient buying power: the order needs 1001.00, buying power is 1000.00",
        "insufficient_buying_power",
    )
    assert risk.check(limit_buy, account("1001", **terms), None, None) == Verdict(
        None, cash=D(1001), qty=D(10)
    )
    # what other open buy orders hold back is not there to spend
    busy = account("2001", reserve=[("buy", "1000", "10")], **terms)
    assert busy.buying_power({}) == D(1001)
    assert risk.check(limit_buy, busy, None, None).reason is None
    busier = account("2000.99", reserve=[("buy", "1000", "10")], **terms)
    assert risk.check(limit_buy, busier, None, None) == Verdict(
        "insufficient buying power: the order needs 1001.00, buying power is 1000.99",
        "insufficient_buying_power",
    )


def test_max_order_notional_is_enforced_for_buys_and_sells() -> None:
    limited = account(held="100", max_order_notional=D("999.99"))
    for side in ("buy", "sell"):
        assert risk.check(order("limit", side, limit="100"), limited, None, None) == Verdict(
            "order notional 1000.00 exceeds max_order_notional 999.99", "max_order_notional"
        )
    just = account(held="100", max_order_notional=D(1000))
    assert risk.check(order("limit", limit="100"), just, None, None) == Verdict(None, cash=D(1000), qty=D(10))
    assert risk.check(order("limit", "sell", limit="100"), just, None, None) == Verdict(None, qty=D(10))


def test_max_order_notional_prices_a_market_order_at_the_slipped_last_price() -> None:
    limited = account(max_order_notional=D(1000), slippage_bps=D(10))
    # 10 x (100 x 1.001) = 1001.00
    assert risk.check(order(), limited, quote("100"), None) == Verdict(
        "order notional 1001.00 exceeds max_order_notional 1000", "max_order_notional"
    )
    assert risk.check(order(), limited, quote("99.89"), None).reason is None  # 99.9899 -> 999.90


def test_max_position_notional_counts_held_open_buys_and_this_order() -> None:
    # 5 held + 2 on open buy orders + 3 now, at 100: 1000
    crowded = [("buy", "200", "2")]
    over = account(held="5", reserve=crowded, max_position_notional=D("999.99"))
    assert risk.check(order("limit", qty="3", limit="100"), over, None, None) == Verdict(
        "position in AAPL would reach 1000.00, above max_position_notional 999.99", "max_position_notional"
    )
    room = account(held="5", reserve=crowded, max_position_notional=D(1000))
    assert risk.check(order("limit", qty="3", limit="100"), room, None, None) == Verdict(
        None, cash=D(300), qty=D(3)
    )
    # open sells do not add to the position, and sells are not limited by it
    selling = account(held="5", reserve=[("sell", "0", "5")], max_position_notional=D(800))
    assert risk.check(order("limit", qty="3", limit="100"), selling, None, None).reason is None


def test_selling_more_than_is_held_is_rejected() -> None:
    holding = account(held="10")
    assert risk.check(order("limit", "sell", qty="11", limit="100"), holding, None, None) == Verdict(
        "insufficient position: AAPL holds 10, of which 10 is not held by open sell orders; "
        "this order sells 11 (short selling is off on account acct)",
        "insufficient_position",
    )
    assert risk.check(order("limit", "sell", qty="10", limit="100"), holding, None, None) == Verdict(
        None, qty=D(10)
    )
    nothing = account()
    assert risk.check(order("limit", "sell", qty="1", limit="100"), nothing, None, None).reason == (
        "insufficient position: AAPL holds 0, of which 0 is not held by open sell orders; "
        "this order sells 1 (short selling is off on account acct)"
    )


def test_selling_more_than_open_sells_leave_is_rejected() -> None:
    holding = account(held="10", reserve=[("sell", "0", "4"), ("buy", "500", "5")])
    assert risk.check(order("limit", "sell", qty="7", limit="100"), holding, None, None) == Verdict(
        "insufficient position: AAPL holds 10, of which 6 is not held by open sell orders; "
        "this order sells 7 (short selling is off on account acct)",
        "insufficient_position",
    )
    assert risk.check(order("limit", "sell", qty="6", limit="100"), holding, None, None) == Verdict(
        None, qty=D(6)
    )


def test_the_position_check_comes_before_the_notional_limit_for_sells() -> None:
    both = account(held="1", max_order_notional=D(10))
    reason = risk.check(order("limit", "sell", qty="2", limit="100"), both, None, None).reason
    assert reason is not None and reason.startswith("insufficient position")


# -- checks against the running totals as fills and closes change them ---------------------------


def test_buying_power_follows_what_fills_and_closes_give_back() -> None:
    terms: dict[str, Any] = {"commission_per_share": D("0.01"), "commission_min": D(1)}
    limit_buy = order("limit", limit="100")  # needs 1001.00
    busy = account("2001", reserve=[("buy", "1000", "10")], **terms)
    # the other buy fills 4 at 100 + 1: 401 of its 1000 is used, and 401 of cash is spent
    partly = busy.apply(fill_of("other-0", "buy", "4", "100", "1", cash_used="401"))
    assert (partly.cash, partly.reserved_cash, partly.buying_power({})) == (D(1600), D(599), D(1001))
    assert risk.check(limit_buy, partly, None, None) == Verdict(None, cash=D(1001), qty=D(10))
    busier = account("2000.99", reserve=[("buy", "1000", "10")], **terms)
    tighter = busier.apply(fill_of("other-0", "buy", "4", "100", "1", cash_used="401"))
    assert (tighter.cash, tighter.reserved_cash) == (D("1599.99"), D(599))
    assert risk.check(limit_buy, tighter, None, None) == Verdict(
        "insufficient buying power: the order needs 1001.00, buying power is 1000.99",
        "insufficient_buying_power",
    )
    # it closes: its leftover 599 is buying power again
    closed = partly.apply(release_of("other-0", "buy", cash="599", qty="6"))
    assert (closed.open_orders, closed.reserved_cash, closed.buying_power({})) == (0, D(0), D(1600))
    assert closed.reserved_qty("AAPL", "buy") == D(0)


def test_sellable_shares_follow_what_fills_and_closes_give_back() -> None:
    holding = account(held="10", reserve=[("sell", "0", "4"), ("buy", "500", "5")])
    # the open sell fills 3: the position and the shares held back both drop by 3
    partly = holding.apply(fill_of("other-0", "sell", "3", "100", "0", cash_used="0"))
    assert (partly.held("AAPL"), partly.reserved_qty("AAPL", "sell")) == (D(7), D(1))
    assert risk.check(order("limit", "sell", qty="7", limit="100"), partly, None, None) == Verdict(
        "insufficient position: AAPL holds 7, of which 6 is not held by open sell orders; "
        "this order sells 7 (short selling is off on account acct)",
        "insufficient_position",
    )
    assert risk.check(order("limit", "sell", qty="6", limit="100"), partly, None, None) == Verdict(
        None, qty=D(6)
    )
    closed = partly.apply(release_of("other-0", "sell", cash="0", qty="1"))
    assert (closed.open_orders, closed.reserved_qty("AAPL", "sell")) == (1, D(0))
    assert risk.check(order("limit", "sell", qty="7", limit="100"), closed, None, None) == Verdict(
        None, qty=D(7)
    )


def test_a_partly_filled_buy_counts_once_toward_the_position_limit() -> None:
    # 5 held + 2 on an open buy + 3 now, at 100: 1000; the open buy then fills 1 of its 2
    crowded = account(held="5", reserve=[("buy", "200", "2")], max_position_notional=D("999.99"))
    partly = crowded.apply(fill_of("other-0", "buy", "1", "100", "0", cash_used="100"))
    assert (partly.held("AAPL"), partly.reserved_qty("AAPL", "buy")) == (D(6), D(1))
    assert risk.check(order("limit", qty="3", limit="100"), partly, None, None) == Verdict(
        "position in AAPL would reach 1000.00, above max_position_notional 999.99", "max_position_notional"
    )
    closed = partly.apply(release_of("other-0", "buy", cash="100", qty="1"))  # 6 + 0 + 3
    assert risk.check(order("limit", qty="3", limit="100"), closed, None, None) == Verdict(
        None, cash=D(300), qty=D(3)
    )


@pytest.mark.parametrize(
    "terms", [{"max_order_notional": D(1_000_000)}, {"max_position_notional": D(1_000_000)}]
)
def test_an_unpriced_buy_is_rejected_when_a_limit_needs_a_price(terms: dict[str, Any]) -> None:
    assert risk.check(order(), account(**terms), None, None) == Verdict(NO_PRICE, "no_price")
    # a limit order carries its own price
    assert risk.check(order("limit", limit="100"), account(**terms), None, None).reason is None
    # so does the last price
    assert risk.check(order(), account(**terms), quote("100"), None).reason is None


def test_an_unpriced_market_buy_passes_without_limits_holding_nothing_back() -> None:
    # its fill is checked against cash instead
    assert risk.check(order(), account(), None, None) == Verdict(None)


def test_an_unpriced_sell_passes_when_no_limit_needs_a_price() -> None:
    """Nothing a sell is checked for needs a price when no notional limit is set: the position
    check is in shares. A market sell of shares held must not need a quote."""
    assert risk.check(order(side="sell", qty="5"), account(held="10"), None, None) == Verdict(None, qty=D(5))


def test_an_unpriced_sell_is_rejected_when_a_limit_needs_a_price() -> None:
    limited = account(held="10", max_order_notional=D(1_000_000))
    assert risk.check(order(side="sell", qty="5"), limited, None, None) == Verdict(NO_PRICE, "no_price")


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_unpriced_notional_order_gets_a_verdict_not_a_crash(side: str) -> None:
    """A notional order before any price is known: its qty cannot be worked out, so it is
    rejected with the usual reason (risk.check must not raise)."""
    notional = order(side=side, qty=None, notional="1000")
    assert risk.check(notional, account(held="10"), None, None) == Verdict(NO_PRICE, "no_price")


# -- what a passing order holds back -----------------------------------------------------------


def test_a_limit_buy_holds_back_its_notional_and_commission() -> None:
    terms: dict[str, Any] = {
        "commission_per_share": D("0.005"),
        "commission_min": D(1),
        "commission_bps": D(1),
        "slippage_bps": D(50),  # not applied to a limit price
    }
    # 10 x 100 = 1000; commission: 0.05 -> 1.00 minimum, + 1000 x 0.0001 = 0.10
    assert risk.check(order("limit", limit="100"), account(**terms), quote("90"), None) == Verdict(
        None, cash=D("1001.10"), qty=D(10)
    )


def test_a_market_buy_holds_back_the_slipped_last_price_and_commission() -> None:
    terms: dict[str, Any] = {"slippage_bps": D(10), "commission_per_share": D("0.01")}
    # 100 x 1.001 = 100.10; 10 x 100.10 = 1001.00; commission 0.10
    assert risk.check(order(), account(**terms), quote("100"), None) == Verdict(
        None, cash=D("1001.10"), qty=D(10)
    )


@pytest.mark.parametrize(("last", "cash"), [(None, "1050"), ("100", "1050"), ("110", "1100")])
def test_a_stop_buy_is_priced_at_its_stop_or_the_higher_last_price(last: str | None, cash: str) -> None:
    stop_buy = order("stop", stop="105")
    assert risk.check(stop_buy, account(), quote(last) if last else None, None) == Verdict(
        None, cash=D(cash), qty=D(10)
    )


def test_a_stop_limit_buy_is_priced_at_its_limit() -> None:
    assert risk.check(order("stop_limit", stop="105", limit="106"), account(), quote("200"), None) == Verdict(
        None, cash=D(1060), qty=D(10)
    )


def test_a_notional_buy_holds_back_the_notional_and_the_commission_on_its_qty() -> None:
    terms: dict[str, Any] = {"commission_per_share": D("0.01")}
    # 1000 / 30 = 33.333333333 shares; 0.33333333333 commission -> 0.33
    assert risk.check(order(qty=None, notional="1000"), account(**terms), quote("30"), None) == Verdict(
        None, cash=D("1000.33"), qty=D("33.333333333")
    )


def test_a_sell_holds_back_shares_not_cash() -> None:
    holding = account(held="10", commission_per_share=D("0.01"))
    assert risk.check(order(side="sell", qty="4"), holding, quote("100"), None) == Verdict(None, qty=D(4))
    assert risk.check(order("stop", "sell", qty="4", stop="90"), holding, None, None) == Verdict(
        None, qty=D(4)
    )
    # a notional sell: the shares the amount comes to at the (slipped) last price
    assert risk.check(order(side="sell", qty=None, notional="250"), holding, quote("100"), None) == Verdict(
        None, qty=D("2.5")
    )


def test_price_estimates() -> None:
    assert risk.price_estimate(order("limit", limit="99"), quote("100")) == D(99)
    assert risk.price_estimate(order("stop", stop="105"), quote("100")) == D(105)
    assert risk.price_estimate(order("stop", stop="105"), quote("110")) == D(110)
    assert risk.price_estimate(order("stop", "sell", stop="95"), quote("90")) == D(95)
    assert risk.price_estimate(order("stop", stop="105"), None) == D(105)
    assert risk.price_estimate(order(), quote("100")) == D(100)
    assert risk.price_estimate(order(), None) is None
