"""Alpaca's bar pages decoded into typed bars and read a column at a time (adapters/providers/
alpaca.py `_page`) give the bars the row-by-row reader gives, and refuse what it refuses, naming
the row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest

from trading_system.adapters.providers.alpaca import _bar, _page
from trading_system.market_data.bar_batch import BarSeries
from trading_system.market_data.domain import Timeframe
from trading_system.market_data.ports import ProviderGarbage


def row(t: str, o: Any = 185.0, v: Any = 1200) -> dict[str, Any]:
    return {"t": t, "o": o, "h": 186.5, "l": 184.25, "c": 185.75, "v": v, "n": 31, "vw": 185.4}


def page(rows: list[Any], token: Any = None, timeframe: Timeframe = Timeframe.M1) -> BarSeries:
    series, next_token = _page(orjson.dumps({"bars": rows, "next_page_token": token}), "AAPL", timeframe)
    assert next_token == token
    return series


def one_by_one(rows: list[dict[str, Any]], timeframe: Timeframe = Timeframe.M1) -> BarSeries:
    return BarSeries.of([_bar(r, i, "AAPL", timeframe) for i, r in enumerate(rows)])


def same(a: BarSeries, b: BarSeries) -> None:
    for name in ("ts_us", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-02T14:30:00Z", "2024-01-02T14:31:00Z"],  # Alpaca's own form: read column-wise
        ["2024-01-02T14:30:00.123456789Z", "2024-01-02T14:31:00Z"],  # nanoseconds
        ["2024-01-02T09:30:00-05:00", "2024-01-02T09:31:00-05:00"],  # an offset
        # as long as three stamps of Alpaca's form together, cut in the wrong places
        ["2024-01-02T14:30:00", "2024-01-02T14:31:00", "2024-01-02T14:32:00.1Z"],
        [],
    ],
)
def test_every_form_of_stamp_reads_as_the_row_reader_reads_it(stamps: list[str]) -> None:
    rows = [row(t) for t in stamps]
    same(page(rows), one_by_one(rows))


def test_a_page_in_alpacas_form_reads_to_the_microsecond() -> None:
    series = page([row("2024-01-02T14:30:00Z", o=185, v=7)], token="next")
    assert series.moment(0) == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert series.open.dtype == np.dtype(np.float64)
    assert (float(series.open[0]), float(series.volume[0])) == (185.0, 7.0)


def test_daily_bars_are_dated_by_their_session_either_way() -> None:
    rows = [row("2024-01-02T05:00:00Z"), row("2024-01-03T05:00:00Z")]
    series = page(rows, timeframe=Timeframe.D1)
    same(series, one_by_one(rows, Timeframe.D1))
    assert series.moment(1) == datetime(2024, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (row("2024-01-02T14:31:00Z", o="1.5"), "'o' is '1.5', not a number"),  # numpy would take it
        (row("2024-01-02T14:31:00Z", o=True), "'o' is 'True', not a number"),  # and this as 1.0
        (row("2024-01-02T14:31:00Z", v=None), "'v' is 'None', not a number"),
        (row("2024-13-02T14:31:00Z"), "is not an RFC 3339 time"),
        ({"o": 1.0}, "'t' is missing"),
        (["2024-01-02T14:31:00Z", 1, 2, 3, 4, 5], "not an object"),
    ],
)
def test_a_malformed_row_is_garbage_naming_it(bad: Any, says: str) -> None:
    with pytest.raises(ProviderGarbage, match="row 1 of the page") as raised:
        page([row("2024-01-02T14:30:00Z"), bad])
    assert says in str(raised.value)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"bars": {}, "next_page_token": null}', None),  # no bars, as null or []
        (b'{"bars": 7}', "that are not a list"),
        (b'{"bars": [], "next_page_token": 3}', "a next_page_token for AAPL that is not text"),
        (b'[{"t": "2024-01-02T14:30:00Z"}]', "JSON that is not an object"),
        (b'{"bars": [{"t": "2024-01-02T14:30:00Z", "o": 1e999}]}', "something that is not JSON"),
        (b"<html>", "something that is not JSON"),
        (b'{"bars": [], "next_page_token": "a\xffb"}', "something that is not JSON"),  # not UTF-8
        (b'{"bars": [' * 2000 + b"]" * 2000 + b"}", "something that is not JSON"),  # past any depth
        # a bad row and a bad token: the row is named first, as the bar-by-bar reader reads it
        (b'{"bars": [{"t": "2024-01-02T14:30:00Z", "o": "1"}], "next_page_token": 3}', "row 0 of the page"),
    ],
)
def test_a_page_not_in_alpacas_form_is_read_or_refused_as_before(body: bytes, says: str | None) -> None:
    if says is None:
        series, token = _page(body, "AAPL", Timeframe.M1)
        assert (len(series), token) == (0, None)
        return
    with pytest.raises(ProviderGarbage) as raised:
        _page(body, "AAPL", Timeframe.M1)
    assert says in str(raised.value)
