"""Symbols: what one may be, and how one is written as a path segment. Pure, and apart from
`domain` so that what checks a symbol without needing the domain's models (the stream's channel
names, read by the fan-out Lambda) does not pay for importing them."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

# A symbol, once normalised: a ticker (AAPL, BRK.B), or a pair of them joined by one slash where
# the exchange names its markets so (BTC/USD, EUR/USD). Each part starts with a letter or a digit,
# so no part can be `.` or `..`. The one rule, also read by the file parser's SQL check and the
# stream's channel names; SYMBOL_INPUT_PATTERN is the same rule before `parse_symbol` strips and
# upper-cases, as the OpenAPI document shows it (a validator function shows in no schema).
_PART = r"[A-Z0-9][A-Z0-9._-]{0,19}"
SYMBOL_RULE = rf"{_PART}(/{_PART})?"
SYMBOL_INPUT_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{0,19}(/[A-Za-z0-9][A-Za-z0-9._-]{0,19})?\s*$"
_SYMBOL = re.compile(SYMBOL_RULE)
_PART_RULE = re.compile(_PART)


def parse_symbol(text: str) -> str:
    """Normalise a symbol: upper case, a ticker of 1-20 of A-Z 0-9 . _ - starting with a letter or
    a digit, or two of them joined by one `/` (a pair: BTC/USD). Anything else is refused, as a
    symbol ends up in lake paths, file names and URLs (see `symbol_segment`)."""
    symbol = text.strip().upper()
    if _SYMBOL.fullmatch(symbol):
        return symbol
    raise ValueError(f"{text!r} is not a valid symbol: {_why_not(symbol)}")


def _why_not(symbol: str) -> str:
    """What is wrong with a symbol `parse_symbol` refuses, in the words a user can act on."""
    rule = (
        "use 1-20 characters A-Z, 0-9, '.', '_' or '-', starting with a letter or digit "
        "(a pair: two of those joined by one '/', e.g. BTC/USD)"
    )
    if not symbol:
        return f"it is empty; {rule}"
    if symbol.count("/") > 1:
        return f"it has {symbol.count('/')} slashes, a pair has one; {rule}"
    if "/" in symbol:
        base, quote_part = symbol.split("/")
        if not base or not quote_part:
            return f"nothing {'before' if not base else 'after'} its '/'; {rule}"
        bad = [part for part in (base, quote_part) if not _PART_RULE.fullmatch(part)]
        named = " and ".join(repr(p) for p in bad)
        return f"{named} of the pair {'is not a ticker' if len(bad) == 1 else 'are not tickers'}; {rule}"
    return rule


def symbol_segment(symbol: str) -> str:
    """A symbol as one path segment: a lake partition value (`symbol=BTC%2FUSD`), a file name, a
    URL path segment. Percent-encoding (RFC 3986, as Hive and DuckDB's PARTITION_BY write partition
    values), so a plain ticker stays as it is and a pair's slash becomes %2F: never a separator.
    `symbol_of_segment` is its inverse."""
    return quote(symbol, safe="")


def symbol_of_segment(segment: str) -> str:
    """The symbol a path segment made by `symbol_segment` (or by DuckDB's PARTITION_BY) names."""
    return unquote(segment)
