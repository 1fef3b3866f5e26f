"""The signal log in the lake, in a local folder and on S3 (moto's server): what reads open.
Both signals and scan runs grow by a file per scan, so a read must open only the files that can
answer it; a file that cannot be read stands for one that is too costly to (it must stay closed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.lake import ParquetLake
from trading_system.adapters.signal_lake import SignalLake
from trading_system.config import load_settings
from trading_system.kernel.clock import sortable_id

DAY = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


class LogUnderTest:
    def __init__(self, log: SignalLake, put: Any):
        self.log = log
        self.put = put  # (relative path, bytes) -> None: a file dropped into the lake as is


@pytest.fixture(params=["local", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogUnderTest]:
    if request.param == "local":
        lake = ParquetLake.from_settings(load_settings(data_dir=tmp_path))

        def put_local(relative: str, data: bytes) -> None:
            path = Path(lake.root) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        yield LogUnderTest(SignalLake(lake), put_local)
        return
    url = request.getfixturevalue("moto_url")
    s3 = boto_client("s3", url)
    bucket = unique_name("signals")
    s3.create_bucket(Bucket=bucket)
    lake = ParquetLake.from_settings(
        load_settings(data_dir=tmp_path, lake_root=f"s3://{bucket}/data", aws_endpoint_url=url)
    )
    yield LogUnderTest(
        SignalLake(lake),
        lambda relative, data: s3.put_object(Bucket=bucket, Key=f"data/{relative}", Body=data),
    )


def signal(detected_at: datetime, symbol: str = "AAA") -> dict[str, Any]:
    return {
        "signal_id": f"sig_{sortable_id()}",
        "source": "scanner",
        "scanner_id": "scn_1",
        "run_id": f"run_{sortable_id(detected_at)}",
        "symbol": symbol,
        "timeframe": "1d",
        "ts": detected_at.date().isoformat(),
        "name": "dip",
        "values": "{}",
        "detected_at": detected_at.isoformat(),
    }


def run(started_at: datetime) -> dict[str, Any]:
    return {
        "run_id": f"run_{sortable_id(started_at)}",
        "scanner_id": "scn_1",
        "trigger": "schedule",
        "timeframe": "1d",
        "started_at": started_at.isoformat(),
        "duration_ms": 1.5,
        "universe_size": 10,
        "match_count": 0,
        "new_signals": 0,
        "matches": "[]",
    }


def test_signals_since_a_time_read_only_the_days_from_it_on(subject: LogUnderTest) -> None:
    for days in range(3):
        subject.log.append_signals([signal(DAY + timedelta(days=days), symbol=f"S{days}")])
    # A file of the 24th that cannot be read: a read since the 25th must not open it.
    subject.put("signals/date=2026-11-24/broken.parquet", b"not parquet")
    since = DAY + timedelta(hours=10)  # the 25th, 00:30 UTC
    found = subject.log.signals(None, None, since, 10)
    assert [s["symbol"] for s in found] == ["S2", "S1"]
    # The same instant in New York is still the 24th there: the days are UTC's.
    assert subject.log.signals(None, None, since.astimezone(timezone(timedelta(hours=-5))), 10) == found
    with pytest.raises(Exception, match="broken"):
        subject.log.signals(None, None, None, 10)  # without a since, every day is read


def test_a_scanners_latest_runs_read_only_its_newest_run_files(subject: LogUnderTest) -> None:
    started = [DAY + timedelta(minutes=m) for m in (0, 1, 2, 3, 4)]
    for at in started[1:]:
        subject.log.append_run(run(at))
    # The oldest run's file, unreadable: the three latest must not need it.
    subject.put(f"scan_runs/scanner_id=scn_1/{run(started[0])['run_id']}.parquet", b"not parquet")
    latest = subject.log.runs("scn_1", 3)
    assert [r["started_at"] for r in latest] == [at.isoformat() for at in reversed(started[2:])]
    assert len(subject.log.runs("scn_1", 4)) == 4
    with pytest.raises(Exception, match="run_"):
        subject.log.runs("scn_1", 5)
