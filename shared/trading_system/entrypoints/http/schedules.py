"""Identity's route of the platform's schedules (platform-wide, as health and get_me are); found
through identity.py, as the catalog names its context.
"""

from __future__ import annotations

from trading_system.entrypoints.http.dependencies import Context, Services
from trading_system.entrypoints.scheduled import ScheduleView, schedules


def list_schedules(services: Services, context: Context) -> list[ScheduleView]:
    """Every schedule of the catalog (fixed and timetabled), with its last run, its last failure
    and the count of failures since its last success: what failing quietly would hide."""
    return schedules(services)
