"""EventBridge schedule expressions evaluated in Python, so one expression means the same thing in
both runtimes (the local scheduler, and scanners' own schedules in either runtime):
`rate(5 minutes)` and `cron(min hour day-of-month month day-of-week year)`, in UTC or in a named
time zone (as EventBridge Scheduler's ScheduleExpressionTimezone: `cron(0 16 ? * MON-FRI *)` in
America/New_York is 16:00 there in summer and in winter)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_AWS_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        self.next_after(datetime(2026, 1, 1))  # validates

    def next_after(self, moment: datetime) -> datetime:
        """The first firing after `moment` (UTC: naive, or aware and answered aware)."""
        if self.timezone == "UTC":
            return self._next_after(moment)
        zone = ZoneInfo(self.timezone)
        aware = moment.tzinfo is not None
        local = (moment if aware else moment.replace(tzinfo=UTC)).astimezone(zone).replace(tzinfo=None)
        fired = self._next_after(local).replace(tzinfo=zone).astimezone(UTC)
        return fired if aware else fired.replace(tzinfo=None)

    def _next_after(self, moment: datetime) -> datetime:
        rate = _RATE.match(self.expression)
        if rate:
            count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
            if count < 1:
                raise ScheduleError(f"{self.expression}: the rate must be at least 1")
            return moment + timedelta(**{f"{unit}s": count})
        cron = _CRON.match(self.expression)
        if not cron:
            raise ScheduleError(
                f"{self.expression!r} is not a schedule: use rate(N minutes|hours|days) or "
                "cron(minutes hours day-of-month month day-of-week year)"
            )
        from croniter import croniter  # 20 ms to import: only when a cron expression is evaluated

        return croniter(_to_croniter(self.expression, cron.group(1)), moment).get_next(datetime)  # type: ignore[no-any-return]


def _to_croniter(expression: str, body: str) -> str:
    """AWS cron has six fields, `?` and days 1-7 = SUN-SAT; croniter has five and 0-6."""
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: cron needs 6 fields (min hour dom month dow year)")
    minute, hour, dom, month, dow, year = fields
    if year not in ("*", "?"):
        raise ScheduleError(f"{expression}: a year field other than * is not supported locally")
    if any(special in f for f in (dom, dow) for special in ("L", "W", "#")):
        raise ScheduleError(f"{expression}: L, W and # are not supported locally")
    dow = re.sub(r"\d", lambda m: str((int(m.group()) - 1) % 7), dow)
    for name, number in _AWS_DAYS.items():
        dow = dow.replace(name, str(number))
    return " ".join(f.replace("?", "*") for f in (minute, hour, dom, month, dow))
