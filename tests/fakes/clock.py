"""A clock a test moves by hand (the container's `clock`), starting at the real now so that what
compares with the wall clock (a bar's age, a token's expiry) still holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MovableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def move(self, by: timedelta) -> datetime:
        self.at += by
        return self.at
