"""Symbols: tickers and pairs (BTC/USD) accepted, anything that could escape a path refused, and
the one way a symbol is written as a path segment (lake partitions, file names, URLs)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading_system.entrypoints.stream import parse_client_message
from trading_system.market_data.domain import (
    SYMBOL_INPUT_PATTERN,
    parse_symbol,
    symbol_of_segment,
    symbol_segment,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USD", "BTC/USD"),
        ("eur/usd", "EUR/USD"),
        (" btc/usdt ", "BTC/USDT"),
        ("1000SHIB/USDT", "1000SHIB/USDT"),
        ("BRK.B/USD", "BRK.B/USD"),
        ("AAPL", "AAPL"),
        ("BTC-USD", "BTC-USD"),
        ("X" * 20 + "/" + "Y" * 20, "X" * 20 + "/" + "Y" * 20),
    ],
)
def test_pairs_and_tickers_are_accepted(text: str, expected: str) -> None:
    assert parse_symbol(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("/USD", "nothing before its '/'"),
        ("BTC/", "nothing after its '/'"),
        ("/", "nothing before its '/'"),
        ("BTC//USD", "it has 2 slashes, a pair has one"),
        ("A/B/C", "it has 2 slashes, a pair has one"),
        ("../etc", "'..' of the pair is not a ticker"),
        ("BTC/..", "'..' of the pair is not a ticker"),
        ("BTC/.", "'.' of the pair is not a ticker"),
        ("BTC / USD", "'BTC ' and ' USD' of the pair are not tickers"),
        ("BTC/" + "U" * 21, "of the pair is not a ticker"),
        ("", "it is empty"),
        ("   ", "it is empty"),
    ],
)
def test_malformed_pairs_are_refused_saying_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)) as refused:
        parse_symbol(text)
    assert f"{text!r} is not a valid symbol" in str(refused.value)
    assert "e.g. BTC/USD" in str(refused.value)  # and what would be right


@pytest.mark.parametrize(
    "text",
    ["BTC\\USD", "BTC%2FUSD", "BTC%USD", "symbol=BTC", "BTC\tUSD", "BTC\nUSD", "BTC\x00", "BTC:USD", "ÄPFEL"],
)
def test_what_a_path_or_url_would_read_differently_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a valid symbol: use 1-20 characters"):
        parse_symbol(text)


def test_the_openapi_pattern_is_the_same_rule_before_normalising() -> None:
    pattern = re.compile(SYMBOL_INPUT_PATTERN)
    for text in ("btc/usd", " AAPL ", "BRK.B", "EUR/USD"):
        assert pattern.match(text), text
    for text in ("BTC//USD", "/USD", "BTC/", "BTC%2FUSD", "A B"):
        assert not pattern.match(text), text


@pytest.mark.parametrize(
    ("symbol", "segment"),
    [("BTC/USD", "BTC%2FUSD"), ("AAPL", "AAPL"), ("BRK.B", "BRK.B"), ("BTC-USD", "BTC-USD"), ("A_B", "A_B")],
)
def test_a_symbol_is_one_path_segment(symbol: str, segment: str) -> None:
    # Plain tickers are written as they always were: lakes from before pairs read unchanged.
    assert symbol_segment(symbol) == segment
    assert symbol_of_segment(segment) == symbol


PART = st.from_regex(r"[A-Z0-9][A-Z0-9._-]{0,19}", fullmatch=True)
SYMBOLS = st.one_of(PART, st.tuples(PART, PART).map("/".join))


@given(SYMBOLS)
def test_every_symbol_round_trips_through_its_segment_which_holds_no_slash(symbol: str) -> None:
    assert parse_symbol(symbol) == symbol
    segment = symbol_segment(symbol)
    assert "/" not in segment and "\\" not in segment and segment not in (".", "..")
    assert symbol_of_segment(segment) == symbol


@pytest.mark.parametrize("channel", ["bars:BTC/USD", "bars:BTC/USD:1m", "bars:EUR/USD:1d", "bars:AAPL:5m"])
def test_a_pair_has_its_bar_channels(channel: str) -> None:
    assert parse_client_message(f'{{"action": "subscribe", "channels": ["{channel}"]}}').channels == [channel]


@pytest.mark.parametrize("channel", ["bars:BTC//USD", "bars:/USD:1m", "bars:BTC/:1m", "bars:BTC/USD:2m"])
def test_a_malformed_pair_channel_is_unknown(channel: str) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        parse_client_message(f'{{"action": "subscribe", "channels": ["{channel}"]}}')
