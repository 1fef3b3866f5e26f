"""An ingestion is all or nothing, even across a crash (issue 9, part 1).

A process ingesting a 200,000-bar file is killed with SIGKILL at several points (while parsing,
between the files it renames into place, before and after its commit record, and on S3 while
DuckDB is still uploading). Afterwards either every bar of the batch or none is readable: from
the lake itself, through the API's query after a later ingestion into the same range, and after
a compaction, which also removes what the dead writer left. In the local folder and on S3
(moto's server on loopback).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import load_settings
from trading_system.market_data.commands import BarRow, IngestBars, RegisterSymbol
from trading_system.market_data.domain import Timeframe
from trading_system.market_data.queries import GetBars

SYMBOLS = [f"S{i}" for i in range(10)]
HOURS = 20_000  # per symbol: 200,000 bars over 28 months, so 28 files of one ingestion
FIRST = datetime(2022, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    """A data folder whose lake is local or on S3, and how to look at it."""

    data_dir: Path
    env: dict[str, str]
    overrides: dict[str, str]

    def container(self, **settings: object) -> Container:
        return bootstrap(load_settings(data_dir=self.data_dir, **self.overrides, **settings))  # type: ignore[arg-type]


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The lake in a local folder, or on S3 with `indirect` parametrisation to "s3"."""
    overrides: dict[str, str] = {}
    if getattr(request, "param", "local") == "s3":
        url = request.getfixturevalue("moto_url")
        bucket = unique_name("crash")
        boto_client("s3", url).create_bucket(Bucket=bucket)
        overrides = {"lake_root": f"s3://{bucket}/lake", "aws_endpoint_url": url}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    env |= {"TRADING_DATA_DIR": str(tmp_path)} | {f"TRADING_{k.upper()}": v for k, v in overrides.items()}
    site = Site(tmp_path, env, overrides)
    setup = site.container()
    for symbol in SYMBOLS:
        setup.bus.execute(RegisterSymbol(symbol=symbol))
    yield site


@pytest.fixture
def bar_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    start = int(FIRST.timestamp())
    lines = ["symbol,ts,open,high,low,close,volume"]
    for symbol in SYMBOLS:
        close = np.round(100 + rng.normal(0, 1, HOURS).cumsum().clip(-90, None), 4)
        for hour, price in enumerate(close.tolist()):
            lines.append(f"{symbol},{start + hour * 3600},{price},{price + 1},{price - 1},{price},100")
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest_and_die(site: Site, point: str, bar_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.crash_ingest", point, str(bar_file)],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def kill_when_the_first_file_lands(site: Site, bar_file: Path) -> int:
    """Start the ingestion and SIGKILL it as soon as S3 holds one of its data files."""
    bucket = site.overrides["lake_root"].removeprefix("s3://").split("/")[0]
    s3 = boto_client("s3", site.overrides["aws_endpoint_url"])
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_ingest", "none", str(bar_file)],
        cwd=ROOT,
        env=site.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and time.monotonic() < deadline:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="lake/ingests/").get("Contents", [])
            if any(o["Key"].endswith(".parquet") for o in listed):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None and time.monotonic() >= deadline:
            process.kill()
    return process.wait(timeout=30)


def readable_in_lake(container: Container) -> list[int]:
    wide = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    return [len(container.lake.bars(s, Timeframe.H1, *wide, 10**6, Timeframe.H1)) for s in SYMBOLS]


def readable_through_the_api(container: Container) -> int:
    page = container.bus.ask(GetBars(symbol="S0", timeframe=Timeframe.H1, limit=50_000))
    return 0 if page.bars is None else len(page.bars)


def assert_all_or_nothing(site: Site, everything_expected: bool | None) -> bool:
    """Every check of the issue; returns whether the batch is readable."""
    container = site.container()
    counts = readable_in_lake(container)
    assert counts in ([0] * len(SYMBOLS), [HOURS] * len(SYMBOLS)), counts
    committed = counts[0] == HOURS
    if everything_expected is not None:
        assert committed is everything_expected
    # A later, unrelated ingestion into the same range: three bars of S0 inside the batch's months.
    later = [
        BarRow(ts=datetime(2023, 6, 1, h, tzinfo=UTC), open=5, high=6, low=4, close=5, volume=1)
        for h in range(3)
    ]
    container.bus.execute(IngestBars(timeframe=Timeframe.H1, symbol="S0", bars=later, source="api"))
    assert readable_through_the_api(container) == (HOURS if committed else 3)
    assert readable_in_lake(container)[1:] == counts[1:]
    # Compaction, once the dead writer's files are past the grace, merges nothing of it in and
    # deletes what it left.
    compacting = site.container(lake_orphan_grace_s=0)
    compacting.lake.compact(Timeframe.H1)
    assert readable_in_lake(compacting)[1:] == counts[1:]
    assert readable_through_the_api(compacting) == (HOURS if committed else 3)
    assert compacting.lake.files.list_ingests("ingests/timeframe=1h/") == ([], [])
    staging = Path(compacting.lake.root) / "_staging"
    assert not staging.exists() or not any(staging.rglob("*"))
    return committed


@pytest.mark.parametrize(
    ("site", "point", "committed"),
    [
        ("local", "parse", False),
        ("local", "rename:1", False),  # the first of 28 data files
        ("local", "rename:15", False),  # 14 of 28 in place
        ("local", "rename:29", False),  # every data file in place, the commit record not
        ("local", "record", False),
        ("local", "event", True),  # committed; BarsIngested never reached a subscriber
        ("s3", "parse", False),
        ("s3", "record", False),  # S3 has no renames: DuckDB uploads each file in place
        ("s3", "event", True),
    ],
    indirect=["site"],
)
def test_a_killed_ingestion_is_all_or_nothing(
    site: Site, bar_file: Path, point: str, committed: bool
) -> None:
    died = ingest_and_die(site, point, bar_file)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert_all_or_nothing(site, committed)


@pytest.mark.parametrize("site", ["s3"], indirect=True)
def test_an_ingestion_killed_while_uploading_to_s3_is_all_or_nothing(site: Site, bar_file: Path) -> None:
    assert kill_when_the_first_file_lands(site, bar_file) == -signal.SIGKILL
    assert_all_or_nothing(site, None)


@pytest.mark.parametrize("site", ["local", "s3"], indirect=True)
def test_an_ingestion_that_finishes_is_readable_whole(site: Site, bar_file: Path) -> None:
    finished = ingest_and_die(site, "none", bar_file)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert assert_all_or_nothing(site, True)
