"""The scanner rule language: parsing, checking, errors, compiled SQL run in DuckDB, SQL safety."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trading_system.analytics.specs import INDICATORS, make_spec
from trading_system.scanning.rules import (
    BUILTINS,
    FIELDS,
    MAX_DEPTH,
    MAX_INDICATORS,
    MAX_NODES,
    MAX_TEXT_LENGTH,
    PATTERNS,
    Arith,
    Boolean,
    Call,
    Compare,
    CompiledRule,
    Cross,
    Field,
    Indicator,
    Logic,
    Neg,
    Not,
    Number,
    Pattern,
    Prev,
    Rule,
    RuleError,
    compile_rule,
    parse,
    scan_sql,
    unparse,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "RULES.md"

# ---------------------------------------------------------------------------------------------
# Helpers shared with test_rules_properties.py

# Every SQL token the compiler may write besides whitelisted quoted identifiers and $n
# placeholders. A rule's text can only reach the SQL by matching one of these.
_SQL_TOKEN = re.compile(
    r"""\s+|\$[0-9]+|"[a-z0-9_]+"|\[1\]|<=|>=|<>|[()\[\],=<>+\-*/]
    |'(?:Infinity|-Infinity|NaN|ASC|DESC|NULLS\ FIRST)'|::DOUBLE|::|(?<![A-Za-z_])0(?![0-9.])
    |\b(?:SELECT|FROM|WHERE|AND|OR|NOT|COALESCE|FALSE|TRUE|AS|CAST|DOUBLE|NULLIF|list_sort
    |list_contains|VARCHAR|abs|ORDER|BY)\b""",
    re.VERBOSE,
)


def whitelist(specs: Iterable[Any] = ()) -> set[str]:
    numeric = {*FIELDS, *(c for s in specs for c in s.columns())}
    return {
        *numeric,
        *(f"prev__{c}" for c in numeric),
        *(f"pattern_{p}" for p in PATTERNS),
        "symbol",
        "ts",
        "snapshot",
        *(f"r{i}" for i in range(64)),
    }


def assert_sql_safe(sql: str, params: Sequence[Any], specs: Iterable[Any] = ()) -> None:
    """The SQL is made only of compiler vocabulary, whitelisted identifiers and placeholders."""
    allowed = whitelist(specs)
    pos = 0
    placeholders: set[int] = set()
    while pos < len(sql):
        match = _SQL_TOKEN.match(sql, pos)
        assert match, f"unexpected SQL text at {pos}: {sql[pos : pos + 40]!r}"
        token = match.group()
        if token.startswith('"'):
            assert token.strip('"') in allowed, token
        if token.startswith("$"):
            placeholders.add(int(token[1:]))
        pos = match.end()
    assert placeholders == set(range(1, len(params) + 1))


def create_snapshot(con: duckdb.DuckDBPyConnection, columns: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(["open", "high", "low", "close", "volume", *columns]))
    defs = ['"symbol" VARCHAR', '"ts" TIMESTAMP']
    defs += [f'"{c}" BOOLEAN' if c.startswith("pattern_") else f'"{c}" DOUBLE' for c in names]
    con.execute(f"CREATE TABLE snapshot ({', '.join(defs)})")
    return names


def locked(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No files, no extensions, and no way to turn that back on."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def run(rules: Sequence[str], rows: Sequence[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    """Compile `rules`, load `rows` into a fresh `snapshot` and run the scan."""
    compiled = [compile_rule(parse(text)) for text in rules]
    sql, params = scan_sql(compiled, **kwargs)
    assert_sql_safe(sql, params, {s for c in compiled for s in c.specs})
    con = duckdb.connect()
    columns = create_snapshot(con, [c for rule in compiled for c in rule.columns])
    for row in rows:
        values = [row.get("symbol"), row.get("ts", datetime(2024, 1, 2))] + [row.get(c) for c in columns]
        con.execute(f"INSERT INTO snapshot VALUES ({', '.join('?' * len(values))})", values)
    result = locked(con).execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def symbols(rules: Sequence[str], rows: Sequence[dict[str, Any]], **kwargs: Any) -> list[str]:
    return [r["symbol"] for r in run(rules, rows, **kwargs)]


def error(text: str) -> RuleError:
    with pytest.raises(RuleError) as info:
        compile_rule(parse(text))
    return info.value


def doc_examples() -> list[str]:
    blocks = re.findall(r"```rule\n(.*?)```", DOCS.read_text(), re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Parsing


def test_the_design_example_parses_to_the_expected_tree() -> None:
    rule = parse("rsi(14) < 30 and close > sma(200) and volume > 2 * sma(volume, 20)")
    assert rule.expr == Logic(
        "and",
        (
            Compare("<", Indicator(make_spec("rsi", [14])), Number(30)),
            Compare(">", Field("close"), Indicator(make_spec("sma", [200]))),
            Compare(
                ">",
                Field("volume"),
                Arith("*", Number(2), Indicator(make_spec("sma", [20], "volume"))),
            ),
        ),
    )
    compiled = compile_rule(rule)
    assert compiled.specs == {
        make_spec("rsi", [14]),
        make_spec("sma", [200]),
        make_spec("sma", [20], "volume"),
    }
    assert compiled.columns == ("rsi_14", "close", "sma_200", "volume", "sma_20_volume")
    assert compiled.params == [30.0, 2.0]
    assert compiled.patterns == frozenset()


def test_documented_examples_all_parse_compile_and_round_trip() -> None:
    examples = doc_examples()
    assert len(examples) >= 20
    for text in examples:
        rule = parse(text)
        assert parse(str(rule)) == rule, text
        compiled = compile_rule(rule)
        assert_sql_safe(compiled.where_sql, compiled.params, compiled.specs)


def test_documented_errors_are_the_real_ones() -> None:
    table = re.findall(r"^\| `([^`]+)` \| (line \d+, column \d+: .*?) \|$", DOCS.read_text(), re.MULTILINE)
    assert len(table) >= 8
    for text, documented in table:
        assert str(error(text)).startswith(documented.split("...")[0].rstrip()), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3 > 0", "1 + (2 * 3) > 0"),
        ("1 - 2 - 3 > 0", "(1 - 2) - 3 > 0"),
        ("8 / 4 / 2 > 0", "(8 / 4) / 2 > 0"),
        ("-close * 2 > 0", "(-close) * 2 > 0"),
        ("- (close + 1) > 0", "-(close + 1) > 0"),
        ("not close > 1 and open > 1", "(not (close > 1)) and (open > 1)"),
        ("close > 1 or open > 1 and high > 1", "(close > 1) or ((open > 1) and (high > 1))"),
        ("not not doji()", "not (not doji())"),
        ("doji() == (close > 1)", "(doji()) == ((close > 1))"),
    ],
)
def test_operator_precedence(text: str, expected: str) -> None:
    assert parse(text) == parse(expected)


def test_precedence_trees_explicitly() -> None:
    close, one = Field("close"), Number(1)
    assert parse("close + 1 * 2 > 1").expr == Compare(">", Arith("+", close, Arith("*", one, Number(2))), one)
    assert parse("close > 1 or doji() and hammer()").expr == Logic(
        "or", (Compare(">", close, one), Logic("and", (Pattern("doji"), Pattern("hammer"))))
    )
    # Parentheses nest instead of flattening, so the tree keeps what the user wrote.
    assert parse("(doji() and hammer()) and true").expr == Logic(
        "and", (Logic("and", (Pattern("doji"), Pattern("hammer"))), Boolean(True))
    )


def test_negative_literals_fold_and_unary_minus_stays_on_expressions() -> None:
    assert parse("close > -3").expr == Compare(">", Field("close"), Number(-3))
    assert parse("close > --3").expr == Compare(">", Field("close"), Number(3))
    assert parse("-close < 0").expr == Compare("<", Neg(Field("close")), Number(0))


def test_keywords_and_names_are_case_insensitive_and_aliases_normalise() -> None:
    assert parse("RSI(14) < 30 AND Close > SMA(200) Or NOT Doji()") == parse(
        "rsi(14) < 30 and close > sma(200) or not doji()"
    )
    assert parse("close = 3") == parse("close == 3")
    assert parse("close <> 3") == parse("close != 3")
    assert parse("TRUE or False").expr == Logic("or", (Boolean(True), Boolean(False)))
    # keywords do not eat the start of a longer name
    assert error("android > 1").message.startswith("unknown field 'android'")
    assert error("orange > 1").message.startswith("unknown field 'orange'")


def test_numbers_in_every_notation() -> None:
    for text, value in [("2", 2), ("2.5", 2.5), (".5", 0.5), ("5.", 5), ("1e6", 1e6), ("2.5E-3", 0.0025)]:
        assert parse(f"close > {text}").expr == Compare(">", Field("close"), Number(value))


def test_indicator_calls_defaults_sources_and_outputs() -> None:
    def ind(text: str) -> Indicator:
        expr = parse(f"{text} > 0").expr
        assert isinstance(expr, Compare) and isinstance(expr.left, Indicator)
        return expr.left

    assert ind("sma()").spec == make_spec("sma", [30])
    assert ind("sma(close, 30)") == ind("sma(30)")
    assert ind("sma(volume, 20)").spec.source == "volume"
    assert ind("sma(volume)").spec == make_spec("sma", [], "volume")
    assert ind("macd(8).signal") == Indicator(make_spec("macd", [8, 26, 9]), "signal")
    assert ind("bbands(20, 2.5).upper").spec.column("upper") == "bbands_20_2p5__upper"
    assert ind("stoch().k").output == "k"
    assert ind("obv()").spec.columns() == ["obv"]
    assert ind("vwap()").output == "value"
    assert ind("adx(14)").spec.key == "adx:14"
    assert ind("atr(14)").spec.key == "atr:14"
    assert ind("ema(20)").spec.key == "ema:20"


def test_prev_crossovers_patterns_and_helpers_build_nodes() -> None:
    close, sma50 = Field("close"), Indicator(make_spec("sma", [50]))
    assert parse("prev(close) < close").expr == Compare("<", Prev(close), close)
    assert parse("crosses_above(close, sma(50))").expr == Cross("above", close, sma50)
    assert parse("crosses_below(close, sma(50))").expr == Cross("below", close, sma50)
    assert parse("bearish_engulfing()").expr == Pattern("bearish_engulfing")
    assert parse("max(open, close, 3) > abs(low)").expr == Compare(
        ">", Call("max", (Field("open"), close, Number(3))), Call("abs", (Field("low"),))
    )


def test_comments_and_line_breaks() -> None:
    text = "# oversold in an uptrend\nrsi(14) < 30   # cheap\n  and close > sma(200)\n"
    assert parse(text) == parse("rsi(14) < 30 and close > sma(200)")
    assert parse(text).text == text


def test_positions_are_kept_but_not_compared() -> None:
    a, b = parse("close > 1"), parse("   close   >   1")
    assert a == b and hash(a) == hash(b)
    assert isinstance(b.expr, Compare) and b.expr.right.pos is not None
    assert (b.expr.right.pos.line, b.expr.right.pos.column) == (1, 16)


def test_builtin_names_never_shadow_a_catalog_indicator() -> None:
    # If the catalog gains an indicator called e.g. `max`, a rule could not reach it: rename one.
    assert not set(BUILTINS) & set(INDICATORS)
    assert not set(PATTERNS) & set(INDICATORS)
    assert not set(FIELDS) & set(INDICATORS)


# ---------------------------------------------------------------------------------------------
# Errors


def test_syntax_error_says_where_and_what_was_expected() -> None:
    e = error("close >")
    assert (e.line, e.column) == (1, 8)
    assert e.expected == ["a number", "a field", "a function call", "'('"]
    assert e.message == "expected a number, a field, a function call or '(', found the end of the rule"
    assert str(e) == f"line 1, column 8: {e.message}"
    assert isinstance(e, ValueError)
    assert e.as_dict() == {"message": e.message, "line": 1, "column": 8, "expected": e.expected}


def test_syntax_error_on_a_later_line() -> None:
    e = error("rsi(14) < 30\nand close > > 3")
    assert (e.line, e.column) == (2, 13)
    assert "found '>'" in e.message
    assert "a number" in e.expected


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("(close > 1", 1, 11, "expected ')', found the end of the rule"),
        ("10 < rsi(14) < 30", 1, 14, "comparisons cannot be chained"),
        ("close > 3 && open < 2", 1, 11, "unexpected character '&'"),
        ("close > 3 ; drop table x", 1, 11, "a rule is a single expression"),
        ("close > 'a'", 1, 9, "the language has no strings"),
        ("close 3 > 1", 1, 7, "found the number 3"),
        ("macd().", 1, 8, "expected an output name such as 'signal'"),
        ("sma(20,) > 1", 1, 8, "found ')'"),
        ("close > 1 and", 1, 14, "found the end of the rule"),
        ("close\u00a0> 1", 1, 6, "unexpected character U+00A0"),
        ("close > 1\x00", 1, 10, "unexpected character U+0000"),
    ],
)
def test_syntax_errors(text: str, line: int, column: int, fragment: str) -> None:
    e = error(text)
    assert (e.line, e.column) == (line, column), str(e)
    assert fragment in e.message, str(e)
    assert e.expected, str(e)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rsii(14) < 30", "unknown function 'rsii'; did you mean 'rsi'?"),
        ("crosses_abov(close, open)", "unknown function 'crosses_abov'; did you mean 'crosses_above'?"),
        ("clos > 3", "unknown field 'clos'; did you mean 'close'? (fields: open, high, low, close, volume)"),
        ("foo > 3", "unknown field 'foo' (fields: open, high, low, close, volume)"),
        ("rsi > 30", "'rsi' is a function: write rsi(...)"),
        ("close() > 3", "'close' is a field, not a function: write close"),
    ],
)
def test_unknown_names_suggest_the_closest(text: str, message: str) -> None:
    e = error(text)
    assert e.message == message
    assert (e.line, e.column) == (1, 1)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sma(0) > 1", "sma period must be a whole number from 1 to 10000, got 0"),
        ("sma(1.5) > 1", "whole number"),
        ("sma(-5) > 1", "got -5"),
        ("rsi(14, 3) > 1", "rsi takes at most 1 parameter(s)"),
        ("macd(26, 12).macd > 1", "fast period must be shorter"),
        ("bbands(20, 0).upper > 1", "k must be greater than 0"),
        ("atr(volume, 14) > 1", "atr is computed from whole bars and takes no source field"),
        ("atr(close, 14) > 1", "takes no source field"),
        ("sma(20, volume) > 1", "the source field goes first, e.g. sma(volume, 20)"),
        ("sma(close + 1) > 1", "parameters must be plain numbers"),
        ("sma(2 * 10) > 1", "parameters must be plain numbers"),
    ],
)
def test_bad_indicator_parameters(text: str, fragment: str) -> None:
    assert fragment in error(text).message


def test_outputs_of_multi_output_indicators() -> None:
    e = error("macd(12, 26, 9) > 0")
    assert e.message == (
        "macd() has several outputs; choose one: "
        "macd(12, 26, 9).macd, macd(12, 26, 9).signal, macd(12, 26, 9).hist"
    )
    assert e.expected == ["macd", "signal", "hist"]
    e = error("bbands(20, 2).uper > close")
    assert e.message == "bbands() has no output 'uper'; it has upper, middle, lower; did you mean 'upper'?"
    assert error("sma(20).value > 0").message == "sma() has a single value; remove '.value'"
    assert error("doji().x").message == "doji() has no outputs to choose from; remove '.x'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rsi(14) and 3", "'and' needs conditions on both sides, but `rsi(14)` is a number"),
        ("doji() and 3", "'and' needs conditions on both sides, but `3` is a number"),
        ("not close", "'not' needs a condition, but `close` is a number"),
        ("close + doji() > 1", "'+' needs numbers on both sides, but `doji()` is a condition (true/false)"),
        ("-doji()", "'-' needs a number, but `doji()` is a condition (true/false)"),
        ("doji() < 3", "'<' compares numbers, but `doji()` is a condition (true/false)"),
        ("doji() == 3", "'==' cannot compare a condition (`doji()`) with a number (`3`)"),
        ("abs(doji()) > 1", "abs() needs numbers, but `doji()` is a condition (true/false)"),
        ("crosses_above(close > 1, 1)", "crosses_above() compares numbers, but `close > 1` is a condition"),
        ("close + 1", "a rule must be a condition (true or false), such as `rsi(14) < 30`; `close + 1`"),
    ],
)
def test_type_errors(text: str, message: str) -> None:
    assert error(text).message.startswith(message)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("prev(prev(close)) > 1", "prev() cannot be used in prev()"),
        ("prev(doji())", "doji() has no previous-bar value"),
        ("prev(crosses_above(close, open))", "crosses_above() cannot be used in prev()"),
        ("crosses_above(prev(close), open)", "prev() cannot be used in crosses_above()"),
        ("crosses_below(close, max(open, prev(high)))", "prev() cannot be used in crosses_below()"),
        ("prev(close) > 1 and prev()", "prev() takes 1 argument(s), e.g. prev(close)"),
        ("crosses_above(close)", "crosses_above() takes 2 argument(s)"),
        ("min(close) > 1", "min() takes at least 2 argument(s)"),
        ("abs(close, open) > 1", "abs() takes 1 argument(s)"),
        ("hammer(1)", "hammer() takes no arguments"),
    ],
)
def test_misused_builtins(text: str, fragment: str) -> None:
    assert fragment in error(text).message


def test_limits() -> None:
    assert "too long" in error("close > 1 " + " " * MAX_TEXT_LENGTH).message
    assert "empty" in error("").message
    assert "empty" in error("  # just a comment\n").message
    deep = "(" * 40 + "close" + ")" * 40 + " > 1"
    assert parse(deep)  # parentheses alone add no depth
    assert "nested too deeply" in error("-" * (MAX_DEPTH + 1) + "close > 1").message
    assert "nested too deeply" in error("not " * (MAX_DEPTH + 1) + "doji()").message
    assert parse(" and ".join(["close > 1"] * 60))  # and-chains are flat: long but shallow
    many = " and ".join(["close > open + high"] * 60)
    assert "too complex" in error(many).message and len(many) < MAX_TEXT_LENGTH
    assert MAX_NODES < 60 * 6
    indicators = " and ".join(f"sma({n}) > 1" for n in range(1, MAX_INDICATORS + 2))
    assert f"at most {MAX_INDICATORS} different indicators" in error(indicators).message
    assert "too large" in error("close > 1e13").message
    assert "too large" in error("close > 1e999").message
    assert "too large" in error("close > " + "9" * 400).message
    assert parse("close > 1e12") and parse("close > -1e12")


def test_hostile_nesting_is_rejected_cleanly_not_with_a_recursion_error() -> None:
    for text in ["(" * 1000, "(" * 995 + "1" + ")" * 995, "-" * 1999 + "1", "not " * 499 + "x"]:
        assert isinstance(error(text), RuleError)


def test_only_text_is_accepted() -> None:
    with pytest.raises(RuleError):
        parse(b"close > 1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compile_rule("close > 1")  # type: ignore[arg-type]


def test_hand_built_trees_are_checked_before_compiling() -> None:
    def bad(expr: Any) -> str:
        with pytest.raises(RuleError) as info:
            compile_rule(Rule(expr))
        return info.value.message

    gt = Compare(">", Field("close"), Number(1))
    assert "unknown field" in bad(Compare(">", Field("symbol"), Number(1)))
    assert "unknown field" in bad(Compare(">", Field('close" OR 1=1 --'), Number(1)))
    assert "out of range" in bad(Compare(">", Field("close"), Number(math.nan)))
    assert "out of range" in bad(Compare(">", Field("close"), Number(1e300)))
    assert "unknown pattern" in bad(Logic("and", (gt, Pattern("x; drop"))))
    assert "at least two" in bad(Logic("and", (gt,)))
    assert "unknown function 'pow'" in bad(Compare(">", Call("pow", (Number(2),)), Number(1)))  # type: ignore[arg-type]
    assert "above or below" in bad(Cross("sideways", Field("close"), Number(1)))  # type: ignore[arg-type]
    assert "cannot take 3" in bad(Compare(">", Call("abs", (Number(1),) * 3), Number(1)))
    assert "invalid indicator" in bad(
        Compare(">", Indicator(make_spec("sma", [20]), "upper"), Number(1))  # no such output
    )
    deep: Any = gt
    for _ in range(5000):
        deep = Not(deep)
    assert "nested too deeply" in bad(deep)


# ---------------------------------------------------------------------------------------------
# Compiled SQL on a hand-made snapshot

BASE = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1000.0}


def row(symbol: str, **values: Any) -> dict[str, Any]:
    return {"symbol": symbol, **BASE, **values}


def test_the_design_example_finds_the_right_symbols() -> None:
    rule = "rsi(14) < 30 and close > sma(200) and volume > 2 * sma(volume, 20)"
    rows = [
        row("HIT", rsi_14=25.0, sma_200=10.0, volume=1000.0, sma_20_volume=400.0),
        row("RSI_HIGH", rsi_14=35.0, sma_200=10.0, sma_20_volume=400.0),
        row("BELOW_SMA", rsi_14=25.0, sma_200=11.0, sma_20_volume=400.0),
        row("LOW_VOLUME", rsi_14=25.0, sma_200=10.0, sma_20_volume=600.0),
        row("EXACTLY_2X", rsi_14=25.0, sma_200=10.0, sma_20_volume=500.0),
        row("WARMING_UP", rsi_14=None, sma_200=10.0, sma_20_volume=400.0),
    ]
    result = run([rule], rows)
    assert [r["symbol"] for r in result] == ["HIT"]
    assert result[0] == {
        "symbol": "HIT",
        "ts": datetime(2024, 1, 2),
        "rsi_14": 25.0,
        "close": 10.5,
        "sma_200": 10.0,
        "volume": 1000.0,
        "sma_20_volume": 400.0,
        "r0": True,
    }


@pytest.mark.parametrize(
    ("rule", "matching"),
    [
        ("close > open", ["A", "B"]),
        ("close >= 10.5", ["A", "B"]),
        ("close == 10.5", ["A", "B"]),
        ("close = 9", ["C"]),
        ("close != 10.5", ["C"]),
        ("close - open > 0.25", ["A", "B"]),
        ("close / open > 1.04", ["A", "B"]),
        ("-close < -10", ["A", "B"]),
        ("close * 2 - 1 == 20", ["A", "B"]),
        ("abs(close - open) >= 1", ["C"]),
        ("min(open, close) == 9", ["C"]),
        ("max(open, close, 10.25) == 10.5", ["A", "B"]),
        ("not (close > open)", ["C"]),
        ("close > open or doji()", ["A", "B", "C"]),
        ("doji() == false", ["A", "B"]),
        ("true", ["A", "B", "C"]),
        ("false", []),
        ("bbands(20, 2).upper < close", ["A"]),
    ],
)
def test_arithmetic_comparisons_and_logic(rule: str, matching: list[str]) -> None:
    rows = [
        row("A", pattern_doji=False, bbands_20_2__upper=10.0),
        row("B", pattern_doji=False, bbands_20_2__upper=11.0),
        row("C", close=9.0, pattern_doji=True, bbands_20_2__upper=None),
    ]
    assert symbols([rule], rows) == matching


def test_prev_reads_the_previous_bar_columns() -> None:
    rows = [
        row("UP", prev__close=10.0, sma_50=10.0, prev__sma_50=9.0, prev__open=10.2),
        row("DOWN", prev__close=11.0, sma_50=10.0, prev__sma_50=11.0, prev__open=10.2),
        row("FIRST_BAR", prev__close=None, sma_50=10.0, prev__sma_50=None, prev__open=None),
    ]
    assert symbols(["close > prev(close)"], rows) == ["UP"]
    assert symbols(["sma(50) > prev(sma(50))"], rows) == ["UP"]
    assert symbols(["prev(close < open) and close > open"], rows) == ["UP"]
    assert symbols(["close / prev(close) - 1 > 0.04"], rows) == ["UP"]
    compiled = compile_rule(parse("prev(close - sma(50)) > 0"))
    assert compiled.columns == ("prev__close", "prev__sma_50")


def test_crossovers() -> None:
    # crosses_above(a, b): prev(a) <= prev(b) and a > b
    rows = [
        row("CROSSED_UP", sma_50=10.0, sma_200=9.0, prev__sma_50=8.0, prev__sma_200=9.0),
        row("TOUCHED_THEN_UP", sma_50=10.0, sma_200=9.0, prev__sma_50=9.0, prev__sma_200=9.0),
        row("ALREADY_ABOVE", sma_50=10.0, sma_200=9.0, prev__sma_50=9.5, prev__sma_200=9.0),
        row("TOUCHING_NOW", sma_50=9.0, sma_200=9.0, prev__sma_50=8.0, prev__sma_200=9.0),
        row("CROSSED_DOWN", sma_50=8.0, sma_200=9.0, prev__sma_50=10.0, prev__sma_200=9.0),
        row("FROM_EQUAL_DOWN", sma_50=8.0, sma_200=9.0, prev__sma_50=9.0, prev__sma_200=9.0),
        row("NO_HISTORY", sma_50=10.0, sma_200=9.0, prev__sma_50=None, prev__sma_200=None),
    ]
    up = symbols(["crosses_above(sma(50), sma(200))"], rows)
    assert up == sorted(["CROSSED_UP", "TOUCHED_THEN_UP"])
    down = symbols(["crosses_below(sma(50), sma(200))"], rows)
    assert down == sorted(["CROSSED_DOWN", "FROM_EQUAL_DOWN"])


def test_crossing_a_constant_and_an_expression() -> None:
    rows = [
        row("A", rsi_14=31.0, prev__rsi_14=29.0, prev__close=10.0, prev__open=10.0),
        row("B", rsi_14=29.0, prev__rsi_14=31.0, prev__close=10.0, prev__open=10.0),
    ]
    assert symbols(["crosses_above(rsi(14), 30)"], rows) == ["A"]
    assert symbols(["crosses_below(rsi(14), 30)"], rows) == ["B"]
    assert symbols(["crosses_above(close - open, 0.25)"], rows) == ["A", "B"]


@pytest.mark.parametrize(
    "rule",
    [
        "rsi(14) < 30",
        "rsi(14) > 30",
        "rsi(14) != 30",
        "not (rsi(14) < 30)",
        "not (rsi(14) >= 30)",
        "rsi(14) * 0 == 0",
        "rsi(14) - rsi(14) == 0",
        "-rsi(14) < 0 or -rsi(14) >= 0",
        "abs(rsi(14)) >= 0",
        "min(rsi(14), 50) <= 50",
        "max(rsi(14), 0) >= 0",
        "crosses_above(rsi(14), 30) or not crosses_above(rsi(14), 30)",
        "prev(rsi(14)) < 100 or prev(rsi(14)) >= 100",
        "doji() or not doji()",
        "doji() == true or doji() == false",
    ],
)
def test_warm_up_values_never_match(rule: str) -> None:
    rows = [
        row("NULL", rsi_14=None, prev__rsi_14=None, pattern_doji=None),
        row("NAN", rsi_14=math.nan, prev__rsi_14=math.nan, pattern_doji=None),
        row("READY", rsi_14=25.0, prev__rsi_14=20.0, pattern_doji=True),
    ]
    assert set(symbols([rule], rows)) <= {"READY"}


def test_division_by_zero_and_overflow_are_no_value_not_errors() -> None:
    rows = [row("FLAT", high=10.0, low=10.0, open=10.0, close=10.0), row("RANGE")]
    assert symbols(["(close - low) / (high - low) > 0.5"], rows) == ["RANGE"]
    assert symbols(["(close - low) / (high - low) < 0.5 or close / 0 > 1"], rows) == []
    assert symbols(["not ((close - low) / (high - low) > 0.5)"], rows) == []
    huge = "close" + " * 1e12" * 26  # about 1e313: past the largest double
    assert symbols([f"{huge} > 1"], rows) == []
    assert symbols([f"{huge} - {huge} < 1"], rows) == []
    assert symbols([f"1 / ({huge}) < 1"], rows) == ["FLAT", "RANGE"]  # 1/inf is 0: a real number


def test_scan_sql_requires_all_rules_and_reports_each_flag() -> None:
    rows = [
        row("BOTH", rsi_14=25.0, sma_200=10.0),
        row("ONLY_RSI", rsi_14=25.0, sma_200=11.0),
        row("ONLY_SMA", rsi_14=40.0, sma_200=10.0),
        row("NEITHER", rsi_14=40.0, sma_200=11.0),
    ]
    rules = ["rsi(14) < 30", "close > sma(200)"]
    all_rows = run(rules, rows)
    assert [(r["symbol"], r["r0"], r["r1"]) for r in all_rows] == [("BOTH", True, True)]
    assert set(all_rows[0]) == {"symbol", "ts", "rsi_14", "close", "sma_200", "r0", "r1"}
    any_rows = run(rules, rows, require="any")
    assert [(r["symbol"], r["r0"], r["r1"]) for r in any_rows] == [
        ("BOTH", True, True),
        ("ONLY_RSI", True, False),
        ("ONLY_SMA", False, True),
    ]
    assert symbols(rules, rows, require="any", universe=["ONLY_SMA", "NEITHER", "ELSEWHERE"]) == ["ONLY_SMA"]
    assert symbols(rules, rows, universe=[]) == []


def test_scan_sql_numbers_parameters_across_rules_and_shares_columns() -> None:
    compiled = [compile_rule(parse(t)) for t in ["close > 1 and open < 2", "close < 3", "doji()"]]
    sql, params = scan_sql(compiled, universe=["A"])
    assert params == [1.0, 2.0, 3.0, ["A"]]
    assert sql.count('"close"') == 3  # selected once, read by two rules
    assert '"r0"' in sql and '"r2"' in sql
    assert compiled[0].where_sql.count("$") == 2 and "$1" in compiled[1].where_sql
    with pytest.raises(ValueError, match="at least one rule"):
        scan_sql([])
    with pytest.raises(ValueError, match="require"):
        scan_sql(compiled, require="most")  # type: ignore[arg-type]


def test_compiled_rule_carries_what_the_snapshot_needs() -> None:
    compiled = compile_rule(parse("crosses_above(macd().macd, macd().signal) and hammer() or doji()"))
    assert isinstance(compiled, CompiledRule)
    assert compiled.specs == {make_spec("macd")}
    assert compiled.patterns == {"hammer", "doji"}
    assert compiled.columns == (
        "macd_12_26_9__macd",
        "macd_12_26_9__signal",
        "prev__macd_12_26_9__macd",
        "prev__macd_12_26_9__signal",
        "pattern_hammer",
        "pattern_doji",
    )


# ---------------------------------------------------------------------------------------------
# No user text in the SQL

HOSTILE_BUT_VALID = [
    "close > 123456.789 and volume < 98765",
    "sma(volume, 77) > 4242 * 2",
    "bbands(21, 2.75).upper > 31337",
    "CLOSE > 1 # '; DROP TABLE snapshot; --",
    "close > 1 # */ UNION SELECT * FROM read_csv('/etc/passwd') /*",
]


@pytest.mark.parametrize("text", HOSTILE_BUT_VALID)
def test_sql_contains_no_user_text(text: str) -> None:
    compiled = compile_rule(parse(text))
    assert_sql_safe(compiled.where_sql, compiled.params, compiled.specs)
    for number in re.findall(r"[0-9]+(?:\.[0-9]+)?", text.split("#")[0]):
        if "." in number or int(number) > 1:
            # literals travel as parameters; digits in the SQL only come from column names
            assert number not in re.sub(r'"[a-z0-9_]+"|\$[0-9]+', "", compiled.where_sql)
    for word in ["DROP", "UNION", "read_csv", "passwd", "--", "/*", ";", "'; "]:
        assert word not in compiled.where_sql
    for param in compiled.params:
        assert isinstance(param, float)


def test_every_number_is_a_bound_parameter() -> None:
    compiled = compile_rule(parse("close > 17 and rsi(14) < 29.5 and prev(close) * 3 > -8"))
    assert compiled.params == [17.0, 29.5, 3.0, -8.0]
    assert re.findall(r"\$\d+", compiled.where_sql) == ["$1", "$2", "$3", "$4"]
    for literal in ["17", "29.5", "-8"]:
        assert literal not in compiled.where_sql


def test_unparse_is_canonical_and_re_parses() -> None:
    rule = parse("  RSI( 14 )<30 AND(close>SMA(200)OR -close*2<=-3e2)  ")
    assert str(rule) == "rsi(14) < 30 and (close > sma(200) or -close * 2 <= -300)"
    assert parse(unparse(rule.expr)) == rule
