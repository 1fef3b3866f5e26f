"""What an indicator request means: `sma:50`, `macd:12:26:9`, `sma:20:volume`.

The catalog of indicators lives here, in one place: the HTTP query, the snapshot refresh and the
scanner rule language all validate against it and name result columns with it, so a column in
a snapshot is always `IndicatorSpec.column(output)` and never user text.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

SOURCES = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class IndicatorInfo:
    name: str
    params: tuple[str, ...]  # parameter names, in order
    defaults: tuple[float, ...]  # default value of each parameter
    outputs: tuple[str, ...]  # one unnamed output is ("value",)
    integer_params: tuple[bool, ...]  # which parameters must be whole numbers
    takes_source: bool  # computed from one series (close by default) or from OHLCV as a whole
    summary: str


def _info(
    name: str,
    params: tuple[str, ...],
    defaults: tuple[float, ...],
    summary: str,
    outputs: tuple[str, ...] = ("value",),
    integer: tuple[bool, ...] | None = None,
    takes_source: bool = False,
) -> IndicatorInfo:
    return IndicatorInfo(
        name, params, defaults, outputs, integer or tuple(True for _ in params), takes_source, summary
    )


INDICATORS: dict[str, IndicatorInfo] = {
    info.name: info
    for info in (
        _info("sma", ("period",), (30,), "simple moving average", takes_source=True),
        _info(
            "ema", ("period",), (30,), "exponential moving average, seeded with the SMA", takes_source=True
        ),
        _info("wma", ("period",), (30,), "linearly weighted moving average", takes_source=True),
        _info("rsi", ("period",), (14,), "relative strength index, Wilder smoothing", takes_source=True),
        _info(
            "macd",
            ("fast", "slow", "signal"),
            (12, 26, 9),
            "MACD line, signal line and histogram",
            outputs=("macd", "signal", "hist"),
            takes_source=True,
        ),
        _info(
            "bbands",
            ("period", "k"),
            (20, 2),
            "Bollinger Bands (population standard deviation)",
            outputs=("upper", "middle", "lower"),
            integer=(True, False),
            takes_source=True,
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
        _info("adx", ("period",), (14,), "average directional index, Wilder smoothing"),
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
    """A validated spec; missing trailing parameters take their defaults."""
    info = INDICATORS.get(name.lower())
    if info is None:
        raise SpecError(f"unknown indicator {name!r}{suggest(name.lower(), INDICATORS)}")
    if len(params) > len(info.params):
        raise SpecError(
            f"{info.name} takes at most {len(info.params)} parameter(s) ({', '.join(info.params)})"
        )
    values = list(params) + list(info.defaults[len(params) :])
    for param, value, integer in zip(info.params, values, info.integer_params, strict=True):
        if integer and (value != int(value) or not 1 <= value <= 10_000):
            raise SpecError(
                f"{info.name} {param} must be a whole number from 1 to 10000, got {_number(value)}"
            )
        if not integer and not 0 < value <= 100:
            raise SpecError(
                f"{info.name} {param} must be greater than 0 and at most 100, got {_number(value)}"
            )
    if info.name == "macd" and values[0] >= values[1]:
        raise SpecError("macd fast period must be shorter than the slow period")
    if source not in SOURCES:
        raise SpecError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    if source != "close" and not info.takes_source:
        raise SpecError(f"{info.name} is computed from whole bars and takes no source")
    return IndicatorSpec(info.name, tuple(float(v) for v in values), source)


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
        try:
            params.append(float(part))
        except ValueError:
            raise SpecError(f"{text!r}: parameter {part!r} is not a number") from None
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
    return str(int(value)) if value == int(value) else repr(value)
