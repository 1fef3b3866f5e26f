"""GET /v1/bars writes its bars from the columns: the bytes must be those orjson writes for
`BarSeries.records()` (the `Bar` objects of the API contract), whatever the values."""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_system.entrypoints.http.market_data_queries import _bars_json
from trading_system.market_data.bar_batch import BarSeries

US = 1_000_000
# From before 1970 to the last second of 9999, on whole seconds (bars start on whole minutes).
moments = st.integers(-(10**10), 253_402_300_799).map(lambda s: s * US)
prices = st.floats(allow_nan=True, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1e16, 1e-7, 119.99])


def series(ts: list[int], values: list[list[float]]) -> BarSeries:
    columns = [np.array(column, dtype=np.float64) for column in values]
    return BarSeries(np.array(ts, dtype=np.int64), *columns)


def expected(bars: BarSeries) -> bytes:
    return orjson.dumps(bars.records())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_json_is_byte_for_byte_what_records_give(data: st.DataObject) -> None:
    ts = data.draw(st.lists(moments, max_size=40))
    values = [data.draw(st.lists(prices, min_size=len(ts), max_size=len(ts))) for _ in range(5)]
    bars = series(ts, values)
    assert _bars_json(bars) == expected(bars)


def test_empty_and_a_page_of_hourly_bars() -> None:
    assert _bars_json(series([], [[]] * 5)) == b"[]"
    hours = [1_704_067_200 * US + h * 3_600 * US for h in range(17_520)]
    rng = np.random.default_rng(1)
    bars = series(hours, [list(np.round(rng.uniform(1, 500, 17_520), 2)) for _ in range(5)])
    body = _bars_json(bars)
    assert body == expected(bars)
    assert orjson.loads(body)[25] == {
        "ts": "2024-01-02T01:00:00Z",
        "open": bars.open[25],
        "high": bars.high[25],
        "low": bars.low[25],
        "close": bars.close[25],
        "volume": bars.volume[25],
    }
