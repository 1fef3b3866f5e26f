"""What a backtest or a sweep reads before it runs, and the checks made before it is queued:
its fill profile, and each symbol's bars over its range from the finest stored timeframe."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.domain import EPOCH, Adjustment, Timeframe, as_utc, end_exclusive
from trading_system.strategies.fills import PROFILES, FillProfile

if TYPE_CHECKING:
    from trading_system.market_data.domain import Listing
    from trading_system.market_data.ports import BarLake, SymbolRepository
    from trading_system.strategies.engine import Bars

MAX_BARS = 5_000_000  # a run's bars per symbol: ten years of 1m bars fit


class OverBars(Protocol):
    """What a run names of its bars and fills (a backtest's or a sweep's request)."""

    @property
    def symbols(self) -> list[str]: ...
    @property
    def timeframe(self) -> Timeframe: ...
    @property
    def start(self) -> datetime | None: ...
    @property
    def end(self) -> datetime | None: ...
    @property
    def profile(self) -> str: ...
    @property
    def commission(self) -> float | None: ...
    @property
    def spread(self) -> float | None: ...
    @property
    def adjustment(self) -> Adjustment: ...


def profile_of(request: OverBars) -> FillProfile:
    profile = PROFILES.get(request.profile)
    if profile is None:
        raise ValidationFailed(
            f"unknown fill profile {request.profile!r}",
            [Problem(f"known profiles: {', '.join(PROFILES)}", field="profile", value=request.profile)],
        )
    return profile.with_costs(request.commission, request.spread)


def span(request: OverBars) -> tuple[datetime, datetime]:
    tf = request.timeframe
    start = tf.ceil(as_utc(request.start)) if request.start else EPOCH
    end_excl = end_exclusive(tf, request.end)
    return start, end_excl


def no_data(request: OverBars, symbol: str, what: str) -> ValidationFailed:
    start, end_excl = span(request)
    where = f"between {start.date()} and {end_excl.date()}" if request.start or request.end else "at all"
    reason = f"no {request.timeframe.value} bars of {symbol} {where}{what}"
    return ValidationFailed(reason, [Problem(reason, field="symbols", value=symbol)])


def check_data(request: OverBars, symbols: SymbolRepository) -> None:
    """Every symbol registered, with bars of the timeframe (or finer) in the range."""
    listings: dict[str, Listing] = symbols.get_many(request.symbols)
    problems = []
    for symbol in request.symbols:
        listing = listings.get(symbol)
        if listing is None:
            problems.append(Problem(f"symbol {symbol} is not registered", field="symbols", value=symbol))
        elif listing.source_timeframe(request.timeframe, *span(request)) is None:
            problems.extend(no_data(request, symbol, "").problems)
    if problems:
        raise ValidationFailed(problems[0].reason, problems)


def bars_of(
    request: OverBars, symbol: str, symbols: SymbolRepository, lake: BarLake
) -> tuple[Bars, Timeframe]:
    """A symbol's bars over the backtest's range, from the finest stored timeframe needed,
    split-adjusted unless the request asks for raw prices: a 4:1 split read raw is a 75% crash
    no strategy should trade on."""
    from trading_system.strategies.engine import Bars

    start, end_excl = span(request)
    listing = symbols.require(symbol)
    source = listing.source_timeframe(request.timeframe, start, end_excl)
    sessions = listing.sessions_to_follow(request.timeframe, start, end_excl)  # bars of the session
    series = (
        lake.bars(symbol, request.timeframe, start, end_excl, MAX_BARS, source, sessions, request.adjustment)
        if source
        else None
    )
    if source is None or series is None or len(series) < 2:
        raise no_data(request, symbol, " (a backtest needs at least two)")
    return Bars(
        series.ts_us * 1000, series.open, series.high, series.low, series.close, series.volume
    ), source
