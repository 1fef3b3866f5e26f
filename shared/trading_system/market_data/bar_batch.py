"""The rules a batch of bars must pass before anything is written, checked column-wise.

A batch arrives as columns (one numpy array per field) so that a million bars are checked in
milliseconds; the rules are the same whether the bars came as JSON, CSV, Parquet or a raw file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from trading_system.kernel.errors import Problem
from trading_system.market_data.domain import Bar, BarLimits, Timeframe, as_utc

if TYPE_CHECKING:
    from trading_system.market_data.calendars import ExchangeCalendar
    from trading_system.market_data.commands import BarRow
    from trading_system.market_data.events import SymbolRange

MAX_PROBLEMS = 100
_US = 1_000_000
_EARLIEST_US = 0  # 1970-01-01
_LATEST_US = 4_102_444_800 * _US  # 2100-01-01

_PRICES = ("open", "high", "low", "close", "volume")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BarColumns:
    """A batch of bars as columns. `row` numbers rows as the user sees them (1 = first data row).

    Symbols are dictionary-encoded: `symbol_code[i]` indexes `symbols`. Rows whose fields could
    not be parsed are already reported by the parser and have NaN / `ts_valid == False` here.
    """

    row: IntArray
    symbols: tuple[str, ...]
    symbol_code: IntArray
    ts_us: IntArray
    ts_valid: npt.NDArray[np.bool_]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True)
class ParsedBars:
    """Columns read from some input, with the problems found while parsing it."""

    columns: BarColumns
    problems: list[Problem]
    problem_count: int


@dataclass(frozen=True)
class BarSeries:
    """Bars of one symbol as columns, as the lake returns them: cheap to slice and serialise."""

    ts_us: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return len(self.ts_us)

    @classmethod
    def empty(cls) -> BarSeries:
        return cls(np.zeros(0, dtype=np.int64), *(np.zeros(0) for _ in range(5)))

    @classmethod
    def of(cls, bars: Sequence[Bar]) -> BarSeries:
        return cls(
            np.array([int(b.ts.timestamp()) * _US + b.ts.microsecond for b in bars], dtype=np.int64),
            *(np.array([getattr(b, name) for b in bars], dtype=np.float64) for name in _PRICES),
        )

    @classmethod
    def concat(cls, parts: Sequence[BarSeries]) -> BarSeries:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.ts_us for p in parts]),
            *(np.concatenate([getattr(p, name) for p in parts]) for name in _PRICES),
        )

    def head(self, n: int) -> BarSeries:
        return self._picked(slice(None, n))

    def where(self, keep: npt.NDArray[np.bool_]) -> BarSeries:
        return self if bool(keep.all()) else self._picked(keep)

    def _picked(self, rows: slice | npt.NDArray[np.bool_]) -> BarSeries:
        return BarSeries(
            self.ts_us[rows],
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
        )

    def moment(self, index: int) -> datetime:
        """The start of bar `index` (negative counts from the end) as a UTC datetime."""
        us = int(self.ts_us[index])
        return datetime.fromtimestamp(us // _US, UTC).replace(microsecond=us % _US)

    def bars(self) -> list[Bar]:
        return [
            Bar(ts=self.moment(i), open=o, high=h, low=low, close=c, volume=v)
            for i, (o, h, low, c, v) in enumerate(
                zip(*(col.tolist() for col in self._columns()[1:]), strict=True)
            )
        ]

    def records(self) -> list[dict[str, object]]:
        """Plain dicts with ISO-8601 UTC timestamps, for JSON."""
        stamps = np.datetime_as_string(self.ts_us.astype("datetime64[us]").astype("datetime64[s]"))
        keys = ("ts", "open", "high", "low", "close", "volume")
        columns = [[f"{s}Z" for s in stamps.tolist()], *(c.tolist() for c in self._columns()[1:])]
        return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]

    def _columns(self) -> tuple[npt.NDArray[np.int64] | FloatArray, ...]:
        return (self.ts_us, self.open, self.high, self.low, self.close, self.volume)


def bar_start(ts: datetime | date, timeframe: Timeframe) -> datetime:
    """The UTC start of a bar as a client wrote it.

    A daily bar stamped at local midnight (`2024-01-02 00:00-05:00`, as many data vendors write
    them) is the bar of that date, not of 05:00 UTC.
    """
    if not isinstance(ts, datetime):
        return datetime.combine(ts, time(0), UTC)
    if timeframe is Timeframe.D1 and ts.tzinfo is not None and ts.time() == time(0):
        return datetime.combine(ts.date(), time(0), UTC)
    return as_utc(ts)


def columns_from_rows(rows: Sequence[BarRow], default_symbol: str | None, timeframe: Timeframe) -> ParsedBars:
    problems = _Collector()
    symbols: dict[str, int] = {}
    codes = np.zeros(len(rows), dtype=np.int64)
    ts = np.zeros(len(rows), dtype=np.int64)
    valid = np.ones(len(rows), dtype=np.bool_)
    for i, bar in enumerate(rows):
        symbol = bar.symbol or default_symbol
        if symbol is None:
            problems.add_one(Problem("symbol is missing and the batch names none", "symbol", i + 1))
            valid[i] = False
            continue
        codes[i] = symbols.setdefault(symbol, len(symbols))
        start = bar_start(bar.ts, timeframe)
        ts[i] = int(start.timestamp()) * _US + start.microsecond
    columns = BarColumns(
        row=np.arange(1, len(rows) + 1, dtype=np.int64),
        symbols=tuple(symbols),
        symbol_code=codes,
        ts_us=ts,
        ts_valid=valid,
        open=np.array([b.open for b in rows], dtype=np.float64),
        high=np.array([b.high for b in rows], dtype=np.float64),
        low=np.array([b.low for b in rows], dtype=np.float64),
        close=np.array([b.close for b in rows], dtype=np.float64),
        volume=np.array([b.volume for b in rows], dtype=np.float64),
    )
    return ParsedBars(columns, problems.found, problems.total)


def columns_from_series(series: BarSeries, symbol: str) -> ParsedBars:
    """One symbol's bars, already parsed (a provider's pages): rows numbered from 1 in order."""
    columns = BarColumns(
        row=np.arange(1, len(series) + 1, dtype=np.int64),
        symbols=(symbol,),
        symbol_code=np.zeros(len(series), dtype=np.int64),
        ts_us=series.ts_us,
        ts_valid=np.ones(len(series), dtype=np.bool_),
        open=series.open,
        high=series.high,
        low=series.low,
        close=series.close,
        volume=series.volume,
    )
    return ParsedBars(columns, [], 0)


def ranges_by_symbol(bars: BarColumns) -> list[SymbolRange]:
    """First and last bar and row count of each symbol in a (validated) batch."""
    from trading_system.market_data.events import SymbolRange

    counts = np.bincount(bars.symbol_code, minlength=len(bars.symbols))
    first = np.full(len(bars.symbols), np.iinfo(np.int64).max)
    last = np.full(len(bars.symbols), np.iinfo(np.int64).min)
    np.minimum.at(first, bars.symbol_code, bars.ts_us)
    np.maximum.at(last, bars.symbol_code, bars.ts_us)
    # A validated batch has one bar per (symbol, ts), so exactly one row per symbol is its last.
    last_rows = np.nonzero(bars.ts_us == last[bars.symbol_code])[0]
    last_close = np.full(len(bars.symbols), np.nan)
    last_volume = np.full(len(bars.symbols), np.nan)
    last_close[bars.symbol_code[last_rows]] = bars.close[last_rows]
    last_volume[bars.symbol_code[last_rows]] = bars.volume[last_rows]
    return [
        SymbolRange(
            symbol=symbol,
            first=_datetime(first[code]),
            last=_datetime(last[code]),
            rows=int(counts[code]),
            last_close=float(last_close[code]),
            last_volume=float(last_volume[code]),
        )
        for code, symbol in enumerate(bars.symbols)
        if counts[code]
    ]


def _datetime(ts_us: int) -> datetime:
    return datetime.fromtimestamp(int(ts_us) / _US, UTC)


def find_problems(
    bars: BarColumns,
    timeframe: Timeframe,
    known_symbols: Collection[str],
    limits: BarLimits,
    now: datetime,
    calendars: Mapping[str, ExchangeCalendar] | None = None,
) -> tuple[list[Problem], int]:
    """Every rule the batch breaks: (the first MAX_PROBLEMS problems, total count).

    Bars of a symbol in `calendars` align to its sessions (see `_find_off_session`); the others
    to multiples of the timeframe from 00:00 UTC.
    """
    problems = _Collector()
    if len(bars) == 0:
        problems.add_one(Problem("the batch has no bars"))
        return problems.found, problems.total

    for code, symbol in enumerate(bars.symbols):
        if symbol not in known_symbols:
            rows = bars.row[bars.symbol_code == code]
            reason = (
                f"unknown symbol {symbol!r} ({len(rows)} rows); register it first "
                "(POST /v1/symbols or `trading symbols add`)"
            )
            problems.add_one(Problem(reason, field="symbol", row=int(rows[0]), value=symbol))

    prices = {"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close}
    allowed = f"must be between {limits.min_price:g} and {limits.max_price:g} (min_bar_price, max_bar_price)"
    for name, values in prices.items():
        problems.add_rows(bars, ~np.isfinite(values) & ~np.isnan(values), name, "is not finite")
        problems.add_rows(bars, values <= 0, name, "must be greater than 0", values)
        outside = (
            (values > 0) & np.isfinite(values) & ((values < limits.min_price) | (values > limits.max_price))
        )
        problems.add_rows(bars, outside, name, allowed, values)
    problems.add_rows(bars, bars.volume < 0, "volume", "must not be negative", bars.volume)
    problems.add_rows(bars, ~np.isfinite(bars.volume) & ~np.isnan(bars.volume), "volume", "is not finite")

    problems.add_rows(
        bars,
        bars.high < np.maximum(bars.open, bars.close),
        "high",
        "is below max(open, close)",
        bars.high,
    )
    problems.add_rows(
        bars, bars.low > np.minimum(bars.open, bars.close), "low", "is above min(open, close)", bars.low
    )
    problems.add_rows(bars, bars.high < bars.low, "high", "is below low", bars.high)

    valid = bars.ts_valid
    out_of_range = valid & ((bars.ts_us < _EARLIEST_US) | (bars.ts_us >= _LATEST_US))
    problems.add_rows(bars, out_of_range, "ts", "is outside 1970-01-01 .. 2100-01-01")
    latest_start_us = int(now.timestamp() * _US) + limits.max_clock_skew_s * _US
    future = valid & ~out_of_range & (bars.ts_us > latest_start_us)
    problems.add_rows(
        bars,
        future,
        "ts",
        f"starts in the future: later than now ({now.isoformat()}) plus "
        f"{limits.max_clock_skew_s} s (max_clock_skew_s)",
    )
    step = timeframe.seconds * _US
    checked = valid & ~out_of_range
    by_calendar = [
        (code, calendar)
        for code, symbol in enumerate(bars.symbols)
        if (calendar := (calendars or {}).get(symbol)) is not None and not calendar.is_always_open()
    ]
    utc_aligned = checked.copy()
    for code, _ in by_calendar:
        utc_aligned &= bars.symbol_code != code
    misaligned = utc_aligned & (bars.ts_us % step != 0)
    problems.add_rows(
        bars,
        misaligned,
        "ts",
        f"is not aligned to the {timeframe.value} timeframe "
        f"(a bar must start on a multiple of {timeframe.value} counted from 00:00 UTC)",
        bars.ts_us,
        as_time=True,
    )
    for code, calendar in by_calendar:
        _find_off_session(
            bars, np.flatnonzero(checked & (bars.symbol_code == code)), timeframe, calendar, problems
        )
    _find_duplicates(bars, problems)
    return problems.found, problems.total


def _find_off_session(
    bars: BarColumns, rows: IntArray, timeframe: Timeframe, calendar: ExchangeCalendar, problems: _Collector
) -> None:
    """Bars of a symbol with an exchange calendar follow its sessions.

    An intraday bar starts at a session's open plus a multiple of the timeframe (an hourly bar of
    a New York stock at 09:30, 10:30, ... local: 13:30 or 14:30 UTC with daylight saving time)
    and before its close; the last bar of a session may be short (15:30-16:00, 12:30-13:00 on
    an early close). A daily bar is one session, stamped with the session's date at 00:00 UTC, as
    daily bars of every symbol are (so a date means the same in every query).
    """
    if len(rows) == 0:
        return
    ts = bars.ts_us[rows]
    day_us = 86_400 * _US
    first_day = _datetime(int(ts.min())).date()
    last_day = _datetime(int(ts.max())).date()
    covered = (ts >= _day_start_us(calendar.first_session)) & (
        ts < _day_start_us(calendar.last_session) + day_us
    )
    _add_some(
        problems,
        bars,
        rows[~covered],
        f"is outside the {calendar.code} calendar's table "
        f"({calendar.first_session.isoformat()} .. {calendar.last_session.isoformat()})",
    )
    rows, ts = rows[covered], ts[covered]
    if len(rows) == 0:
        return
    sessions = calendar.sessions_in(first_day, last_day)
    if timeframe is Timeframe.D1:
        session_days = np.array([_day_start_us(s.day) for s in sessions], dtype=np.int64)
        midnight = ts % day_us == 0
        _add_some(
            problems,
            bars,
            rows[~midnight],
            f"is not the start of a {calendar.code} daily bar: a daily bar is one session, "
            "stamped with the session's date at 00:00 UTC (2024-03-08T00:00:00Z)",
        )
        _add_some(
            problems,
            bars,
            rows[midnight & ~np.isin(ts, session_days)],
            f"is not a {calendar.code} session (a weekend or holiday)",
        )
        return
    opens = np.array([int(s.open.timestamp()) * _US for s in sessions], dtype=np.int64)
    closes = np.array([int(s.close.timestamp()) * _US for s in sessions], dtype=np.int64)
    index = np.searchsorted(opens, ts, side="right") - 1
    inside = index >= 0
    inside[inside] = ts[inside] < closes[index[inside]]
    _add_some(
        problems,
        bars,
        rows[~inside],
        f"is outside the {calendar.code} sessions: an intraday bar must start at or after a "
        f"session's open and before its close ({calendar.tz} local time; no extended hours)",
    )
    step = timeframe.seconds * _US
    session_opens = opens[index[inside]]
    offsets = ts[inside] - session_opens
    off = offsets % step != 0
    problems.total += int(off.sum())
    room = max(MAX_PROBLEMS - len(problems.found), 0)
    shown = (rows[inside][off][:room], session_opens[off][:room], offsets[off][:room])
    for row, session_open, offset in zip(*shown, strict=True):
        earlier = _iso(int(session_open + offset - offset % step))
        reason = (
            f"ts is not aligned to the {timeframe.value} timeframe of the {calendar.code} session: "
            f"{timeframe.value} bars start at the session's open ({_iso(int(session_open))}) plus "
            f"multiples of {timeframe.value}; the nearest earlier start is {earlier}"
        )
        value = _iso(int(session_open + offset))
        problems.found.append(Problem(reason, field="ts", row=int(bars.row[row]), value=value))


def _add_some(problems: _Collector, bars: BarColumns, rows: IntArray, reason: str) -> None:
    problems.total += len(rows)
    for row in rows[: max(MAX_PROBLEMS - len(problems.found), 0)]:
        value = _iso(int(bars.ts_us[row]))
        problems.found.append(Problem(f"ts {reason}", field="ts", row=int(bars.row[row]), value=value))


def _day_start_us(day: date) -> int:
    return int(datetime.combine(day, time(0), UTC).timestamp()) * _US


def _find_duplicates(bars: BarColumns, problems: _Collector) -> None:
    valid = np.flatnonzero(bars.ts_valid)
    if len(valid) < 2 or in_order(bars.symbol_code[valid], bars.ts_us[valid], strict=True):
        return  # rows in (symbol, ts) order, as files and pages mostly come: none can repeat
    order = valid[np.lexsort((bars.row[valid], bars.ts_us[valid], bars.symbol_code[valid]))]
    same = (bars.ts_us[order[1:]] == bars.ts_us[order[:-1]]) & (
        bars.symbol_code[order[1:]] == bars.symbol_code[order[:-1]]
    )
    later_rows, earlier_rows = order[1:][same], order[:-1][same]
    problems.total += len(later_rows)
    room = max(MAX_PROBLEMS - len(problems.found), 0)
    for later, earlier in zip(later_rows[:room], earlier_rows[:room], strict=True):
        symbol = bars.symbols[bars.symbol_code[later]]
        reason = f"duplicate bar for {symbol} at {_iso(bars.ts_us[later])} (same as row {bars.row[earlier]})"
        problems.found.append(Problem(reason, field="ts", row=int(bars.row[later])))


def in_order(code: IntArray, ts: IntArray, *, strict: bool) -> bool:
    """Whether (code, ts) pairs increase row by row (`strict`: no pair repeats): a linear check,
    cheaper than the sort it lets a caller skip (finding duplicates, ordering a lake write)."""
    same = code[1:] == code[:-1]
    later = ts[1:] > ts[:-1] if strict else ts[1:] >= ts[:-1]
    return bool(np.all((code[1:] > code[:-1]) | (same & later)))


class _Collector:
    def __init__(self) -> None:
        self.found: list[Problem] = []
        self.total = 0

    def add_one(self, problem: Problem) -> bool:
        self.total += 1
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(problem)
            return True
        return False

    def add_rows(
        self,
        bars: BarColumns,
        mask: npt.NDArray[np.bool_],
        field: str,
        reason: str,
        values: npt.NDArray[np.float64] | npt.NDArray[np.int64] | None = None,
        *,
        as_time: bool = False,
    ) -> None:
        hits = np.flatnonzero(mask)
        self.total += len(hits)
        room = MAX_PROBLEMS - len(self.found)
        for i in hits[: max(room, 0)]:
            value = None
            if values is not None:
                value = _iso(int(values[i])) if as_time else float(values[i])
            self.found.append(Problem(f"{field} {reason}", field=field, row=int(bars.row[i]), value=value))


def _iso(ts_us: int) -> str:
    return np.datetime_as_string(np.datetime64(int(ts_us), "us"), unit="s") + "Z"
