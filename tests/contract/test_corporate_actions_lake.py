"""Corporate actions beside the bars in the lake, locally and on S3 (moto's server): stored and
listed newest-record-wins, and bars read split-adjusted in the lake's one query, matching the
domain's reference adjustment bar for bar (raw reads unchanged)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.aws_fixtures import boto_client, unique_name
from trading_system.adapters.lake import ParquetLake
from trading_system.config import load_settings
from trading_system.kernel.clock import sortable_id
from trading_system.market_data.bar_batch import BarColumns, BarSeries
from trading_system.market_data.domain import (
    ActionKind,
    Adjustment,
    Bar,
    CorporateAction,
    SessionWindows,
    Timeframe,
    split_adjusted,
)

T0 = datetime(2024, 6, 3, tzinfo=UTC)
US = 1_000_000
FAR = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ParquetLake]:
    if request.param == "local":
        yield ParquetLake.from_settings(load_settings(data_dir=tmp_path))
        return
    url = request.getfixturevalue("moto_url")
    bucket = unique_name("lake")
    boto_client("s3", url).create_bucket(Bucket=bucket)
    settings = load_settings(data_dir=tmp_path, lake_root=f"s3://{bucket}/data", aws_endpoint_url=url)
    yield ParquetLake.from_settings(settings)


def write_bars(lake: ParquetLake, symbol: str, closes: list[float], step: timedelta, tf: Timeframe) -> None:
    n = len(closes)
    close = np.array(closes, dtype=np.float64)
    lake.write(
        BarColumns(
            row=np.arange(1, n + 1, dtype=np.int64),
            symbols=(symbol,),
            symbol_code=np.zeros(n, dtype=np.int64),
            ts_us=int(T0.timestamp()) * US + np.arange(n, dtype=np.int64) * int(step.total_seconds()) * US,
            ts_valid=np.ones(n, dtype=np.bool_),
            open=close.copy(),
            high=close + 4,
            low=close - 4,
            close=close,
            volume=np.full(n, 1_000.0),
        ),
        tf,
        sortable_id(),
    )


def split(symbol: str, ex_date: date, new: str, old: str = "1") -> CorporateAction:
    return CorporateAction(
        symbol=symbol, kind=ActionKind.SPLIT, ex_date=ex_date, new_rate=Decimal(new), old_rate=Decimal(old)
    )


def as_bars(series: BarSeries) -> list[Bar]:
    return [Bar.model_validate(r) for r in series.records()]


def test_a_4_for_1_split_adjusts_the_bars_before_its_ex_date_only(lake: ParquetLake) -> None:
    # Six daily bars 2024-06-03..08 at 400 then 100 from the ex-date 2024-06-06 on.
    write_bars(lake, "NVDA", [400, 404, 408, 102, 103, 104], timedelta(days=1), Timeframe.D1)
    lake.write_corporate_actions("NVDA", [split("NVDA", date(2024, 6, 6), "4")], sortable_id())
    raw = lake.bars("NVDA", Timeframe.D1, T0, FAR, 100, Timeframe.D1)
    adjusted = lake.bars("NVDA", Timeframe.D1, T0, FAR, 100, Timeframe.D1, adjustment=Adjustment.SPLIT)
    assert raw.close.tolist() == [400, 404, 408, 102, 103, 104]
    assert adjusted.close.tolist() == [100, 101, 102, 102, 103, 104]
    assert adjusted.high.tolist() == [101, 102, 103, 106, 107, 108]
    assert adjusted.volume.tolist() == [4_000, 4_000, 4_000, 1_000, 1_000, 1_000]


def test_successive_splits_compose_and_match_the_domain_reference(lake: ParquetLake) -> None:
    closes = [600.0, 612.0, 306.0, 300.0, 100.0, 101.0, 1010.0]
    write_bars(lake, "ACME", closes, timedelta(days=1), Timeframe.D1)
    actions = [
        split("ACME", date(2024, 6, 5), "2"),  # 2-for-1
        split("ACME", date(2024, 6, 7), "3"),  # then 3-for-1
        split("ACME", date(2024, 6, 9), "1", "10"),  # then a 1-for-10 reverse split
        CorporateAction(
            symbol="ACME",
            kind=ActionKind.CASH_DIVIDEND,
            ex_date=date(2024, 6, 4),
            amount=Decimal("0.25"),
            currency="USD",
        ),
    ]
    lake.write_corporate_actions("ACME", actions, sortable_id())
    raw = lake.bars("ACME", Timeframe.D1, T0, FAR, 100, Timeframe.D1)
    adjusted = lake.bars("ACME", Timeframe.D1, T0, FAR, 100, Timeframe.D1, adjustment=Adjustment.SPLIT)
    expected = [split_adjusted(bar, actions) for bar in as_bars(raw)]
    got = as_bars(adjusted)
    assert [b.ts for b in got] == [b.ts for b in expected]
    for field in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(
            [getattr(b, field) for b in got], [getattr(b, field) for b in expected], rtol=1e-12
        )
    # By hand: the first bar is before all three splits (x2 x3 /10 = 0.6): 600 / 0.6 = 1000.
    assert adjusted.close[0] == pytest.approx(1000)
    assert adjusted.volume[0] == pytest.approx(600)


def test_the_adjustment_comes_before_resampling(lake: ParquetLake) -> None:
    # Hourly bars across midnight of the ex-date, resampled to days: each day is continuous.
    closes = [400.0] * 24 + [100.0] * 24
    write_bars(lake, "SPLT", closes, timedelta(hours=1), Timeframe.H1)
    lake.write_corporate_actions("SPLT", [split("SPLT", date(2024, 6, 4), "4")], sortable_id())
    days = lake.bars("SPLT", Timeframe.D1, T0, FAR, 100, Timeframe.H1, adjustment=Adjustment.SPLIT)
    assert days.close.tolist() == [100, 100]
    assert days.high.tolist() == [101, 104]
    assert days.volume.tolist() == [24 * 4_000, 24 * 1_000]
    sessions = SessionWindows(
        (T0, T0 + timedelta(days=1)), (T0, T0 + timedelta(days=1)), (T0 + timedelta(days=1), FAR)
    )
    followed = lake.bars(
        "SPLT", Timeframe.D1, T0, FAR, 100, Timeframe.H1, sessions, adjustment=Adjustment.SPLIT
    )
    assert followed.close.tolist() == [100, 100]


def test_re_recording_an_action_replaces_it_and_listing_reads_the_newest(lake: ParquetLake) -> None:
    write_bars(lake, "FIX", [300.0, 100.0], timedelta(days=1), Timeframe.D1)
    assert lake.corporate_actions("FIX") == []
    lake.write_corporate_actions("FIX", [split("FIX", date(2024, 6, 4), "2")], sortable_id())
    lake.write_corporate_actions("FIX", [split("FIX", date(2024, 6, 4), "3")], sortable_id())  # a fix
    listed = lake.corporate_actions("FIX")
    assert listed == [split("FIX", date(2024, 6, 4), "3")]
    assert listed[0].ratio == 3
    adjusted = lake.bars("FIX", Timeframe.D1, T0, FAR, 100, Timeframe.D1, adjustment=Adjustment.SPLIT)
    assert adjusted.close.tolist() == [100, 100]


def test_a_symbol_without_splits_reads_the_same_either_way(lake: ParquetLake) -> None:
    write_bars(lake, "PLAIN", [10.0, 11.0, 12.0], timedelta(days=1), Timeframe.D1)
    write_bars(lake, "OTHER", [400.0, 100.0, 100.0], timedelta(days=1), Timeframe.D1)
    lake.write_corporate_actions("OTHER", [split("OTHER", date(2024, 6, 4), "4")], sortable_id())
    raw = lake.bars("PLAIN", Timeframe.D1, T0, FAR, 100, Timeframe.D1)
    adjusted = lake.bars("PLAIN", Timeframe.D1, T0, FAR, 100, Timeframe.D1, adjustment=Adjustment.SPLIT)
    assert adjusted.close.tolist() == raw.close.tolist() == [10, 11, 12]
    # A dividend alone leaves prices as they are too.
    cash = CorporateAction(
        symbol="PLAIN",
        kind=ActionKind.CASH_DIVIDEND,
        ex_date=date(2024, 6, 4),
        amount=Decimal(1),
        currency="USD",
    )
    lake.write_corporate_actions("PLAIN", [cash], sortable_id())
    with_dividend = lake.bars("PLAIN", Timeframe.D1, T0, FAR, 100, Timeframe.D1, adjustment=Adjustment.SPLIT)
    assert with_dividend.close.tolist() == [10, 11, 12] and with_dividend.volume.tolist() == [1_000] * 3
