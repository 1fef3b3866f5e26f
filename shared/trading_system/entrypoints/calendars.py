"""Derives the compact session tables of trading_system.market_data.calendars from the
`exchange-calendars` library (a dev dependency: it brings pandas, which no Lambda may import).

    python -m trading_system.entrypoints.calendars shared/trading_system/market_data/calendar_data

`make calendars` would run the same; tests/unit/test_calendars.py fails when the checked-in files
differ from what this produces, and compares every session of the tables with the library.

A table holds what the library's schedule says, in local exchange time: the regular open and
close, the weekmask, the holidays (weekmask days without a session), the early closes and late
opens, and the UTC offset of each run of sessions. Storing the offsets (rather than asking
zoneinfo at run time) keeps the runtime independent of the machine's time-zone database, which
Lambda's image need not carry, and makes the tables say exactly what the library says.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

# The tables' range: a bar or a question outside it is refused rather than guessed.
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2035, 12, 31)
# The calendars with a table; 24/7 (crypto) needs none. NASDAQ is an alias of XNYS in the library.
TABLE_CALENDARS = {"XNYS": "New York Stock Exchange (US equities)"}
FORMAT_VERSION = 1


def calendar_table(code: str) -> dict[str, Any]:
    """The compact table of one calendar, derived from the library's schedule."""
    import exchange_calendars  # dev only: pulls pandas

    calendar = exchange_calendars.get_calendar(code, start=FIRST_DAY.isoformat(), end=LAST_DAY.isoformat())
    schedule = calendar.schedule
    if schedule["break_start"].notna().any():
        raise ValueError(f"{code} has lunch breaks, which the compact table cannot express")
    tz = str(calendar.tz)
    sessions: list[tuple[date, datetime, datetime]] = []
    for label, row in schedule.iterrows():
        opened = row["open"].tz_convert(tz).to_pydatetime()
        closed = row["close"].tz_convert(tz).to_pydatetime()
        day = label.date()
        if opened.date() != day or closed.date() != day or opened.utcoffset() != closed.utcoffset():
            raise ValueError(f"{code} session {day} does not open and close on its own local date")
        if opened.astimezone(UTC).date() != day or closed.astimezone(UTC).date() != day:
            # Daily bars are stamped with the session's date at 00:00 UTC and resampled from the
            # finer bars of that UTC date: a session crossing UTC midnight would need more.
            raise ValueError(f"{code} session {day} does not lie within its UTC date")
        sessions.append((day, opened, closed))

    regular_open = Counter(o.time() for _, o, _ in sessions).most_common(1)[0][0]
    regular_close = Counter(c.time() for _, _, c in sessions).most_common(1)[0][0]
    weekmask = str(calendar.weekmask)
    days = {day for day, _, _ in sessions}
    if any(weekmask[day.weekday()] != "1" for day in days):
        raise ValueError(f"{code} has sessions outside its weekmask, which the table cannot express")
    first, last = sessions[0][0], sessions[-1][0]
    holidays = [d.isoformat() for d in _days(first, last) if weekmask[d.weekday()] == "1" and d not in days]
    early_closes: dict[str, str] = {}
    late_opens: dict[str, str] = {}
    offsets: list[list[Any]] = []
    for day, opened, closed in sessions:
        if opened.time() != regular_open:
            if opened.time() < regular_open:
                raise ValueError(f"{code} opens early on {day}, which the table cannot express")
            late_opens[day.isoformat()] = _hhmm(opened.time())
        if closed.time() != regular_close:
            if closed.time() > regular_close:
                raise ValueError(f"{code} closes late on {day}, which the table cannot express")
            early_closes[day.isoformat()] = _hhmm(closed.time())
        minutes = int(opened.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
        if not offsets or offsets[-1][1] != minutes:
            offsets.append([day.isoformat(), minutes])
    return {
        "format": FORMAT_VERSION,
        "code": code,
        "name": TABLE_CALENDARS[code],
        "source": f"exchange-calendars {exchange_calendars.__version__}",
        "tz": tz,
        "first_session": first.isoformat(),
        "last_session": last.isoformat(),
        "open": _hhmm(regular_open),
        "close": _hhmm(regular_close),
        "weekmask": weekmask,
        "holidays": holidays,
        "early_closes": early_closes,
        "late_opens": late_opens,
        # [first session date of a run, UTC offset in minutes of every session from it on]
        "utc_offsets": offsets,
    }


def render(table: dict[str, Any]) -> str:
    """The file's text: one list item per line, so a diff of a new library version reads well."""
    lines = ["{"]
    items = list(table.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            inner = ",\n".join(f"    {json.dumps(v)}" for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{inner}\n  ]{comma}")
        elif isinstance(value, dict) and value:
            inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f"  {json.dumps(key)}: {{\n{inner}\n  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate() -> dict[str, str]:
    """File name -> text of every table."""
    return {f"{code}.json": render(calendar_table(code)) for code in TABLE_CALENDARS}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m trading_system.entrypoints.calendars <output folder>", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
