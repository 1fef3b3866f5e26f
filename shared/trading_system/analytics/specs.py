"""What an indicator request means: `sma:50`, `macd:12:26:9`, `sma:20:volume`.

The catalog of indicators lives here, in one place: the HTTP query, the snapshot refresh and the
scanner rule language all validate against it and name result columns with it, so a column in
a snapshot is always `IndicatorSpec.column(output)` and never user text.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

SOURCES = ("open", "high", "low", "close", "volume")
MAX_PERIOD = 10_000  # TA-Lib allows 100000; a longer window than 40 years of daily bars is a typo
MAX_MULTIPLIER = 100.0  # Bollinger k: TA-Lib accepts anything, 100 deviations is already absurd


@dataclass(frozen=True)
class IndicatorInfo:
    name: str
    params: tuple[str, ...]  # parameter names, in order
    defaults: tuple[float, ...]  # default value of each parameter
    outputs: tuple[str, ...]  # one unnamed output is ("value",)
    integer_params: tuple[bool, ...]  # which parameters must be whole numbers
    takes_source: bool  # computed from one series (close by default) or from OHLCV as a whole
    summary: str
    # Smallest value of each whole-number parameter, as TA-Lib enforces it (the optIn ranges of
    # the C library in the ta-lib 0.8.2 wheel): a 1-bar SMA/EMA/WMA is allowed ("a period of 1
    # performs no smoothing"; TA-Lib 0.4 wanted 2); RSI, ADX, BBANDS and the MACD EMAs need 2
    # bars; ATR 1 (the true range); every STOCH period 1. A non-integer parameter (Bollinger k)
    # must be > 0 and at most MAX_MULTIPLIER instead.
    minimums: tuple[float, ...] = ()


def _info(
    name: str,
    params: tuple[str, ...],
    defaults: tuple[float, ...],
    summary: str,
    outputs: tuple[str, ...] = ("value",),
    integer: tuple[bool, ...] | None = None,
    takes_source: bool = False,
    minimums: tuple[float, ...] | None = None,
) -> IndicatorInfo:
    return IndicatorInfo(
        name,
        params,
        defaults,
        outputs,
        integer or tuple(True for _ in params),
        takes_source,
        summary,
        minimums if minimums is not None else tuple(1.0 for _ in params),
    )


INDICATORS: dict[str, IndicatorInfo] = {
    info.name: info
    for info in (
        _info("sma", ("period",), (30,), "simple moving average", takes_source=True),
        _info(
            "ema", ("period",), (30,), "exponential moving average, seeded with the SMA", takes_source=True
        ),
        _info("wma", ("period",), (30,), "linearly weighted moving average", takes_source=True),
        _info(
            "rsi",
            ("period",),
            (14,),
            "relative strength index, Wilder smoothing",
            takes_source=True,
            minimums=(2,),
        ),
        _info(
            "macd",
            ("fast", "slow", "signal"),
            (12, 26, 9),
            "MACD line, signal line and histogram",
            outputs=("macd", "signal", "hist"),
            takes_source=True,
            minimums=(2, 2, 1),
        ),
        _info(
            "bbands",
            ("period", "k"),
            (20, 2),
            "Bollinger Bands (population standard deviation)",
            outputs=("upper", "middle", "lower"),
            integer=(True, False),
            takes_source=True,
            minimums=(2, 0),
        ),
        _info("atr", ("period",), (14,), "average true range, Wilder smoothing"),
        _info(
            "stoch",
            ("fastk", "slowk", "slowd"),
            (5, 3, 3),
            "slow stochastic %K and %D (SMA smoothing)",
            outputs=("k", "d"),
        ),
        _info("obv", (), (), "on-balance volume"),
        _info("vwap", (), (), "volume-weighted average price of the typical price, cumulative"),
        _info("adx", ("period",), (14,), "average directional index, Wilder smoothing", minimums=(2,)),
    )
}


class SpecError(ValueError):
    """A bad indicator request; the message names the indicator or parameter."""


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    params: tuple[float, ...]
    source: str = "close"

    @property
    def info(self) -> IndicatorInfo:
        return INDICATORS[self.name]

    @property
    def key(self) -> str:
        """Canonical text: `sma:50`, `sma:20:volume`, `bbands:20:2`."""
        parts = [self.name, *(_number(p) for p in self.params)]
        if self.source != "close":
            parts.append(self.source)
        return ":".join(parts)

    def column(self, output: str = "value") -> str:
        """The snapshot column of one output: `sma_50`, `sma_20_volume`, `macd_12_26_9__signal`."""
        if output not in self.info.outputs:
            raise SpecError(f"{self.name} has no output {output!r}; it has {', '.join(self.info.outputs)}")
        base = self.key.replace(":", "_").replace(".", "p")
        return base if self.info.outputs == ("value",) else f"{base}__{output}"

    def columns(self) -> list[str]:
        return [self.column(o) for o in self.info.outputs]


def make_spec(
    name: str, params: list[float] | tuple[float, ...] = (), source: str = "close"
) -> IndicatorSpec:
    """A validated spec; missing trailing parameters take their defaults.

    Every rule is checked here, once, so that the indicator functions can trust a spec and a
    caller (HTTP query, scanner rule, strategy) gets a message naming the indicator, the
    parameter and the allowed range.
    """
    info = INDICATORS.get(name.lower())
    if info is None:
        raise SpecError(f"unknown indicator {name!r}{suggest(name.lower(), INDICATORS)}")
    if not info.params and params:
        raise SpecError(f"{info.name} takes no parameters ({info.summary}), got {len(params)}")
    if len(params) > len(info.params):
        raise SpecError(
            f"{info.name} takes at most {len(info.params)} parameter(s) ({', '.join(info.params)}), "
            f"got {len(params)}"
        )
    try:
        values = [float(v) for v in params] + [float(v) for v in info.defaults[len(params) :]]
    except (TypeError, ValueError):
        raise SpecError(f"{info.name} parameters must be numbers, got {list(params)!r}") from None
    for param, value, integer, low in zip(
        info.params, values, info.integer_params, info.minimums, strict=True
    ):
        if integer and not (math.isfinite(value) and value == int(value) and low <= value <= MAX_PERIOD):
            raise SpecError(
                f"{info.name} {param} must be a whole number from {_number(low)} to {MAX_PERIOD}, "
                f"got {_number(value)}"
            )
        if not integer and not (math.isfinite(value) and 0 < value <= MAX_MULTIPLIER):
            raise SpecError(
                f"{info.name} {param} must be greater than 0 and at most {_number(MAX_MULTIPLIER)}, "
                f"got {_number(value)}"
            )
    if info.name == "macd" and values[0] >= values[1]:
        raise SpecError(
            f"macd fast period must be shorter than the slow period, got fast {_number(values[0])} "
            f"and slow {_number(values[1])}"
        )
    if source not in SOURCES:
        raise SpecError(
            f"unknown source {source!r}; use one of {', '.join(SOURCES)}{suggest(source, SOURCES)}"
        )
    if source != "close" and not info.takes_source:
        raise SpecError(f"{info.name} is computed from whole bars and takes no source")
    return IndicatorSpec(info.name, tuple(values), source)


def parse_spec(text: str) -> IndicatorSpec:
    """`sma:50`, `macd:12:26:9`, `sma:20:volume`, `bbands:20:2.5`."""
    parts = [p.strip() for p in text.strip().split(":")]
    if not parts[0]:
        raise SpecError(f"empty indicator spec {text!r}")
    source = "close"
    if len(parts) > 1 and parts[-1].isalpha():
        source = parts.pop().lower()
    params: list[float] = []
    for part in parts[1:]:
        if not part:
            raise SpecError(f"{text.strip()!r}: empty parameter; write e.g. sma:50 or macd:12:26:9")
        try:
            params.append(float(part))
        except ValueError:
            raise SpecError(f"{text.strip()!r}: parameter {part!r} is not a number") from None
    return make_spec(parts[0], params, source)


def parse_specs(text: str) -> list[IndicatorSpec]:
    """A comma-separated list, e.g. `sma:50,ema:20,rsi:14`; duplicates are dropped."""
    specs = [parse_spec(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise SpecError("no indicator given: e.g. specs=sma:50,rsi:14")
    return list(dict.fromkeys(specs))


def suggest(word: str, known: object) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)  # type: ignore[call-overload]
    return f"; did you mean {close[0]!r}?" if close else ""


def _number(value: float) -> str:
    """`20`, `2.5`, `inf`: whole numbers without a trailing `.0`, never raising."""
    if not math.isfinite(value):
        return str(value)
    return str(int(value)) if value == int(value) else repr(value)
