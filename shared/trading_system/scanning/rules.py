"""The scanner rule language: text -> immutable AST -> parameterised DuckDB SQL.

    rsi(14) < 30 and close > sma(200) and volume > 2 * sma(volume, 20)

docs/RULES.md is the user reference. The safety argument, in one place:

* The text is parsed by a LALR grammar (lark) whose only terminals are numbers, ASCII names,
  operators and punctuation; anything else (quotes, `;`, `--`, unicode...) is a syntax error.
* Every name is resolved at parse time against a closed list: the five bar fields, the indicator
  catalog (`analytics.specs.INDICATORS`, validated through `make_spec`), the candlestick patterns
  and a handful of built-in functions. The AST holds resolved objects, never raw names.
* The compiler writes SQL only from constant fragments of this module, column names derived
  from validated specs (each checked against `^[a-z0-9_]+$` and a whitelist, then double-quoted)
  and `$n` placeholders: every number of the rule travels as a bound parameter.
* Size limits (text length, nesting depth, node count, indicators per rule, magnitude of
  numbers) keep hostile input cheap to reject and keep the recursive passes far from Python's
  recursion limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeAlias, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from trading_system.analytics.specs import INDICATORS, IndicatorSpec, SpecError, make_spec, suggest

__all__ = [
    "BUILTINS",
    "FIELDS",
    "MAX_DEPTH",
    "MAX_INDICATORS",
    "MAX_NODES",
    "MAX_NUMBER",
    "MAX_TEXT_LENGTH",
    "PATTERNS",
    "Arith",
    "Boolean",
    "Call",
    "Compare",
    "CompiledRule",
    "Cross",
    "Expr",
    "Field",
    "Indicator",
    "Logic",
    "Neg",
    "Not",
    "Number",
    "Pattern",
    "Pos",
    "Prev",
    "Rule",
    "RuleError",
    "check",
    "compile_rule",
    "function_names",
    "parse",
    "scan_sql",
    "unparse",
]

# Limits. Generous for real rules (the example above has 13 nodes and depth 5), tiny for an attacker.
MAX_TEXT_LENGTH = 2_000
MAX_DEPTH = 32  # AST depth; `and`/`or` chains are flat, so 40 conditions joined by `and` are depth 2+
MAX_NODES = 256
MAX_INDICATORS = 16  # distinct indicator specs per rule: each one costs a snapshot computation
MAX_NUMBER = 1e12  # |literal| bound; keeps every literal exactly representable and far from overflow

FIELDS = ("open", "high", "low", "close", "volume")
PATTERNS = ("doji", "hammer", "bullish_engulfing", "bearish_engulfing")
# Built-in functions: name -> (min args, max args or None). They win over an indicator of the same
# name; tests/unit/test_rules.py fails if the catalog ever gains one, so it cannot happen silently.
BUILTINS: dict[str, tuple[int, int | None]] = {
    "prev": (1, 1),
    "crosses_above": (2, 2),
    "crosses_below": (2, 2),
    "abs": (1, 1),
    "min": (2, None),
    "max": (2, None),
}

_IDENTIFIER = re.compile(r"^[a-z0-9_]+$")
_PREV = "prev__"


def function_names() -> tuple[str, ...]:
    """Every callable name, read from the catalog each time (it may grow)."""
    return (*BUILTINS, *PATTERNS, *(n for n in INDICATORS if n not in BUILTINS))


# ---------------------------------------------------------------------------------------------
# Errors


class RuleError(ValueError):
    """A rule the user must fix: says what is wrong, where (1-based, when known) and what would fit."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        expected: Sequence[str] = (),
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.expected = list(expected)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}, column {self.column}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """For an API response body."""
        return {"message": self.message, "line": self.line, "column": self.column, "expected": self.expected}


# ---------------------------------------------------------------------------------------------
# The AST: small frozen dataclasses. Positions never take part in equality, so a rule parsed from
# its own canonical text (`unparse`) is equal to the original.


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True)
class Node:
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True)
class Field(Node):
    """A value of the latest bar: one of FIELDS."""

    name: str


@dataclass(frozen=True)
class Indicator(Node):
    """One output of a validated indicator; single-output indicators use output "value"."""

    spec: IndicatorSpec
    output: str = "value"


@dataclass(frozen=True)
class Pattern(Node):
    """A candlestick pattern on the latest bar: one of PATTERNS (a condition)."""

    name: str


@dataclass(frozen=True)
class Prev(Node):
    """The operand evaluated on the bar before the latest."""

    operand: Expr


@dataclass(frozen=True)
class Cross(Node):
    direction: Literal["above", "below"]
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call(Node):
    """A numeric built-in: abs(x), min(a, b, ...), max(a, b, ...)."""

    name: Literal["abs", "min", "max"]
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Neg(Node):
    operand: Expr


@dataclass(frozen=True)
class Arith(Node):
    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Compare(Node):
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Node):
    operand: Expr


@dataclass(frozen=True)
class Logic(Node):
    """`a and b and c` is one node with three operands; parentheses make nested nodes."""

    op: Literal["and", "or"]
    operands: tuple[Expr, ...]


Expr: TypeAlias = (
    Number | Boolean | Field | Indicator | Pattern | Prev | Cross | Call | Neg | Arith | Compare | Not | Logic
)


@dataclass(frozen=True)
class Rule:
    """A parsed, checked rule. `text` is what the user wrote (kept for display, never compiled)."""

    expr: Expr
    text: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return unparse(self.expr)


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    where_sql: str  # a boolean SQL expression over "snapshot"; NULL (warm-up) means no match
    params: list[float]  # bound to $1..$n of where_sql, in order
    specs: frozenset[IndicatorSpec]  # indicators the snapshot must contain
    columns: tuple[str, ...]  # snapshot columns the rule reads, in order of first use
    patterns: frozenset[str]  # candlestick patterns the snapshot must contain


def children(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node, left to right."""
    match e:
        case Prev(operand=o) | Neg(operand=o) | Not(operand=o):
            return (o,)
        case Cross(left=a, right=b) | Arith(left=a, right=b) | Compare(left=a, right=b):
            return (a, b)
        case Call(args=args):
            return args
        case Logic(operands=ops):
            return ops
        case _:
            return ()


# ---------------------------------------------------------------------------------------------
# Grammar. Precedence, loosest first: or, and, not, comparison (not chainable), + -, * /, unary -.
# Terminals are named so syntax errors can say what was expected in words (_EXPECTED below); the
# ones starting with "_" are dropped from the tree.

_GRAMMAR = r"""
?start: or_test

?or_test: and_test (_OR and_test)*
?and_test: not_test (_AND not_test)*
?not_test: NOT not_test -> not_
         | comparison
?comparison: sum (COMPOP sum)?
?sum: product ((PLUS | MINUS) product)*
?product: unary ((STAR | SLASH) unary)*
?unary: MINUS unary -> neg
      | primary
?primary: NUMBER -> number
        | TRUE -> true
        | FALSE -> false
        | NAME -> name
        | NAME _LPAR [arguments] _RPAR [_DOT NAME] -> call
        | _LPAR or_test _RPAR
arguments: or_test (_COMMA or_test)*

// ASCII only, on purpose: `\d` would accept other scripts' digits.
NUMBER: /(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NOT: "not"i
_AND: "and"i
_OR: "or"i
TRUE: "true"i
FALSE: "false"i
COMPOP: /<=|>=|==|!=|<>|<|>|=/
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
_LPAR: "("
_RPAR: ")"
_COMMA: ","
_DOT: "."
COMMENT: /#[^\n]*/

%ignore /[ \t\r\n]+/
%ignore COMMENT
"""

_COMPARE_OPS: dict[str, Literal["<", "<=", ">", ">=", "==", "!="]] = {
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "==": "==",
    "=": "==",
    "!=": "!=",
    "<>": "!=",
}


def _pos(tok: Token) -> Pos:
    return Pos(tok.line or 1, tok.column or 1)


def _error_at(message: str, pos: Pos | None, expected: Sequence[str] = ()) -> RuleError:
    return RuleError(message, pos.line if pos else None, pos.column if pos else None, expected)


class _Build(Transformer[Token, Any]):
    """Runs inside the LALR parser (lark's inline transformer): each reduction builds one AST node.

    Inline transformation keeps the whole parse iterative, so `((((...))))` or `- - - - x` cannot
    exhaust Python's stack before the depth limit is checked. Names are resolved here because
    here we still have their tokens and positions.
    """

    def number(self, c: list[Token]) -> Number:
        tok = c[0]
        value = float(tok)  # the grammar admits only [0-9.eE+-]: float() cannot fail
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise _error_at(f"number {_clip(str(tok))} is too large; numbers are at most 1e12", _pos(tok))
        return Number(value, pos=_pos(tok))

    def true(self, c: list[Token]) -> Boolean:
        return Boolean(True, pos=_pos(c[0]))

    def false(self, c: list[Token]) -> Boolean:
        return Boolean(False, pos=_pos(c[0]))

    def name(self, c: list[Token]) -> Field:
        tok = c[0]
        name = str(tok).lower()
        if name in FIELDS:
            return Field(name, pos=_pos(tok))
        if name in function_names():
            raise _error_at(f"{name!r} is a function: write {name}(...)", _pos(tok))
        raise _error_at(
            f"unknown field {_clip(name)!r}{suggest(name, (*FIELDS, *function_names()))}"
            f" (fields: {', '.join(FIELDS)})",
            _pos(tok),
        )

    def arguments(self, c: list[Expr]) -> list[Expr]:
        return list(c)

    def call(self, c: list[Any]) -> Expr:
        name_tok: Token = c[0]
        args: list[Expr] = c[1] or []
        out_tok: Token | None = c[2]
        return _call(str(name_tok).lower(), args, out_tok, _pos(name_tok))

    def neg(self, c: list[Any]) -> Expr:
        operand: Expr = c[1]
        if isinstance(operand, Number):  # `-3` is the number -3, so `sma(-3)` reaches make_spec
            return Number(-operand.value, pos=_pos(c[0]))
        return Neg(operand, pos=_pos(c[0]))

    def not_(self, c: list[Any]) -> Not:
        return Not(c[1], pos=_pos(c[0]))

    def comparison(self, c: list[Any]) -> Compare:
        left, op, right = c
        return Compare(_COMPARE_OPS[str(op)], left, right, pos=left.pos)

    def sum(self, c: list[Any]) -> Expr:
        return _fold(c)

    def product(self, c: list[Any]) -> Expr:
        return _fold(c)

    def and_test(self, c: list[Expr]) -> Logic:
        return Logic("and", tuple(c), pos=c[0].pos)

    def or_test(self, c: list[Expr]) -> Logic:
        return Logic("or", tuple(c), pos=c[0].pos)


_ARITH_OPS: dict[str, Literal["+", "-", "*", "/"]] = {"+": "+", "-": "-", "*": "*", "/": "/"}


def _fold(c: list[Any]) -> Expr:
    """`a - b + c` -> ((a - b) + c): left-associative, as in arithmetic."""
    acc: Expr = c[0]
    for op, right in zip(c[1::2], c[2::2], strict=True):
        acc = Arith(_ARITH_OPS[str(op)], acc, right, pos=acc.pos)
    return acc


def _call(name: str, args: list[Expr], out_tok: Token | None, pos: Pos) -> Expr:
    if out_tok is not None and (name in BUILTINS or name in PATTERNS):
        raise _error_at(f"{name}() has no outputs to choose from; remove '.{_clip(str(out_tok))}'", pos)
    if name in BUILTINS:
        low, high = BUILTINS[name]
        if len(args) < low or (high is not None and len(args) > high):
            count = f"{low}" if low == high else f"at least {low}"
            example = {"prev": "prev(close)", "abs": "abs(close - open)"}.get(name, f"{name}(close, sma(50))")
            raise _error_at(f"{name}() takes {count} argument(s), e.g. {example}", pos)
        if name == "prev":
            return Prev(args[0], pos=pos)
        if name in ("crosses_above", "crosses_below"):
            return Cross("above" if name == "crosses_above" else "below", args[0], args[1], pos=pos)
        return Call(name, tuple(args), pos=pos)  # type: ignore[arg-type]
    if name in PATTERNS:
        if args:
            raise _error_at(f"{name}() takes no arguments: write {name}()", pos)
        return Pattern(name, pos=pos)
    if name in INDICATORS:
        return _indicator(name, args, str(out_tok).lower() if out_tok is not None else None, pos)
    if name in FIELDS:
        raise _error_at(f"{name!r} is a field, not a function: write {name}", pos)
    raise _error_at(f"unknown function {_clip(name)!r}{suggest(name, function_names())}", pos)


def _indicator(name: str, args: list[Expr], output: str | None, pos: Pos) -> Indicator:
    info = INDICATORS[name]
    source: str | None = None
    params: list[float] = []
    for i, arg in enumerate(args):
        if isinstance(arg, Field):
            if i != 0:
                raise _error_at(f"the source field goes first, e.g. {name}({arg.name}, 20)", arg.pos or pos)
            source = arg.name
        elif isinstance(arg, Number):
            params.append(arg.value)
        else:
            raise _error_at(
                f"{name}() parameters must be plain numbers (and an optional first field), "
                f"e.g. {name}(20) or {name}(volume, 20)",
                arg.pos or pos,
            )
    if source is not None and not info.takes_source:
        raise _error_at(f"{name} is computed from whole bars and takes no source field", pos)
    try:
        spec = make_spec(name, params, source or "close")
    except SpecError as exc:
        raise _error_at(str(exc), pos) from None
    outputs = spec.info.outputs
    if outputs == ("value",):
        if output is not None:
            raise _error_at(f"{name}() has a single value; remove '.{_clip(output)}'", pos)
        output = "value"
    elif output is None:
        choices = ", ".join(f"{_unparse_indicator(spec, o)}" for o in outputs)
        raise _error_at(f"{name}() has several outputs; choose one: {choices}", pos, list(outputs))
    elif output not in outputs:
        raise _error_at(
            f"{name}() has no output {_clip(output)!r}; "
            f"it has {', '.join(outputs)}{suggest(output, outputs)}",
            pos,
            list(outputs),
        )
    _column_of(spec, output, pos)  # reject a spec whose column name would not be a plain identifier
    return Indicator(spec, output, pos=pos)


# The basic lexer, not the contextual one: a keyword must stay a keyword everywhere (the contextual
# lexer would read `close > and` as a field called "and").
_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", transformer=_Build(), maybe_placeholders=True)


# ---------------------------------------------------------------------------------------------
# Syntax errors in plain words


def _expected_words(terminals: set[str]) -> list[str]:
    words: list[str] = []
    operand = "NUMBER" in terminals  # an operand may start here: '-', 'not', true/false go unsaid
    if operand:
        words.append("a number")
    if "NAME" in terminals:
        words += ["a field", "a function call"] if operand else ["an output name such as 'signal'"]
    if "_LPAR" in terminals:
        words.append("'('")
    if not operand and terminals & {"PLUS", "MINUS", "STAR", "SLASH"}:
        words.append("an arithmetic operator (+ - * /)")
    if "COMPOP" in terminals:
        words.append("a comparison (< <= > >= == !=)")
    for terminal, word in (("_AND", "'and'"), ("_OR", "'or'"), ("_COMMA", "','"), ("_RPAR", "')'")):
        if terminal in terminals:
            words.append(word)
    if "$END" in terminals:
        words.append("the end of the rule")
    return words


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


_CHAR_HINTS = {
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not'",
    "'": "the language has no strings",
    '"': "the language has no strings",
    ";": "a rule is a single expression",
    "[": "use prev(x) for the previous bar",
    "^": "there is no power operator; multiply",
    "%": "there is no % operator",
}


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_char(char: str) -> str:
    return repr(char) if char.isprintable() and char.isascii() else f"U+{ord(char):04X}"


def _syntax_error(exc: UnexpectedInput) -> RuleError:
    terminals: set[str] = set()
    try:
        # The exact set for the parser state (not lark's cheaper approximation). Computing it runs
        # reductions, which may meet a semantic error earlier in the text: then fall back.
        terminals = set(exc.interactive_parser.accepts())  # type: ignore[no-untyped-call]
    except Exception:
        terminals = set(getattr(exc, "allowed", None) or getattr(exc, "expected", None) or ())
    expected = _expected_words(terminals)
    what = f"expected {_join(expected)}" if expected else "unexpected input"
    if isinstance(exc, UnexpectedCharacters):
        hint = _CHAR_HINTS.get(exc.char, "")
        message = f"unexpected character {_describe_char(exc.char)}; {what}"
        return RuleError(message + (f" ({hint})" if hint else ""), exc.line, exc.column, expected)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            # Point just past the last token: where the missing piece belongs.
            line = tok.end_line or 1
            column = tok.end_column or 1
            return RuleError(f"{what}, found the end of the rule", line, column, expected)
        found = f"the number {_clip(str(tok))}" if tok.type == "NUMBER" else repr(_clip(str(tok)))
        hint = ""
        if tok.type == "COMPOP" and "COMPOP" not in terminals:
            hint = " (comparisons cannot be chained: write `a < b and b < c`)"
        return RuleError(f"{what}, found {found}{hint}", tok.line, tok.column, expected)
    return RuleError(f"syntax error: {what}", exc.line, exc.column, expected)


# ---------------------------------------------------------------------------------------------
# Parsing and checking


def parse(text: str) -> Rule:
    """Parse and fully check a rule: a returned Rule always compiles."""
    if not isinstance(text, str):
        raise RuleError("a rule must be text")
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleError(f"the rule is too long: {len(text)} characters, at most {MAX_TEXT_LENGTH}")
    if not re.sub(r"#[^\n]*", "", text).strip():
        raise RuleError("the rule is empty: write a condition such as `rsi(14) < 30`")
    try:
        expr = cast(Expr, _PARSER.parse(text))  # the transformer returns AST nodes, not a Tree
    except UnexpectedInput as exc:
        raise _syntax_error(exc) from None
    check(expr)
    return Rule(expr, text)


def check(expr: Expr) -> None:
    """Limits, then types; raises RuleError. Also run by compile_rule for hand-built ASTs."""
    _check_limits(expr)
    kind = _kind(expr, None)
    if kind != "condition":
        raise _error_at(
            f"a rule must be a condition (true or false), such as `rsi(14) < 30`; "
            f"`{_snippet(expr)}` is a number",
            expr.pos,
        )


def _check_limits(expr: Expr) -> None:
    # Iterative on purpose: a hand-built AST may be arbitrarily deep.
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    nodes = 0
    specs: set[IndicatorSpec] = set()
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise _error_at(f"the rule is nested too deeply (more than {MAX_DEPTH} levels)", node.pos)
        if nodes > MAX_NODES:
            raise RuleError(f"the rule is too complex (more than {MAX_NODES} terms)")
        if isinstance(node, Indicator):
            specs.add(node.spec)
            if len(specs) > MAX_INDICATORS:
                raise _error_at(f"a rule may use at most {MAX_INDICATORS} different indicators", node.pos)
        stack.extend((child, depth + 1) for child in children(node))


Kind: TypeAlias = Literal["number", "condition"]


def _kind(e: Expr, inside: str | None) -> Kind:
    """The type of `e`; `inside` names an enclosing prev()/crosses_*() that needs prev values."""
    match e:
        case Number(value=v):
            if not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > MAX_NUMBER:
                raise _error_at(f"number {v!r} is out of range; numbers are at most 1e12", e.pos)
            return "number"
        case Field(name=name):
            if name not in FIELDS:
                raise _error_at(f"unknown field {_clip(str(name))!r}", e.pos)
            return "number"
        case Indicator(spec=spec, output=output):
            _check_indicator(spec, output, e.pos)
            return "number"
        case Boolean(value=v):
            if not isinstance(v, bool):
                raise _error_at("true/false expected", e.pos)
            return "condition"
        case Pattern(name=name):
            if name not in PATTERNS:
                raise _error_at(f"unknown pattern {_clip(str(name))!r}", e.pos)
            if inside:
                raise _error_at(
                    f"{name}() has no previous-bar value, so it cannot be used in {inside}", e.pos
                )
            return "condition"
        case Prev(operand=operand):
            if inside:
                raise _error_at(
                    f"prev() cannot be used in {inside}: the snapshot holds only the latest bar "
                    "and the one before it",
                    e.pos,
                )
            return _kind(operand, "prev()")
        case Cross(direction=direction, left=left, right=right):
            if direction not in ("above", "below"):
                raise _error_at("a crossover is either above or below", e.pos)
            fn = f"crosses_{direction}()"
            if inside:
                raise _error_at(f"{fn} cannot be used in {inside}", e.pos)
            _need(left, "number", f"{fn} compares numbers", fn)
            _need(right, "number", f"{fn} compares numbers", fn)
            return "condition"
        case Call(name=name, args=args):
            if name not in ("abs", "min", "max"):
                raise _error_at(f"unknown function {_clip(str(name))!r}", e.pos)
            low, high = BUILTINS[name]
            if len(args) < low or (high is not None and len(args) > high):
                raise _error_at(f"{_clip(str(name))}() cannot take {len(args)} argument(s)", e.pos)
            for arg in args:
                _need(arg, "number", f"{name}() needs numbers", inside)
            return "number"
        case Neg(operand=operand):
            _need(operand, "number", "'-' needs a number", inside)
            return "number"
        case Arith(op=op, left=left, right=right):
            _need(left, "number", f"'{op}' needs numbers on both sides", inside)
            _need(right, "number", f"'{op}' needs numbers on both sides", inside)
            return "number"
        case Compare(op=op, left=left, right=right):
            if op in ("==", "!="):
                lk, rk = _kind(left, inside), _kind(right, inside)
                if lk != rk:
                    raise _error_at(
                        f"'{op}' cannot compare a {lk} (`{_snippet(left)}`) "
                        f"with a {rk} (`{_snippet(right)}`)",
                        right.pos or e.pos,
                    )
            else:
                _need(left, "number", f"'{op}' compares numbers", inside)
                _need(right, "number", f"'{op}' compares numbers", inside)
            return "condition"
        case Not(operand=operand):
            _need(operand, "condition", "'not' needs a condition", inside)
            return "condition"
        case Logic(op=op, operands=operands):
            if len(operands) < 2:
                raise _error_at(f"'{op}' needs at least two operands", e.pos)
            for operand in operands:
                _need(operand, "condition", f"'{op}' needs conditions on both sides", inside)
            return "condition"
    raise RuleError(f"not a rule node: {type(e).__name__}")  # only reachable from hand-built ASTs


def _check_indicator(spec: object, output: str, pos: Pos | None) -> None:
    """A hand-built Indicator must be exactly what parsing would have produced."""
    if not isinstance(spec, IndicatorSpec) or spec.name not in INDICATORS:
        raise _error_at("unknown indicator", pos)
    try:
        valid = make_spec(spec.name, spec.params, spec.source) == spec
    except SpecError as exc:
        raise _error_at(str(exc), pos) from None
    if not valid or output not in spec.info.outputs:
        raise _error_at(f"invalid indicator {spec.key!r}", pos)
    _column_of(spec, output, pos)


def _need(e: Expr, kind: Kind, what: str, inside: str | None) -> None:
    actual = _kind(e, inside)
    if actual != kind:
        article = "a number" if actual == "number" else "a condition (true/false)"
        wanted = "a number" if kind == "number" else "a condition"
        raise _error_at(f"{what}, but `{_snippet(e)}` is {article}", e.pos, [wanted])


# ---------------------------------------------------------------------------------------------
# Canonical text


_PREC_OR, _PREC_AND, _PREC_NOT, _PREC_CMP, _PREC_SUM, _PREC_PROD, _PREC_UNARY, _PREC_ATOM = range(1, 9)


def _format_number(value: float) -> str:
    # repr() is the shortest text that reads back to the same float; whole numbers drop the ".0".
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _unparse_indicator(spec: IndicatorSpec, output: str) -> str:
    args = [spec.source] if spec.source != "close" else []
    args += [_format_number(p) for p in spec.params]
    return f"{spec.name}({', '.join(args)})" + ("" if output == "value" else f".{output}")


def _prec(e: Expr) -> int:
    match e:
        case Logic(op="or"):
            return _PREC_OR
        case Logic(op="and"):
            return _PREC_AND
        case Not():
            return _PREC_NOT
        case Compare():
            return _PREC_CMP
        case Arith(op="+" | "-"):
            return _PREC_SUM
        case Arith():
            return _PREC_PROD
        case Neg():
            return _PREC_UNARY
        case Number(value=v) if v < 0:
            return _PREC_UNARY  # "-3" reads back as a unary minus folded into the number
    return _PREC_ATOM


def _wrap(e: Expr, minimum: int) -> str:
    text = unparse(e)
    return text if _prec(e) >= minimum else f"({text})"


def unparse(e: Expr) -> str:
    """Canonical text of an expression; parse(unparse(e)) == e for every checked rule."""
    match e:
        case Number(value=v):
            return _format_number(v)
        case Boolean(value=v):
            return "true" if v else "false"
        case Field(name=name):
            return name
        case Indicator(spec=spec, output=output):
            return _unparse_indicator(spec, output)
        case Pattern(name=name):
            return f"{name}()"
        case Prev(operand=o):
            return f"prev({unparse(o)})"
        case Cross(direction=d, left=a, right=b):
            return f"crosses_{d}({unparse(a)}, {unparse(b)})"
        case Call(name=name, args=args):
            return f"{name}({', '.join(unparse(a) for a in args)})"
        case Neg(operand=o):
            return f"-{_wrap(o, _PREC_UNARY)}"
        case Arith(op=op, left=a, right=b):
            level = _prec(e)  # left-associative: the right operand needs a strictly tighter level
            return f"{_wrap(a, level)} {op} {_wrap(b, level + 1)}"
        case Compare(op=op, left=a, right=b):
            return f"{_wrap(a, _PREC_SUM)} {op} {_wrap(b, _PREC_SUM)}"
        case Not(operand=o):
            return f"not {_wrap(o, _PREC_NOT)}"
        case Logic(op=op, operands=ops):
            return f" {op} ".join(_wrap(o, _prec(e) + 1) for o in ops)
    raise TypeError(f"not a rule node: {type(e).__name__}")


def _snippet(e: Expr) -> str:
    return _clip(unparse(e), 40)


# ---------------------------------------------------------------------------------------------
# SQL


def _column_of(spec: IndicatorSpec, output: str, pos: Pos | None = None) -> str:
    column = spec.column(output)
    if not _IDENTIFIER.match(column):
        raise _error_at(
            f"{_unparse_indicator(spec, output)} cannot be used in a rule: "
            "parameters this small or this precise have no snapshot column",
            pos,
        )
    return column


def _quote(column: str, allowed: frozenset[str]) -> str:
    # Belt and braces: column names are built from validated specs, but nothing reaches the SQL
    # without matching both the identifier pattern and the whitelist of this rule.
    if not _IDENTIFIER.match(column) or column not in allowed:
        raise RuleError(f"internal error: column {column!r} is not whitelisted")
    return f'"{column}"'


# Non-finite results (overflow, inf - inf) mean "no value", like NULL: NaN compares greater than
# every number in DuckDB, so an unguarded NaN would make `x > 5` match.
def _finite(sql: str) -> str:
    return f"NULLIF(NULLIF(NULLIF({sql}, 'Infinity'::DOUBLE), '-Infinity'::DOUBLE), 'NaN'::DOUBLE)"


def _is_arith(e: Expr) -> bool:
    while isinstance(e, Prev):
        e = e.operand
    return isinstance(e, Arith | Neg)


class _Compiler:
    def __init__(self, specs: frozenset[IndicatorSpec], first_param: int) -> None:
        self.first_param = first_param
        self.params: list[float] = []
        self.columns: dict[str, None] = {}  # insertion-ordered set
        self.allowed = frozenset(
            {
                *FIELDS,
                *(f"pattern_{p}" for p in PATTERNS),
                *(c for s in specs for c in s.columns()),
                *(f"{_PREV}{f}" for f in FIELDS),
                *(f"{_PREV}{c}" for s in specs for c in s.columns()),
            }
        )

    def column(self, name: str, prev: bool, numeric: bool = True) -> str:
        column = f"{_PREV}{name}" if prev else name
        quoted = _quote(column, self.allowed)
        self.columns.setdefault(column)
        # A snapshot built with numpy may hold NaN where it means "no value" (warm-up, no previous
        # bar). NaN sorts above every number in DuckDB, so `rsi_14 > 70` would match: read it as NULL.
        return f"NULLIF({quoted}, 'NaN'::DOUBLE)" if numeric else quoted

    def param(self, value: float) -> str:
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise RuleError(f"number {value!r} is out of range")
        self.params.append(float(value))
        # The cast fixes the type whatever Python type is bound, so `$1 / $2` is never integer maths.
        return f"CAST(${self.first_param + len(self.params) - 1} AS DOUBLE)"

    def number(self, e: Expr, prev: bool) -> str:
        """A numeric operand consumed by a non-arithmetic parent: guard its arithmetic once."""
        sql = self.sql(e, prev)
        return _finite(sql) if _is_arith(e) else sql

    def sql(self, e: Expr, prev: bool = False) -> str:
        match e:
            case Number(value=v):
                return self.param(v)
            case Boolean(value=v):
                return "TRUE" if v else "FALSE"
            case Field(name=name) if name in FIELDS:
                return self.column(name, prev)
            case Indicator(spec=spec, output=output):
                return self.column(_column_of(spec, output, e.pos), prev)
            case Pattern(name=name) if name in PATTERNS and not prev:
                return self.column(f"pattern_{name}", prev, numeric=False)
            case Prev(operand=o) if not prev:
                return self.sql(o, True)
            case Cross(direction=d, left=a, right=b) if not prev:
                now, before = (">", "<=") if d == "above" else ("<", ">=")
                return (
                    f"(({self.number(a, False)} {now} {self.number(b, False)}) AND "
                    f"({self.number(a, True)} {before} {self.number(b, True)}))"
                )
            case Call(name="abs", args=(arg,)):
                return f"abs({self.number(arg, prev)})"
            case Call(name="min" | "max" as name, args=args):
                # least()/greatest() skip NULLs; sorting with NULLS FIRST makes any missing
                # argument the answer, so min/max of a warm-up value stays NULL.
                order = "ASC" if name == "min" else "DESC"
                items = ", ".join(self.number(a, prev) for a in args)
                return f"(list_sort([{items}], '{order}', 'NULLS FIRST')[1])"
            case Neg(operand=o):
                return f"(-{self.sql(o, prev)})"
            case Arith(op="/", left=a, right=b):
                # x / 0 is +-inf or NaN in DuckDB; NULLIF turns it into "no value" instead.
                return f"({self.sql(a, prev)} / NULLIF({self.sql(b, prev)}, 0))"
            case Arith(op=op, left=a, right=b) if op in ("+", "-", "*"):
                return f"({self.sql(a, prev)} {op} {self.sql(b, prev)})"
            case Compare(op=op, left=a, right=b):
                sql_op = {"==": "=", "!=": "<>"}.get(op, op)
                if sql_op not in ("<", "<=", ">", ">=", "=", "<>"):
                    raise RuleError(f"internal error: operator {op!r}")
                return f"({self.number(a, prev)} {sql_op} {self.number(b, prev)})"
            case Not(operand=o):
                return f"(NOT {self.sql(o, prev)})"
            case Logic(op="and" | "or" as op, operands=ops):
                return "(" + f" {op.upper()} ".join(self.sql(o, prev) for o in ops) + ")"
        raise RuleError(f"internal error: cannot compile {type(e).__name__}")


def _walk(e: Expr) -> Iterator[Expr]:
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def _render(
    rule: Rule, first_param: int
) -> tuple[str, list[float], tuple[str, ...], frozenset[IndicatorSpec]]:
    specs = frozenset(n.spec for n in _walk(rule.expr) if isinstance(n, Indicator))
    compiler = _Compiler(specs, first_param)
    sql = compiler.sql(rule.expr)
    return sql, compiler.params, tuple(compiler.columns), specs


def compile_rule(rule: Rule) -> CompiledRule:
    """Compile a checked rule; the SQL's placeholders are $1..$n, bound to `.params` in order."""
    if not isinstance(rule, Rule):
        raise TypeError("compile_rule takes a Rule from parse()")
    check(rule.expr)  # a Rule may also be built by hand: never trust it
    sql, params, columns, specs = _render(rule, 1)
    patterns = frozenset(n.name for n in _walk(rule.expr) if isinstance(n, Pattern))
    return CompiledRule(rule, sql, params, specs, columns, patterns)


@dataclass(frozen=True)
class ScanRow:
    """One row of a scan, read by name: the symbol, its bar, the values the rules read, and
    whether each rule held (in the order of the rules)."""

    symbol: str
    ts: Any
    values: dict[str, Any]
    held: tuple[bool, ...]


_FLAG = re.compile(r"r\d+")


class ScanQuery(NamedTuple):
    """A scan compiled to SQL and its parameters; `read` names the parts of a result row, so
    the flag columns the SQL uses internally never leave the compiler."""

    sql: str
    params: list[Any]

    @staticmethod
    def read(row: dict[str, Any]) -> ScanRow:
        flags = {k: bool(v) for k, v in row.items() if _FLAG.fullmatch(k)}
        values = {k: v for k, v in row.items() if k not in ("symbol", "ts") and k not in flags}
        held = tuple(flags[f"r{i}"] for i in range(len(flags)))
        return ScanRow(symbol=row["symbol"], ts=row["ts"], values=values, held=held)


def scan_sql(
    rules: Sequence[CompiledRule],
    *,
    require: Literal["all", "any"] = "all",
    universe: Sequence[str] | None = None,
) -> ScanQuery:
    """One query evaluating a scanner's rules over the whole snapshot.

    Rows (read them with `ScanQuery.read`): `symbol, ts`, every column any rule reads (the
    values that made it match), then one BOOLEAN flag per rule (NULL counts as false). A
    scanner's rules must all hold (`require="all"`, the default); `require="any"` keeps symbols
    matching at least one and the flags say which. `universe`, when given, restricts the
    symbols (bound as one parameter).
    """
    if not rules:
        raise ValueError("a scanner needs at least one rule")
    if require not in ("all", "any"):
        raise ValueError("require must be 'all' or 'any'")
    params: list[Any] = []
    columns: dict[str, None] = {}
    flags: list[str] = []
    for i, compiled in enumerate(rules):
        check(compiled.rule.expr)
        # Re-rendered from the AST with shifted placeholders, so no SQL text is ever rewritten.
        sql, rule_params, rule_columns, _ = _render(compiled.rule, len(params) + 1)
        params += rule_params
        columns.update(dict.fromkeys(rule_columns))
        flags.append(f'COALESCE({sql}, FALSE) AS "r{i}"')
    allowed = frozenset(columns)
    select = ['"symbol"', '"ts"', *(_quote(c, allowed) for c in columns), *flags]
    where = ""
    if universe is not None:
        symbols = list(universe)
        if not all(isinstance(s, str) for s in symbols):
            raise ValueError("universe must be a list of symbols")
        params.append(symbols)
        where = f' WHERE list_contains(CAST(${len(params)} AS VARCHAR[]), "symbol")'
    joiner = " AND " if require == "all" else " OR "
    matched = joiner.join(f'"r{i}"' for i in range(len(rules)))
    inner = f'SELECT {", ".join(select)} FROM "snapshot"{where}'
    sql = f'SELECT * FROM ({inner}) WHERE {matched} ORDER BY "symbol"'
    return ScanQuery(sql, params)
