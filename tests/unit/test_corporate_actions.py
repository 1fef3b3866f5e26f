"""Corporate actions in the domain: what a split does to the bars before it, with numbers checkable
by hand, and what makes an action unusable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from trading_system.market_data.domain import (
    ActionKind,
    Bar,
    CorporateAction,
    check_action,
    split_adjusted,
    split_factor,
)


def split(ex: date, new: str, old: str = "1") -> CorporateAction:
    return CorporateAction(
        symbol="X", kind=ActionKind.SPLIT, ex_date=ex, new_rate=Decimal(new), old_rate=Decimal(old)
    )


def dividend(ex: date, amount: str = "0.5", currency: str | None = "USD") -> CorporateAction:
    return CorporateAction(
        symbol="X", kind=ActionKind.CASH_DIVIDEND, ex_date=ex, amount=Decimal(amount), currency=currency
    )


def bar(day: int, price: float, volume: float = 1_000) -> Bar:
    ts = datetime(2024, 6, day, tzinfo=UTC)
    return Bar(ts=ts, open=price, high=price + 8, low=price - 4, close=price, volume=volume)


def test_a_4_for_1_split_quarters_the_prices_before_it_and_quadruples_the_volume() -> None:
    actions = [split(date(2024, 6, 10), "4")]
    assert split_adjusted(bar(7, 400), actions) == Bar(
        ts=datetime(2024, 6, 7, tzinfo=UTC), open=100, high=102, low=99, close=100, volume=4_000
    )
    # The ex-date's own bar already trades on the new terms, and so does every later one.
    assert split_adjusted(bar(10, 101), actions) == bar(10, 101)
    assert split_adjusted(bar(11, 102), actions) == bar(11, 102)


def test_successive_splits_compose() -> None:
    actions = [split(date(2024, 6, 5), "2"), split(date(2024, 6, 10), "3")]
    assert split_factor(actions, datetime(2024, 6, 4, tzinfo=UTC)) == 6  # before both: 2 x 3
    assert split_factor(actions, datetime(2024, 6, 5, tzinfo=UTC)) == 3  # between them
    assert split_factor(actions, datetime(2024, 6, 10, tzinfo=UTC)) == 1  # after both
    assert split_adjusted(bar(4, 600), actions).close == 100
    assert split_adjusted(bar(4, 600, volume=10), actions).volume == 60
    assert split_adjusted(bar(7, 300), actions).close == 100


def test_a_reverse_split_raises_the_prices_before_it_and_stays_exact() -> None:
    one_for_three = split(date(2024, 6, 10), "1", "3")
    assert one_for_three.ratio * 3 == pytest.approx(Decimal(1))
    adjusted = split_adjusted(bar(7, 2.0, volume=3_000), [one_for_three])
    assert adjusted.close == pytest.approx(6.0) and adjusted.volume == pytest.approx(1_000)


def test_dividends_do_not_adjust_prices() -> None:
    actions = [dividend(date(2024, 6, 10), "2.5")]
    assert split_factor(actions, datetime(2024, 6, 1, tzinfo=UTC)) == 1
    assert split_adjusted(bar(7, 400), actions) == bar(7, 400)


def test_an_action_identifies_itself_by_kind_and_ex_date() -> None:
    assert split(date(2024, 6, 10), "4").key == split(date(2024, 6, 10), "2").key
    assert split(date(2024, 6, 10), "4").key != dividend(date(2024, 6, 10)).key


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        (split(date(2024, 6, 10), "4"), []),
        (dividend(date(2024, 6, 10)), []),
        (split(date(2024, 6, 10), "2", "2"), ["new_rate"]),  # 1 for 1
        (split(date(2024, 6, 10), "0"), ["new_rate"]),
        (split(date(2024, 6, 10), "-4"), ["new_rate"]),
        (
            CorporateAction(symbol="X", kind=ActionKind.SPLIT, ex_date=date(2024, 6, 10)),
            ["new_rate", "old_rate"],
        ),
        (dividend(date(2024, 6, 10), currency=None), ["currency"]),
        (dividend(date(2024, 6, 10), currency="usd"), ["currency"]),
        (dividend(date(2024, 6, 10), amount="0"), ["amount"]),
        (split(date(2024, 6, 10), "4").model_copy(update={"amount": Decimal(1)}), ["amount"]),
        (dividend(date(2024, 6, 10)).model_copy(update={"new_rate": Decimal(2)}), ["new_rate"]),
    ],
)
def test_what_makes_an_action_unusable(action: CorporateAction, fields: list[str]) -> None:
    assert [field for field, _ in check_action(action)] == fields
