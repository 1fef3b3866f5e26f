"""Property tests of the rule language: hostile text is harmless, compiled SQL only reads the
snapshot, and text <-> AST round-trips."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import duckdb
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tests.unit.test_rules import assert_sql_safe, create_snapshot, locked, whitelist
from trading_system.analytics.specs import IndicatorSpec, make_spec
from trading_system.scanning.rules import (
    FIELDS,
    MAX_NODES,
    MAX_TEXT_LENGTH,
    PATTERNS,
    Arith,
    Boolean,
    Call,
    Compare,
    CompiledRule,
    Cross,
    Expr,
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
    children,
    compile_rule,
    parse,
    scan_sql,
    unparse,
)

BOUNDED = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# Running a compiled rule where nothing but the snapshot exists

# What the parsed SQL may contain (from DuckDB's own parser, via json_serialize_sql).
_EXPRESSION_CLASSES = {
    "CAST",
    "COLUMN_REF",
    "COMPARISON",
    "CONJUNCTION",
    "CONSTANT",
    "FUNCTION",
    "OPERATOR",
    "PARAMETER",
    "STAR",
}
_FUNCTIONS = {"+", "-", "*", "/", "abs", "nullif", "list_sort", "list_value", "list_contains"}
_PLAN_OPERATORS = {"PROJECTION", "ORDER_BY", "FILTER", "SEQ_SCAN", "TABLE_SCAN", "EMPTY_RESULT", "DUMMY_SCAN"}

_VALUES = [None, 0.0, -1.0, 1.0, 2.5, 30.0, 1e6, 1e300, -1e300, math.nan, math.inf]


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def assert_reads_only_snapshot(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], specs: Any
) -> None:
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])  # type: ignore[index]
    assert not parsed["error"], parsed
    assert len(parsed["statements"]) == 1  # one SELECT: no `;`-chained second statement
    allowed_columns = whitelist(specs)
    for node in _walk(parsed):
        if node.get("type") in ("BASE_TABLE", "TABLE_FUNCTION", "SUBQUERY", "JOIN", "EXPRESSION_LIST"):
            assert node["type"] in ("BASE_TABLE", "SUBQUERY"), node["type"]
            if node["type"] == "BASE_TABLE":
                assert (node["schema_name"], node["table_name"]) == ("", "snapshot")
        if "class" in node:
            assert node["class"] in _EXPRESSION_CLASSES, node["class"]
        if node.get("class") == "FUNCTION":
            assert node["function_name"] in _FUNCTIONS, node["function_name"]
            assert node["schema"] in ("", "main") and node["catalog"] == ""  # `[a, b]` is main.list_value
        if node.get("class") == "COLUMN_REF":
            assert len(node["column_names"]) == 1 and node["column_names"][0] in allowed_columns
    plan = json.loads(con.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchall()[0][1])
    for op in _walk(plan):
        if "name" in op:
            assert op["name"] in _PLAN_OPERATORS, op["name"]
            if op["name"].endswith("_SCAN") and op["name"] != "DUMMY_SCAN":
                assert op["extra_info"]["Table"] == 'memory.main."snapshot"'


def run_locked(compiled: list[CompiledRule], rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Run the scan on a fresh database whose only table is `snapshot`, with external access off."""
    sql, params = scan_sql(compiled)
    specs = {s for c in compiled for s in c.specs}
    assert_sql_safe(sql, params, specs)
    con = duckdb.connect()
    columns = create_snapshot(con, [c for rule in compiled for c in rule.columns])
    for i, values in enumerate(rows):
        cells = [
            (None if v is None else bool(v == v and v > 0)) if c.startswith("pattern_") else v
            for c, v in zip(columns, (values * len(columns))[: len(columns)], strict=True)
        ]
        con.execute(
            f"INSERT INTO snapshot VALUES ({', '.join('?' * (len(cells) + 2))})",
            [f"S{i}", "2024-01-02", *cells],
        )
    locked(con)
    tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert tables == [("snapshot",)]
    assert_reads_only_snapshot(con, sql, params, specs)
    result = con.execute(sql, params).fetchall()
    for out in result:
        assert all(flag is True for flag in out[-len(compiled) :])
    return result


# ---------------------------------------------------------------------------------------------
# Valid ASTs

SPECS: list[IndicatorSpec] = [
    make_spec("sma", [20]),
    make_spec("sma", [50], "volume"),
    make_spec("ema", [10], "high"),
    make_spec("wma", [5]),
    make_spec("rsi", [14]),
    make_spec("macd", [12, 26, 9]),
    make_spec("bbands", [20, 2.5]),
    make_spec("stoch"),
    make_spec("atr", [7]),
    make_spec("obv"),
    make_spec("vwap"),
    make_spec("adx", [14]),
]

literals = st.one_of(
    st.integers(-1000, 1000).map(float),
    st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 1e-7, 2.5e-3, 1e12, -1e12, 123.456]),
)
leaf_numbers: st.SearchStrategy[Expr] = st.one_of(
    literals.map(Number),
    st.sampled_from(FIELDS).map(Field),
    st.sampled_from([Indicator(s, o) for s in SPECS for o in s.info.outputs]),
)


@functools.cache
def numbers(depth: int, plain: bool) -> st.SearchStrategy[Expr]:
    """Numeric expressions; `plain` = usable inside prev()/crossovers (no prev, no patterns)."""
    if depth == 0:
        return leaf_numbers
    sub = numbers(depth - 1, plain)
    options: list[st.SearchStrategy[Expr]] = [
        leaf_numbers,
        st.builds(Arith, st.sampled_from(["+", "-", "*", "/"]), sub, sub),
        # -3 is the literal -3, not Neg(3): canonical trees never hold Neg(Number)
        sub.filter(lambda e: not isinstance(e, Number)).map(Neg),
        sub.map(lambda e: Call("abs", (e,))),
        st.builds(
            lambda name, args: Call(name, tuple(args)),
            st.sampled_from(["min", "max"]),
            st.lists(sub, min_size=2, max_size=3),
        ),
    ]
    if not plain:
        options.append(numbers(depth - 1, True).map(Prev))
    return st.one_of(options)


@functools.cache
def conditions(depth: int, plain: bool) -> st.SearchStrategy[Expr]:
    leaves: list[st.SearchStrategy[Expr]] = [st.booleans().map(Boolean)]
    if not plain:
        leaves.append(st.sampled_from(PATTERNS).map(Pattern))
    num = numbers(max(depth - 1, 0), plain)
    compare = st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), num, num)
    if depth == 0:
        return st.one_of([*leaves, compare])
    sub = conditions(depth - 1, plain)
    options: list[st.SearchStrategy[Expr]] = [
        *leaves,
        compare,
        st.builds(Compare, st.sampled_from(["==", "!="]), sub, sub),
        sub.map(Not),
        st.builds(Logic, st.sampled_from(["and", "or"]), st.lists(sub, min_size=2, max_size=3).map(tuple)),
    ]
    if not plain:
        crossing = numbers(depth - 1, True)
        options.append(st.builds(Cross, st.sampled_from(["above", "below"]), crossing, crossing))
        options.append(conditions(depth - 1, True).map(Prev))
    return st.one_of(options)


def _size(e: Expr) -> int:
    return 1 + sum(_size(c) for c in children(e))


rules = conditions(3, False)


@BOUNDED
@given(expr=rules)
def test_valid_trees_round_trip_through_text(expr: Expr) -> None:
    text = unparse(expr)
    assume(len(text) <= MAX_TEXT_LENGTH and _size(expr) <= MAX_NODES)
    parsed = parse(text)
    assert parsed.expr == expr, text
    assert unparse(parsed.expr) == text
    a, b = compile_rule(Rule(expr)), compile_rule(parsed)
    assert (a.where_sql, a.params, a.columns, a.specs) == (b.where_sql, b.params, b.columns, b.specs)


@BOUNDED
@given(
    exprs=st.lists(rules, min_size=1, max_size=3),
    rows=st.lists(st.lists(st.sampled_from(_VALUES), min_size=1, max_size=5), min_size=1, max_size=4),
)
def test_compiled_scans_run_and_read_only_the_snapshot(exprs: list[Expr], rows: list[list[Any]]) -> None:
    assume(all(len(unparse(e)) <= MAX_TEXT_LENGTH and _size(e) <= MAX_NODES for e in exprs))
    compiled = [compile_rule(parse(unparse(e))) for e in exprs]
    run_locked(compiled, rows)


# ---------------------------------------------------------------------------------------------
# (a) Arbitrary and hostile text: rejected with RuleError, or compiled to safe SQL

HOSTILE = [
    "'; DROP TABLE snapshot; --",
    "close > 1; DROP TABLE snapshot",
    "close > 1 -- OR 1=1",
    "close > 1 /* */ OR 1=1",
    "close > 1 UNION SELECT * FROM snapshot",
    "close > (SELECT max(close) FROM snapshot)",
    "read_csv('/etc/passwd')",
    "close > read_csv('/etc/passwd')",
    "read_csv(close) > 1",
    "pragma(1) > 0",
    "PRAGMA database_list",
    "close > 1 OR TRUE",
    '"close" > 1',
    "close > 1e308",
    "close > 1e309",
    "close > 1\x00 OR 1=1",
    "\x00",
    "\uff43\uff4c\uff4f\uff53\uff45 > 1",  # fullwidth letters
    "close > \u0661",  # an Arabic-Indic digit
    "\U0001d7d9 > 0",  # a mathematical digit
    "(" * 5000,
    "(" * 999 + "close > 1" + ")" * 999,
    "-" * 1999 + "1 > 0",
    "close" + " + close" * 500 + " > 0",
    "sma(99999999999999999999) > 1",
    "sma(1e400) > 1",
    "COPY snapshot TO '/tmp/x'",
    "install(httpfs) > 0",
    "attach('/tmp/x.db') > 0",
    "$1 > 0",
    "? > 0",
    "close > $1",
    "close::VARCHAR > 1",
    "getenv(1) > 1",
    "current_setting(1) > 1",
    "close\n;\nDROP",
    "sma(volume; 20) > 1",
    "close > 1 # '; DROP TABLE snapshot; --",
    "snapshot > 1",
    "symbol > 1",
    "ts > 1",
    "prev__close > 1",
    "sma_200 > 1",
    "pattern_doji",
    "r0",
    "close.upper > 1",
    "macd().__class__ > 1",
    "bbands(20, 2).upper;",
    "close > 1e-400",
    "close >" + " 1" * 3000,
]

TOKENS = [
    *FIELDS,
    "sma(",
    "rsi(",
    "macd(",
    "bbands(",
    "stoch()",
    "prev(",
    "crosses_above(",
    "min(",
    "abs(",
    "doji()",
    "hammer()",
    ").signal",
    ".upper",
    "(",
    ")",
    ",",
    "and",
    "or",
    "not",
    "true",
    "<",
    ">=",
    "==",
    "=",
    "!=",
    "+",
    "-",
    "*",
    "/",
    "0",
    "14",
    "2.5",
    "1e3",
    "-7",
    "#",
    "\n",
    "'",
    '"',
    ";",
    "--",
    "/*",
    "*/",
    "DROP TABLE snapshot",
    "UNION SELECT",
    "read_csv('/etc/passwd')",
    "pragma",
    "\x00",
    "é",
    "$1",
]


@st.composite
def spliced(draw: st.DrawFn) -> str:
    """A valid rule with a hostile fragment inserted somewhere, or appended as a comment."""
    text = unparse(draw(conditions(2, False)))
    fragment = draw(st.sampled_from(HOSTILE + TOKENS))
    if draw(st.booleans()):
        return f"{text} # {fragment}"
    at = draw(st.integers(0, len(text)))
    return text[:at] + fragment + text[at:]


texts = st.one_of(
    spliced(),
    spliced(),
    st.sampled_from(HOSTILE),
    st.text(max_size=200),
    st.text(alphabet="()<>=!+-*/.,#;'\"\n 0123456789eEclosandrtvumbipxq_", max_size=120),
    st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join),
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
)


@BOUNDED
@given(text=texts)
def test_any_text_is_rejected_cleanly_or_compiles_to_safe_sql(text: str) -> None:
    try:
        rule = parse(text)
    except RuleError as error:
        event("rejected")
        assert error.message
        assert error.line is None or (error.line >= 1 and error.column is not None and error.column >= 1)
        return
    event("compiled")
    compiled = compile_rule(rule)
    assert_sql_safe(compiled.where_sql, compiled.params, compiled.specs)
    run_locked([compiled], [[1.0], [None], [math.nan, 2.0]])


def test_every_hostile_example_is_rejected_or_harmless() -> None:
    compiled = 0
    for text in HOSTILE:
        try:
            rule = parse(text)
        except RuleError:
            continue
        compiled += 1
        run_locked([compile_rule(rule)], [[1.0], [None]])
    # `close > 1 OR TRUE`, the one whose SQL sits in a comment, and 1e-400 (which is 0)
    assert compiled == 3
