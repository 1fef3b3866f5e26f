"""One large file ingestion that dies by SIGKILL at a chosen point (test_ingest_crashes runs it).

    python -m tests.integration.crash_ingest <point> <bar file>

Settings come from the environment (TRADING_DATA_DIR, TRADING_LAKE_ROOT, ...). Points:
- `parse`: after the file is parsed and checked, before anything is written;
- `rename:<n>`: locally, just before the n-th file is renamed into the lake (the data files
  first, the commit record last);
- `record`: after every data file is in place, before the commit record is written;
- `event`: after the ingestion committed, before BarsIngested reaches its subscribers;
- `none`: the ingestion runs to the end.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, lake_root: str) -> None:
    if point == "parse":
        from trading_system.market_data import bar_batch

        bar_batch.find_problems = lambda *args, **kwargs: die()  # type: ignore[assignment,return-value]
    elif point.startswith("rename:"):
        remaining = int(point.removeprefix("rename:"))
        rename = Path.replace

        def replace(self: Path, target: Any) -> Path:
            nonlocal remaining
            if str(target).startswith(lake_root):
                remaining -= 1
                if remaining == 0:
                    die()
            return rename(self, target)

        Path.replace = replace  # type: ignore[method-assign,assignment]
    elif point == "record":
        from trading_system.adapters.lake import LocalFolder, S3Prefix

        for files in (LocalFolder, S3Prefix):
            files.write_text = lambda self, relative, text: die()  # type: ignore[method-assign]
    elif point == "event":
        from trading_system.kernel.bus import MessageBus

        MessageBus._publish = lambda self, events, context: die()  # type: ignore[method-assign]


def main(point: str, path: str) -> None:
    from trading_system.bootstrap import bootstrap
    from trading_system.market_data.commands import FileFormat, IngestBarFile
    from trading_system.market_data.domain import Timeframe

    container = bootstrap()
    arm(point, container.settings.lake_root)
    container.bus.execute(IngestBarFile(timeframe=Timeframe.H1, path=path, format=FileFormat.CSV))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
