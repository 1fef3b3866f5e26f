"""What each scheduled catalog function does; the Lambda and the local scheduler both run it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trading_system.bootstrap import Container
from trading_system.market_data.commands import CompactLake
from trading_system.scanning.commands import DispatchScanners
from trading_system.trading.commands import CloseSession

ScheduledJob = Callable[[Container], Any]

JOBS: dict[str, ScheduledJob] = {
    "compact_lake_nightly": lambda container: container.bus.execute(CompactLake()),
    "dispatch_scanners": lambda container: container.bus.execute(DispatchScanners()),
    "close_session": lambda container: container.bus.execute(CloseSession()),
}
