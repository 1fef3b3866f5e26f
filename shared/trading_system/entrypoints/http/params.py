"""Query-parameter conventions shared by the routers: dates and times in, ISO 8601 UTC out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def moment(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
