"""The lake resamples along exchange sessions (issue 11, part 2), the same in a local folder and
on S3: hourly buckets from the open, daily buckets per session, minutes outside sessions dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.contract.test_bar_lake import LakeUnderTest, columns, of_symbol, subject, tamper
from trading_system.market_data.domain import EPOCH, FOREVER, Listing, SessionWindows, Timeframe

__all__ = ["subject"]  # the lake fixture, local and S3

US = 1_000_000
# Around the autumn DST change: Friday 2024-11-01 opens 13:30 UTC, Monday 2024-11-04 14:30 UTC.
START = datetime(2024, 11, 1, tzinfo=UTC)
LISTING = Listing(symbol="AAA", exchange="NYSE", registered_at=START)


def reference(
    bars: dict[str, np.ndarray], sessions: SessionWindows, seconds: int | None
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("ts_us", "open", "high", "low", "close", "volume")}
    for day, opens, closes in zip(sessions.days, sessions.opens, sessions.closes, strict=True):
        lo, hi = int(opens.timestamp()) * US, int(closes.timestamp()) * US
        inside = (bars["ts_us"] >= lo) & (bars["ts_us"] < hi)
        key = (
            np.full(inside.sum(), int(day.timestamp()) * US)
            if seconds is None
            else (lo + (bars["ts_us"][inside] - lo) // (seconds * US) * (seconds * US))
        )
        for bucket in np.unique(key):
            members = {k: v[inside][key == bucket] for k, v in bars.items()}
            out["ts_us"].append(int(bucket))
            out["open"].append(members["open"][0])
            out["high"].append(members["high"].max())
            out["low"].append(members["low"].min())
            out["close"].append(members["close"][-1])
            out["volume"].append(members["volume"].sum())
    return out


@pytest.mark.parametrize(
    ("timeframe", "seconds"), [(Timeframe.H1, 3600), (Timeframe.D1, None), (Timeframe.M15, 900)]
)
def test_resampling_follows_the_sessions(
    subject: LakeUnderTest, timeframe: Timeframe, seconds: int | None
) -> None:
    # Four days of round-the-clock minutes: the weekend and the hours outside sessions drop out.
    batch = columns(["AAA"], 4 * 1440, timedelta(minutes=1), start=START)
    subject.lake.write(batch, Timeframe.M1, "0001")
    sessions = LISTING.sessions_to_follow(timeframe, EPOCH, FOREVER)
    assert sessions is not None
    assert len(sessions.opens) > 11_000  # an open range follows the whole table
    window = LISTING.sessions_to_follow(timeframe, START, START + timedelta(days=4))
    assert window is not None
    assert [d.date().isoformat() for d in window.days] == ["2024-10-31", "2024-11-01", "2024-11-04"]
    got = subject.lake.bars("AAA", timeframe, START, START + timedelta(days=4), 10**6, Timeframe.M1, window)
    expected = reference(of_symbol(batch, "AAA"), window, seconds)
    assert list(got.ts_us) == expected["ts_us"]
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(got, name), expected[name], rtol=1e-12, err_msg=name)
    if timeframe is Timeframe.H1:
        first = [datetime.fromtimestamp(t / US, UTC).strftime("%m-%d %H:%M") for t in got.ts_us[:8]]
        assert first == [f"11-01 {h}:30" for h in range(13, 20)] + ["11-04 14:30"]
    # A range outside the calendar follows no session and reads nothing.
    empty = SessionWindows((), (), ())
    assert (
        len(subject.lake.bars("AAA", timeframe, START, START + timedelta(days=4), 10, Timeframe.M1, empty))
        == 0
    )


def test_hourly_session_bars_resample_to_session_days(subject: LakeUnderTest) -> None:
    # Hourly bars on the :30 grid round the clock (the hours outside sessions must drop out):
    # no coarser grid holds whole hourly bars, so each bar is matched to its session directly.
    start = datetime(2024, 11, 1, 0, 30, tzinfo=UTC)
    batch = columns(["AAA"], 4 * 24, timedelta(hours=1), start=start)
    subject.lake.write(batch, Timeframe.H1, "0001")
    window = LISTING.sessions_to_follow(Timeframe.D1, START, START + timedelta(days=4))
    assert window is not None
    got = subject.lake.bars("AAA", Timeframe.D1, START, START + timedelta(days=4), 100, Timeframe.H1, window)
    bars = of_symbol(batch, "AAA")
    expected = reference(bars, window, None)
    assert [datetime.fromtimestamp(t / US, UTC).date().isoformat() for t in got.ts_us] == [
        "2024-11-01",
        "2024-11-04",
    ]
    assert list(got.ts_us) == expected["ts_us"]
    np.testing.assert_allclose(got.volume, expected["volume"], rtol=1e-12)
    np.testing.assert_allclose(got.open, expected["open"], rtol=1e-12)
    np.testing.assert_allclose(got.close, expected["close"], rtol=1e-12)
    # Friday's session is 13:30-20:00 UTC: the bars of 13:30 .. 19:30, seven of them.
    friday = (bars["ts_us"] >= int(datetime(2024, 11, 1, 13, 30, tzinfo=UTC).timestamp()) * US) & (
        bars["ts_us"] < int(datetime(2024, 11, 1, 20, tzinfo=UTC).timestamp()) * US
    )
    assert friday.sum() == 7
    assert got.volume[0] == pytest.approx(bars["volume"][friday].sum())


@pytest.mark.parametrize(("timeframe", "seconds"), [(Timeframe.H1, 3600), (Timeframe.D1, None)])
def test_session_reads_of_compacted_months_answer_from_their_15m_rollups(
    subject: LakeUnderTest, timeframe: Timeframe, seconds: int | None
) -> None:
    """New York's opens and closes lie on a 30-minute grid, which 15-minute rollups fit: a
    session read takes a whole month from them (a fifteenth of the 1m bars), and the same answer."""
    lake = subject.lake
    start, end = datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 12, 1, tzinfo=UTC)
    batch = columns(["AAA"], 61 * 1440, timedelta(minutes=1), start=start)  # October and November
    lake.write(batch, Timeframe.M1, "0001")
    lake.compact(Timeframe.M1)
    window = LISTING.sessions_to_follow(timeframe, start, end)
    assert window is not None
    expected = reference(of_symbol(batch, "AAA"), window, seconds)
    got = lake.bars("AAA", timeframe, start, end, 10**6, Timeframe.M1, window)
    assert list(got.ts_us) == expected["ts_us"] and len(got) > 40
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(got, name), expected[name], rtol=1e-12, err_msg=name)
    first_five = lake.bars("AAA", timeframe, start, end, 5, Timeframe.M1, window)  # the limit: buckets
    for name in ("ts_us", "open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(first_five, name), expected[name][:5], rtol=1e-12, err_msg=name)
    # Which file answered: October's rollup, made to show it, for a read holding all of October.
    tamper(lake, "2024-10", Timeframe.M15)
    october = np.array(expected["ts_us"]) < int(datetime(2024, 11, 1, tzinfo=UTC).timestamp()) * US
    got = lake.bars("AAA", timeframe, start, end, 10**6, Timeframe.M1, window)
    np.testing.assert_allclose(got.close, np.array(expected["close"]) + np.where(october, 1000, 0))
    # October an edge of the read: its rollup still answers when the edge lies on the rollup's grid
    # (the buckets in range), and the bars do when it does not.
    for later, rolled in (
        (datetime(2024, 10, 2, tzinfo=UTC), True),
        (datetime(2024, 10, 2, 0, 5, tzinfo=UTC), False),
    ):
        window = LISTING.sessions_to_follow(timeframe, later, end)
        assert window is not None
        read = lake.bars("AAA", timeframe, later, end, 10**6, Timeframe.M1, window)
        assert (float(read.close.max()) > 1000) is rolled
