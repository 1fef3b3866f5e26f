"""Symbols, timeframes and bars. Pure: no I/O, no adapters."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.calendars import (
    ExchangeCalendar,
    OutsideCalendar,
    UnknownCalendar,
    calendar_for,
)

# The symbol rule lives apart, so that what only checks a symbol (the stream's channel names, in
# the fan-out Lambda) does not import the models here; re-exported, as every context reads it here.
from trading_system.market_data.symbols import SYMBOL_INPUT_PATTERN as SYMBOL_INPUT_PATTERN
from trading_system.market_data.symbols import SYMBOL_RULE as SYMBOL_RULE
from trading_system.market_data.symbols import parse_symbol as parse_symbol
from trading_system.market_data.symbols import symbol_of_segment as symbol_of_segment
from trading_system.market_data.symbols import symbol_segment as symbol_segment

Symbol = Annotated[str, AfterValidator(parse_symbol)]
# A symbol's smallest price move or quantity: positive, at most 10 decimals.
Step = Annotated[Decimal, Field(gt=0, le=1_000_000, max_digits=20, decimal_places=10)]


# A period's key, by its value (the enum is a StrEnum: its members look up as their values).
_PERIOD_FORMATS = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


class Period(StrEnum):
    """How much time one lake partition holds: enough to keep files large, small enough to prune."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"

    def of(self, ts: datetime) -> str:
        return ts.strftime(_PERIOD_FORMATS[self])

    def span(self, key: str) -> tuple[datetime, datetime]:
        """The UTC times a period's key (as `of` makes it) covers: its first instant, and the
        next period's first."""
        return _span(self, key)


@lru_cache(maxsize=4096)  # a read of a long range asks for each of its periods' span, every time
def _span(period: Period, key: str) -> tuple[datetime, datetime]:
    first = datetime.strptime(key, _PERIOD_FORMATS[period]).replace(tzinfo=UTC)
    if period is Period.DAY:
        return first, first + timedelta(days=1)
    if period is Period.MONTH:
        year, month = divmod(first.month, 12)
        return first, first.replace(year=first.year + year, month=month + 1)
    return first, first.replace(year=first.year + 1)


class Timeframe(StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"

    @property
    def seconds(self) -> int:
        return _SECONDS[self]

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def period(self) -> Period:
        return _PERIOD[self]

    def finer(self) -> list[Timeframe]:
        """Stored timeframes this one can be resampled from, coarsest first."""
        return [tf for tf in reversed(Timeframe) if tf.seconds < self.seconds]

    def floor(self, ts: datetime) -> datetime:
        epoch = int(ts.timestamp())
        return datetime.fromtimestamp(epoch - epoch % self.seconds, UTC)

    def ceil(self, ts: datetime) -> datetime:
        floored = self.floor(ts)
        return floored if floored == ts else floored + self.delta

    def is_aligned(self, ts: datetime) -> bool:
        return ts.microsecond == 0 and int(ts.timestamp()) % self.seconds == 0


_SECONDS = {
    Timeframe.M1: 60,
    Timeframe.M5: 300,
    Timeframe.M15: 900,
    Timeframe.H1: 3600,
    Timeframe.D1: 86400,
}
_PERIOD = {
    Timeframe.M1: Period.MONTH,
    Timeframe.M5: Period.MONTH,
    Timeframe.M15: Period.MONTH,
    Timeframe.H1: Period.MONTH,
    Timeframe.D1: Period.YEAR,
}


def as_utc(ts: datetime) -> datetime:
    """Timestamps without a zone are taken as UTC; others are converted to it."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def parse_moment(value: Any) -> datetime | date:
    """ISO 8601 (UTC when it has no offset), a plain date, or epoch seconds/milliseconds."""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be an ISO 8601 timestamp, a date, or epoch seconds")
    if isinstance(value, (int, float)) or value.strip().isdigit():
        number = float(value)
        seconds = number / 1000 if number >= 1e11 else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(
                f"{value!r} epoch seconds (or milliseconds) is not a time a calendar can hold"
            ) from None
    text = value.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a timestamp: use ISO 8601 (2024-01-02T14:30:00Z), a date, or epoch seconds"
        ) from None


def utc_moment(value: datetime | date) -> datetime:
    """A moment as a client wrote it (a timestamp, or a date: its 00:00 UTC), in UTC."""
    return as_utc(value) if isinstance(value, datetime) else datetime.combine(value, datetime.min.time(), UTC)


class Bar(BaseModel):
    """One OHLCV bar; `ts` is the UTC start of the interval."""

    model_config = ConfigDict(frozen=True)

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class Coverage(BaseModel):
    """What the lake holds for a symbol at one timeframe."""

    first: datetime
    last: datetime
    bars_ingested: int = 0

    def merge(self, first: datetime, last: datetime, rows: int) -> Coverage:
        return Coverage(
            first=min(self.first, first),
            last=max(self.last, last),
            bars_ingested=self.bars_ingested + rows,
        )


class Listing(BaseModel):
    """A registered symbol and what data the lake holds for it."""

    symbol: Symbol
    name: str = Field(default="", max_length=200)
    exchange: str = Field(default="", max_length=50)
    asset_class: str = Field(default="us_equity", max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50)
    # The smallest price move and quantity the symbol trades in, when known; without them
    # Trading takes the quantity step from the asset class, and the dashboard the price's
    # decimals from the data.
    tick_size: Step | None = None
    qty_step: Step | None = None
    registered_at: datetime
    coverage: dict[Timeframe, Coverage] = Field(default_factory=dict)

    @computed_field(  # type: ignore[prop-decorator]
        description="the exchange calendar the symbol's bars align to (XNYS, 24/7), or none: 00:00 UTC"
    )
    @property
    def calendar(self) -> str | None:
        found = self.session_calendar()
        return found.code if found else None

    def session_calendar(self) -> ExchangeCalendar | None:
        """The calendar of the symbol's exchange; None without an exchange, or for one registered
        as free text before exchanges were checked (its bars keep aligning to 00:00 UTC)."""
        if not self.exchange:
            return None
        try:
            return calendar_for(self.exchange)
        except UnknownCalendar:
            return None

    def bar_of(self, timeframe: Timeframe, moment: datetime) -> datetime:
        """The start of the `timeframe` bar `moment` falls in: aligned to the session inside one
        of the symbol's sessions (a daily bar: the session's date at 00:00 UTC), else to the UTC
        grid, as the symbol's bars are."""
        moment = as_utc(moment)
        calendar = self.session_calendar()
        if calendar is None or calendar.is_always_open():
            return timeframe.floor(moment)
        try:
            session = calendar.session_of(moment)
        except OutsideCalendar:
            return timeframe.floor(moment)
        if session is None:
            return timeframe.floor(moment)
        if timeframe is Timeframe.D1:
            return datetime.combine(session.day, datetime.min.time(), UTC)
        return session.open + ((moment - session.open) // timeframe.delta) * timeframe.delta

    def sessions_to_follow(
        self, timeframe: Timeframe, start: datetime, end_excl: datetime
    ) -> SessionWindows | None:
        """The sessions a resampling to `timeframe` of bars in [start, end_excl) follows, or None
        when it follows the UTC grid (no calendar, or 24/7: its sessions are UTC days)."""
        calendar = self.session_calendar()
        if calendar is None or calendar.is_always_open():
            return None
        # Only the sessions the lake holds bars of: an open range would otherwise list every
        # session of the table (11,000 of them) on every read.
        if self.coverage:
            start = max(start, min(c.first for c in self.coverage.values()))
            end_excl = min(end_excl, max(c.last for c in self.coverage.values()) + timedelta(microseconds=1))
        first = max(start, EPOCH).date() - timedelta(days=1)
        last = (min(end_excl, FOREVER) - timedelta(microseconds=1)).date()
        if last < calendar.first_session or first > calendar.last_session:
            return SessionWindows((), (), ())
        return _windows(calendar, max(first, calendar.first_session), min(last, calendar.last_session))

    def same_definition(self, other: Listing) -> bool:
        fields = ("name", "exchange", "asset_class", "tags", "tick_size", "qty_step")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    def covering(self, timeframe: Timeframe, first: datetime, last: datetime, rows: int) -> Listing:
        current = self.coverage.get(timeframe)
        updated = (
            current.merge(first, last, rows)
            if current
            else Coverage(first=first, last=last, bars_ingested=rows)
        )
        return self.model_copy(update={"coverage": {**self.coverage, timeframe: updated}})

    def source_timeframe(self, wanted: Timeframe, start: datetime, end_excl: datetime) -> Timeframe | None:
        """The stored timeframe to answer from: the wanted one if it has bars in range, else the
        coarsest finer one that does (fewer rows to aggregate)."""
        for tf in [wanted, *wanted.finer()]:
            coverage = self.coverage.get(tf)
            if coverage and coverage.first < end_excl and coverage.last >= start:
                return tf
        return None


# The bounds of an open range: a query without `start` reads from EPOCH, one without `end` to FOREVER.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FOREVER = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SessionWindows:
    """Sessions a resampling follows, in order: an intraday bucket starts at a session's open plus
    multiples of the timeframe and ends at the latest at its close (the last bucket of a day may be
    short); a daily bucket is a whole session, stamped with its date at 00:00 UTC (`days`).
    Finer bars outside every session belong to no bucket."""

    days: tuple[datetime, ...]
    opens: tuple[datetime, ...]
    closes: tuple[datetime, ...]

    @cached_property
    def microseconds(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """`days`, `opens` and `closes` in microseconds since the epoch, as bars' times are."""
        return tuple(  # type: ignore[return-value]
            tuple(int(moment.timestamp()) * 1_000_000 for moment in moments)
            for moments in (self.days, self.opens, self.closes)
        )


@lru_cache(maxsize=256)
def _windows(calendar: ExchangeCalendar, first: date, last: date) -> SessionWindows:
    """The calendar's sessions from `first` to `last` (dates within its table). Kept: a chart
    refreshed, or a deployment deciding on each bar, asks the same days again and again, and two
    years of sessions take longer to list than the read they serve."""
    sessions = calendar.sessions_in(first, last)
    return SessionWindows(
        tuple(datetime.combine(s.day, datetime.min.time(), UTC) for s in sessions),
        tuple(s.open for s in sessions),
        tuple(s.close for s in sessions),
    )


def session_ceil(calendar: ExchangeCalendar, timeframe: Timeframe, moment: datetime) -> datetime:
    """The first start of a session-aligned `timeframe` bar at or after `moment`."""
    moment = as_utc(moment)
    try:
        session = calendar.session_of(moment)
        if session is not None:
            steps = -(-(moment - session.open) // timeframe.delta)
            candidate = session.open + steps * timeframe.delta
            if candidate < session.close:
                return candidate
        return calendar.next_open(moment)
    except OutsideCalendar:
        return timeframe.ceil(moment)  # before or after the table: no session bars there


def session_end_exclusive(calendar: ExchangeCalendar, timeframe: Timeframe, end: datetime | None) -> datetime:
    """What a read of session-aligned `timeframe` bars up to `end` (inclusive) stops before: the
    end of the bar `end` falls in, or just after `end` outside the sessions."""
    if end is None or as_utc(end) >= FOREVER:
        return FOREVER
    end = as_utc(end)
    try:
        session = calendar.session_of(end)
    except OutsideCalendar:
        return end_exclusive(timeframe, end)
    if session is None:
        return end + timedelta(microseconds=1)
    return session.open + ((end - session.open) // timeframe.delta + 1) * timeframe.delta


@dataclass(frozen=True)
class BarLimits:
    """What ingested bars may hold (settings `max_clock_skew_s`, `min_bar_price`,
    `max_bar_price`): a start no later than now plus the allowance, prices within the range. A
    bar dated 2031, or a price of 5e-324, would otherwise become the quote market orders fill at."""

    max_clock_skew_s: int = 300
    min_price: float = 1e-8
    max_price: float = 1e9


def end_exclusive(timeframe: Timeframe, end: datetime | None) -> datetime:
    """The first bar start after the bar `end` falls in: what a read up to `end` (inclusive)
    stops before. FOREVER with no end, or an end at or past it (9999-12-31 reads all there is)."""
    if end is None or as_utc(end) >= FOREVER:
        return FOREVER
    return timeframe.floor(as_utc(end)) + timeframe.delta


def check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and as_utc(start) > as_utc(end):
        reason = f"start {start.isoformat()} is after end {end.isoformat()}"
        raise ValidationFailed("start is after end", [Problem(reason, field="start")])


# -- corporate actions: splits and cash dividends, and how bars are adjusted for them -------------


class Adjustment(StrEnum):
    """How a read prices bars across corporate actions.

    `raw`: as traded. `split`: back-adjusted for splits, so the latest prices are the real ones and
    a bar before a split's ex-date has its prices divided by the split's ratio (new shares per old
    share) and its volume multiplied by it: a 4:1 split turns a 400 close into 100 and 1,000 shares
    into 4,000. Dividends never adjust prices (a total-return series is not offered): the cash is
    listed beside the bars for whoever wants to account for it."""

    RAW = "raw"
    SPLIT = "split"


class ActionKind(StrEnum):
    SPLIT = "split"  # forward or reverse: the ratio says which
    CASH_DIVIDEND = "cash_dividend"


class CorporateAction(BaseModel):
    """A split (`new_rate` shares for every `old_rate`: 4 for 1 forward, 1 for 10 reverse) or a
    cash dividend (`amount` per share in `currency`), effective at the start of `ex_date`: the
    first day the shares trade on the new terms. Kept as the two rates rather than their ratio so
    that a 1-for-3 reverse split stays exact."""

    model_config = ConfigDict(frozen=True)

    symbol: Symbol
    kind: ActionKind
    ex_date: date
    new_rate: Decimal | None = None
    old_rate: Decimal | None = None
    amount: Decimal | None = None
    currency: str | None = None

    @property
    def key(self) -> tuple[ActionKind, date]:
        """What identifies an action of a symbol: re-recording it replaces it."""
        return self.kind, self.ex_date

    @property
    def ratio(self) -> Decimal:
        """New shares per old share (1 for a dividend: it does not change prices)."""
        if self.kind is not ActionKind.SPLIT or self.new_rate is None or self.old_rate is None:
            return Decimal(1)
        return self.new_rate / self.old_rate

    @property
    def effective(self) -> datetime:
        """The first bar start on the new terms: the ex-date at 00:00 UTC (a daily bar of the
        ex-date, and every session bar of that day, is already post-split)."""
        return datetime.combine(self.ex_date, datetime.min.time(), UTC)


def check_action(action: CorporateAction) -> list[tuple[str, str]]:
    """What makes an action unusable, as (field, reason) pairs (none when it is fine): a split
    needs two positive rates and no amount, a dividend a positive amount and a currency code."""
    problems = []
    if action.kind is ActionKind.SPLIT:
        for name in ("new_rate", "old_rate"):
            value = getattr(action, name)
            if value is None or not value.is_finite() or value <= 0:
                problems.append((name, f"a split needs a positive {name}"))
        if not problems and action.ratio == 1:
            problems.append(("new_rate", "a split of 1 for 1 changes nothing"))
        if action.amount is not None:
            problems.append(("amount", "a split has no cash amount"))
    else:
        if action.amount is None or not action.amount.is_finite() or action.amount <= 0:
            problems.append(("amount", "a cash dividend needs a positive amount per share"))
        if action.currency is None or not re.fullmatch(r"[A-Z]{3}", action.currency):
            problems.append(("currency", "a cash dividend needs a three-letter currency code (USD)"))
        if action.new_rate is not None or action.old_rate is not None:
            problems.append(("new_rate", "a cash dividend has no split rates"))
    return problems


def split_factor(actions: Iterable[CorporateAction], at: datetime) -> Decimal:
    """What a bar starting at `at` is divided by (its volume multiplied by) when split-adjusted:
    the product of the ratios of every split effective after it. Splits compose: 2:1 then 3:1
    make a bar before both one sixth of its raw price."""
    factor = Decimal(1)
    for action in actions:
        if action.kind is ActionKind.SPLIT and as_utc(at) < action.effective:
            factor *= action.ratio
    return factor


def split_adjusted(bar: Bar, actions: Iterable[CorporateAction]) -> Bar:
    """The bar back-adjusted for splits: the reference the lake's SQL adjustment is tested against."""
    factor = float(split_factor(actions, bar.ts))
    if factor == 1:
        return bar
    return Bar(
        ts=bar.ts,
        open=bar.open / factor,
        high=bar.high / factor,
        low=bar.low / factor,
        close=bar.close / factor,
        volume=bar.volume * factor,
    )
