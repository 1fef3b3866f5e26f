"""Scanner rules (`scanning.rules`) evaluated over a whole bar history at once.

A scanner answers a rule for the latest bar of every symbol with SQL over the indicator
snapshot; a strategy needs the same answer for every bar of one symbol. This module evaluates
the parsed rule with numpy, one array per node, and reproduces the compiled SQL
(`rules._Compiler`) node for node, so that the value at bar i is what the scanner would say if
bar i were the latest:

* A missing value (warm-up, no previous bar, a hole) is NaN in a number array. The snapshot
  stores it as NULL and the compiler reads a NaN column as NULL too; in arithmetic NaN and NULL
  both propagate, so one representation serves for both.
* Arithmetic follows IEEE as DuckDB's DOUBLE does: an overflow is +-inf, `x / 0` is missing
  (the compiler's `NULLIF(divisor, 0)`), and a non-finite result becomes missing only where the
  compiler guards it (`_finite`), i.e. where an arithmetic result is read by a comparison, a
  crossover or abs/min/max. Inside a chain of arithmetic inf stays inf: `1 / (huge) < 1` holds.
* Conditions carry SQL's three values (true, false, unknown); `not` keeps unknown unknown, `and`
  is false as soon as one operand is false, `or` is true as soon as one is true, and a rule whose
  result is unknown does not match (the scan's `COALESCE(rule, FALSE)`).
* `prev(x)` evaluates `x` on the previous bar's columns (NaN before bar 0), not a shifted result:
  the compiler renames columns and keeps literals, so `prev(true)` is true even on bar 0.
* Indicators are computed once per spec over the whole history by the analytics library, and
  patterns by `analytics.patterns` (False, never unknown, inside their lookback), exactly what the
  snapshot holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trading_system.analytics import patterns
from trading_system.analytics.indicators import OHLCV, compute
from trading_system.analytics.specs import IndicatorSpec
from trading_system.scanning.rules import (
    FIELDS,
    Arith,
    Boolean,
    Call,
    Compare,
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
    check,
)
from trading_system.strategies.engine import Bars

__all__ = ["RuleSeries", "evaluate"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_COMPARE: dict[str, Callable[[FloatArray, FloatArray], BoolArray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True)
class _Tri:
    """A condition per bar in SQL's three-valued logic: `true` where it holds, `false` where it
    does not; where neither is set the value is unknown (NULL)."""

    true: BoolArray
    false: BoolArray

    @property
    def known(self) -> BoolArray:
        known: BoolArray = self.true | self.false
        return known


def _is_condition(e: Expr) -> bool:
    while isinstance(e, Prev):
        e = e.operand
    return isinstance(e, Boolean | Pattern | Cross | Compare | Not | Logic)


def _is_arith(e: Expr) -> bool:
    """Mirrors the compiler's `_is_arith`: which numeric operands get the non-finite guard."""
    while isinstance(e, Prev):
        e = e.operand
    return isinstance(e, Arith | Neg)


class RuleSeries:
    """Rules evaluated over one symbol's bars; each indicator spec and pattern is computed once,
    however many rules (or evaluations) read it."""

    def __init__(self, bars: Bars) -> None:
        self._n = len(bars)
        self._fields = {name: np.asarray(bars.column(name), dtype=np.float64) for name in FIELDS}
        self._ohlcv = OHLCV(**self._fields)
        self._outputs: dict[IndicatorSpec, dict[str, FloatArray]] = {}
        self._patterns: dict[str, BoolArray] = {}
        self._previous: dict[object, FloatArray] = {}

    def __len__(self) -> int:
        return self._n

    # -- public ---------------------------------------------------------------------------------

    def indicator(self, spec: IndicatorSpec, output: str = "value") -> FloatArray:
        """One output of an indicator over the whole history (NaN in its warm-up)."""
        outputs = self._outputs.get(spec)
        if outputs is None:
            outputs = self._outputs[spec] = compute(spec, self._ohlcv)
        return outputs[output]

    def holds(self, rule: Rule | Expr) -> BoolArray:
        """Per bar, whether the rule matches as a scanner sees it: unknown does not match."""
        expr = rule.expr if isinstance(rule, Rule) else rule
        check(expr)  # a hand-built tree must be one the compiler accepts (and a condition)
        return self._condition(expr, 0).true

    def evaluate(self, expr: Expr) -> FloatArray | BoolArray:
        """A number per bar (NaN where missing, as the scanner reads it) or, for a condition,
        whether it holds per bar (False where unknown)."""
        if _is_condition(expr):
            return self._condition(expr, 0).true
        return self._operand(expr, 0)

    # -- columns --------------------------------------------------------------------------------

    def _column(self, e: Field | Indicator, lag: int) -> FloatArray:
        values = self._fields[e.name] if isinstance(e, Field) else self.indicator(e.spec, e.output)
        if lag == 0:
            return values
        # The snapshot's prev__ columns: the bar before; nothing before the first bar.
        key = e.name if isinstance(e, Field) else (e.spec, e.output)
        shifted = self._previous.get(key)
        if shifted is None:
            shifted = np.full(self._n, np.nan)
            shifted[1:] = values[:-1]
            self._previous[key] = shifted
        return shifted

    def _pattern(self, name: str) -> BoolArray:
        flags = self._patterns.get(name)
        if flags is None:
            flags = self._patterns[name] = np.asarray(getattr(patterns, name)(self._ohlcv), dtype=np.bool_)
        return flags

    # -- numbers --------------------------------------------------------------------------------

    def _operand(self, e: Expr, lag: int) -> FloatArray:
        """A number read by a comparison, crossover or abs/min/max: the compiler's `number()`,
        which turns a non-finite arithmetic result into a missing value."""
        values = self._number(e, lag)
        if _is_arith(e):
            values = np.where(np.isfinite(values), values, np.nan)
        return values

    def _number(self, e: Expr, lag: int) -> FloatArray:
        match e:
            case Number(value=v):
                return np.full(self._n, float(v))
            case Field() | Indicator():
                return self._column(e, lag)
            case Prev(operand=o):
                return self._number(o, 1)
            case Call(name="abs", args=(arg,)):
                return np.abs(self._operand(arg, lag))
            case Call(name="min" | "max" as name, args=args):
                # np.minimum/maximum propagate NaN: any missing argument makes the result missing,
                # as the compiler's list_sort(..., 'NULLS FIRST')[1] does.
                combine = np.minimum if name == "min" else np.maximum
                values = self._operand(args[0], lag)
                for arg in args[1:]:
                    values = combine(values, self._operand(arg, lag))
                return values
            case Neg(operand=o):
                return -self._number(o, lag)
            case Arith(op=op, left=a, right=b):
                left, right = self._number(a, lag), self._number(b, lag)
                with np.errstate(all="ignore"):  # inf and NaN are values here, as in DuckDB
                    if op == "/":
                        result: FloatArray = left / np.where(right == 0, np.nan, right)
                    elif op == "+":
                        result = left + right
                    elif op == "-":
                        result = left - right
                    else:
                        result = left * right
                return result
        raise TypeError(f"not a number node: {type(e).__name__}")

    # -- conditions -----------------------------------------------------------------------------

    def _condition(self, e: Expr, lag: int) -> _Tri:
        match e:
            case Boolean(value=v):
                return _Tri(np.full(self._n, v), np.full(self._n, not v))
            case Pattern(name=name):
                flags = self._pattern(name)
                return _Tri(flags, ~flags)
            case Prev(operand=o):
                return self._condition(o, 1)
            case Cross(direction=d, left=a, right=b):
                now, before = (">", "<=") if d == "above" else ("<", ">=")
                left_now, right_now = self._operand(a, lag), self._operand(b, lag)
                left_before, right_before = self._operand(a, 1), self._operand(b, 1)
                return _and([_compare(now, left_now, right_now), _compare(before, left_before, right_before)])
            case Compare(op=op, left=a, right=b) if _is_condition(a):
                x, y = self._condition(a, lag), self._condition(b, lag)
                known = x.known & y.known
                same = x.true == y.true
                result = same if op == "==" else ~same
                return _Tri(known & result, known & ~result)
            case Compare(op=op, left=a, right=b):
                return _compare(op, self._operand(a, lag), self._operand(b, lag))
            case Not(operand=o):
                inner = self._condition(o, lag)
                return _Tri(inner.false, inner.true)
            case Logic(op="and", operands=ops):
                return _and([self._condition(o, lag) for o in ops])
            case Logic(op="or", operands=ops):
                parts = [self._condition(o, lag) for o in ops]
                return _Tri(
                    np.logical_or.reduce([p.true for p in parts]),
                    np.logical_and.reduce([p.false for p in parts]),
                )
        raise TypeError(f"not a condition node: {type(e).__name__}")


def _compare(op: str, x: FloatArray, y: FloatArray) -> _Tri:
    known = ~(np.isnan(x) | np.isnan(y))  # NULL on either side: unknown
    with np.errstate(invalid="ignore"):
        result = _COMPARE[op](x, y)
    return _Tri(known & result, known & ~result)


def _and(parts: list[_Tri]) -> _Tri:
    return _Tri(
        np.logical_and.reduce([p.true for p in parts]), np.logical_or.reduce([p.false for p in parts])
    )


def evaluate(rule: Rule | Expr, bars: Bars) -> FloatArray | BoolArray:
    """One expression over one symbol's bars (see RuleSeries.evaluate); to evaluate several rules
    over the same bars, share one RuleSeries so each indicator is computed once."""
    return RuleSeries(bars).evaluate(rule.expr if isinstance(rule, Rule) else rule)
