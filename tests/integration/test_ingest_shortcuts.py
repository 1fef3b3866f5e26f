"""The shortcuts of a file ingestion (issue 13) give the answers the long way gave: a valid
Parquet file is numbered and coded without a window or a sort, the lake writes a batch that is
already in (symbol, ts) order without sorting it and each period with a plain COPY, and the
duplicate check skips its sort when the rows are in order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from trading_system.adapters.lake import ParquetLake
from trading_system.config import load_settings
from trading_system.market_data import bar_batch
from trading_system.market_data.bar_batch import BarColumns
from trading_system.market_data.commands import FileFormat
from trading_system.market_data.domain import BarLimits, Timeframe

US = 1_000_000
HOUR = 3_600 * US
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * US


def batch(symbols: tuple[str, ...], codes: list[int], ts_us: list[int]) -> BarColumns:
    n = len(codes)
    close = 100 + np.arange(n, dtype=np.float64)
    return BarColumns(
        row=np.arange(1, n + 1, dtype=np.int64),
        symbols=symbols,
        symbol_code=np.array(codes, dtype=np.int64),
        ts_us=np.array(ts_us, dtype=np.int64),
        ts_valid=np.ones(n, dtype=np.bool_),
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=np.full(n, 10.0),
    )


def stored(lake: ParquetLake, timeframe: Timeframe) -> dict[str, list[tuple[str, datetime, float]]]:
    """Each written file's rows in file order: (symbol, ts, close), by period."""
    out = {}
    for path in lake.committed_ingest_files(timeframe):
        rows = duckdb.execute(
            "SELECT symbol, ts, close FROM read_parquet($p) ORDER BY file_row_number",
            {"p": path},
        ).fetchall()
        out[path.rsplit("/", 2)[-2]] = rows
    return out


@pytest.fixture
def lake(tmp_path: Path) -> ParquetLake:
    return ParquetLake.from_settings(load_settings(data_dir=tmp_path))


def test_an_unsorted_batch_over_several_periods_is_written_sorted_one_file_per_period(
    lake: ParquetLake,
) -> None:
    # Symbols in the order the rows named them (as columns_from_rows keeps them): codes do not
    # follow the symbols' order, and the rows jump between months.
    jan, feb = T0, T0 + 31 * 24 * HOUR
    bars = batch(("ZZZ", "AAA"), [0, 1, 0, 1, 1], [feb, jan + HOUR, jan, feb, jan])
    written = lake.write(bars, Timeframe.H1, "0000000000000000001")
    assert (written.rows, written.files) == (5, 2)
    files = stored(lake, Timeframe.H1)
    jan_1, feb_1 = datetime(2024, 1, 1), datetime(2024, 2, 1)
    assert files["period=2024-01"] == [
        ("AAA", jan_1, 104.0),
        ("AAA", datetime(2024, 1, 1, 1), 101.0),
        ("ZZZ", jan_1, 102.0),
    ]
    assert files["period=2024-02"] == [("AAA", feb_1, 103.0), ("ZZZ", feb_1, 100.0)]


def test_a_sorted_batch_keeps_its_order_and_each_period_its_file(lake: ParquetLake) -> None:
    per_symbol = 24 * 70  # hourly bars over January, February and part of March
    ts = [T0 + i * HOUR for i in range(per_symbol)] * 3
    bars = batch(("AAA", "BBB", "CCC"), [c for c in range(3) for _ in range(per_symbol)], ts)
    written = lake.write(bars, Timeframe.H1, "0000000000000000002")
    assert (written.rows, written.files) == (3 * per_symbol, 3)
    files = stored(lake, Timeframe.H1)
    assert sorted(files) == ["period=2024-01", "period=2024-02", "period=2024-03"]
    for rows in files.values():
        assert rows == sorted(rows)
    assert sum(len(rows) for rows in files.values()) == 3 * per_symbol
    # Every bar reads back as written.
    for code, symbol in enumerate(bars.symbols):
        series = lake.bars(
            symbol,
            Timeframe.H1,
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2025, 1, 1, tzinfo=UTC),
            10_000,
            Timeframe.H1,
        )
        mine = bars.symbol_code == code
        assert series.ts_us.tolist() == bars.ts_us[mine].tolist()
        assert series.close.tolist() == bars.close[mine].tolist()


def write_parquet(path: Path, rows: str) -> str:
    duckdb.execute(f"COPY ({rows}) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 10000)")
    return str(path)


def test_a_valid_parquet_file_is_numbered_and_coded_in_file_order(lake: ParquetLake, tmp_path: Path) -> None:
    # Symbols out of order and over several row groups: codes index the sorted symbols.
    path = write_parquet(
        tmp_path / "bars.parquet",
        """SELECT ['MSFT', 'aapl ', 'IBM'][i % 3 + 1] AS symbol,
                  TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS ts,
                  100.0 + i AS open, 101.0 + i AS high, 99.0 + i AS low, 100.5 + i AS close,
                  1.0 * i AS volume
           FROM range(50000) t(i)""",
    )
    parsed = lake.read(path, FileFormat.PARQUET, Timeframe.M1, None)
    assert (parsed.problems, parsed.problem_count) == ([], 0)
    columns = parsed.columns
    assert columns.symbols == ("AAPL", "IBM", "MSFT")
    assert columns.row.tolist() == list(range(1, 50_001))
    expected_codes = [[2, 0, 1][i % 3] for i in range(50_000)]
    assert columns.symbol_code.tolist() == expected_codes
    assert columns.open.tolist() == [100.0 + i for i in range(50_000)]
    assert bool(columns.ts_valid.all())


def test_bad_cells_deep_in_a_parquet_file_name_their_rows(lake: ParquetLake, tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "bad.parquet",
        """SELECT CASE WHEN i = 41234 THEN NULL ELSE 'AAA' END AS symbol,
                  TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS ts,
                  CASE WHEN i = 30000 THEN 'NaN'::DOUBLE ELSE 1.0 END AS open,
                  2.0 AS high, 0.5 AS low, 1.5 AS close,
                  CASE WHEN i = 45000 THEN NULL ELSE 1.0 END AS volume
           FROM range(50000) t(i)""",
    )
    parsed = lake.read(path, FileFormat.PARQUET, Timeframe.M1, None)
    found = [(p.row, p.field, p.reason) for p in parsed.problems]
    assert found == [
        (30001, "open", "open is NaN, not a number"),
        (
            41235,
            "symbol",
            "symbol is missing: add a symbol column or name the symbol of the file",
        ),
        (45001, "volume", "volume is missing"),
    ]
    assert parsed.problem_count == 3
    assert not parsed.columns.ts_valid[41234] and parsed.columns.ts_valid[41233]


def write_csv(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(["symbol,ts,open,high,low,close,volume", *lines]) + "\n")
    return str(path)


GOOD_CSV_ROW = "AAA,2024-01-01T00:00:00Z,1,2,0.5,1.5,10"


@pytest.mark.parametrize(
    ("bad_row", "field", "reason"),
    [
        ("AA A,2024-01-01T00:02:00Z,1,2,0.5,1.5,10", "symbol", "symbol AA A is not a valid symbol"),
        (
            ",2024-01-01T00:02:00Z,1,2,0.5,1.5,10",
            "symbol",
            "symbol is missing: add a symbol column or name the symbol of the file",
        ),
        ("AAA,,1,2,0.5,1.5,10", "ts", "ts is missing"),
        (
            "AAA,someday,1,2,0.5,1.5,10",
            "ts",
            "ts is not a timestamp (use ISO 8601, a date, or epoch seconds/milliseconds)",
        ),
        ("AAA,2024-01-01T00:02:00Z,abc,2,0.5,1.5,10", "open", "open is not a number"),
        ("AAA,2024-01-01T00:02:00Z,1,NaN,0.5,1.5,10", "high", "high is NaN, not a number"),
        ("AAA,2024-01-01T00:02:00Z,1,2, ,1.5,10", "low", "low is missing"),
        ("AAA,2024-01-01T00:02:00Z,1,2,0.5,,10", "close", "close is missing"),
        ("AAA,2024-01-01T00:02:00Z,1,2,0.5,1.5,x", "volume", "volume is not a number"),
    ],
)
def test_a_single_unreadable_cell_is_found_on_its_own(
    lake: ParquetLake, tmp_path: Path, bad_row: str, field: str, reason: str
) -> None:
    # A valid file skips the query that names bad cells: one bad cell of each kind, alone in a
    # file, must still be found, by its row, field and reason.
    lines = [GOOD_CSV_ROW, "AAA,2024-01-01T00:01:00Z,1,2,0.5,1.5,10", bad_row]
    parsed = lake.read(write_csv(tmp_path / "one-bad.csv", lines), FileFormat.CSV, Timeframe.M1, None)
    assert [(p.row, p.field, p.reason) for p in parsed.problems] == [(3, field, reason)]
    assert parsed.problem_count == 1


def test_a_typed_cell_read_but_not_a_number_is_left_to_the_bar_checks(
    lake: ParquetLake, tmp_path: Path
) -> None:
    # A Parquet number column holding an infinity was read: no cell problem, and the bar checks
    # that follow refuse the bar. The screen that skips the cell query lets it through alike.
    path = write_parquet(
        tmp_path / "inf.parquet",
        """SELECT 'AAA' AS symbol, TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS ts,
                  CASE WHEN i = 1 THEN 'Infinity'::DOUBLE ELSE 2.0 END AS open,
                  2.0 AS high, 0.5 AS low, 1.5 AS close, 1.0 AS volume
           FROM range(3) t(i)""",
    )
    parsed = lake.read(path, FileFormat.PARQUET, Timeframe.M1, None)
    assert (parsed.problems, parsed.problem_count) == ([], 0)
    problems, _ = bar_batch.find_problems(
        parsed.columns, Timeframe.M1, {"AAA"}, BarLimits(), datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert {p.row for p in problems} == {2}


def test_the_ingest_id_reads_back_as_text_with_its_own_statistics(lake: ParquetLake) -> None:
    bars = batch(("AAA", "BBB"), [0, 0, 1], [T0, T0 + HOUR, T0])
    lake.write(bars, Timeframe.H1, "0000000000000000003")
    [path] = lake.committed_ingest_files(Timeframe.H1)
    kinds = dict(
        duckdb.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet($p))", {"p": path}
        ).fetchall()
    )
    assert kinds["ingest_id"] == "VARCHAR" and kinds["symbol"] == "VARCHAR"
    stats = duckdb.execute(
        "SELECT path_in_schema, stats_min_value, stats_max_value FROM parquet_metadata($p) "
        "WHERE path_in_schema IN ('ingest_id', 'symbol') ORDER BY 1",
        {"p": path},
    ).fetchall()
    assert stats == [("ingest_id", "0000000000000000003", "0000000000000000003"), ("symbol", "AAA", "BBB")]


@pytest.mark.parametrize(
    ("codes", "ts", "duplicate_rows"),
    [
        ([0, 0, 1, 1], [0, 60, 0, 60], []),  # in (symbol, ts) order: the sort is skipped
        ([0, 0, 0, 1], [0, 60, 60, 0], [3]),  # in order but for a repeat
        ([1, 0, 1, 0], [0, 0, 0, 60], [3]),  # out of order: found by the sort
    ],
)
def test_duplicates_are_found_whether_or_not_the_rows_are_in_order(
    codes: list[int], ts: list[int], duplicate_rows: list[int]
) -> None:
    bars = batch(("AAA", "BBB"), codes, [T0 + s * US for s in ts])
    problems, _ = bar_batch.find_problems(
        bars, Timeframe.M1, {"AAA", "BBB"}, BarLimits(), datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert [p.row for p in problems if "duplicate" in p.reason] == duplicate_rows


def test_files_with_bad_cells_parsed_at_once_on_one_lake_all_name_them(
    lake: ParquetLake, tmp_path: Path
) -> None:
    # Uploads are parsed in a server's thread pool, each on its own cursor of the lake's
    # connection. The query naming bad cells once used a window that DuckDB failed on now and
    # then under such concurrency, invalidating the database for the whole process.
    path = write_csv(tmp_path / "nan.csv", [GOOD_CSV_ROW, "AAA,2024-01-01T00:01:00Z,1,2,0.5,1.5,nan"])
    failures: list[str] = []

    def parse_many() -> None:
        for _ in range(300):
            parsed = lake.read(path, FileFormat.CSV, Timeframe.M1, None)
            if parsed.problem_count != 1:
                failures.append(repr(parsed.problems))

    def guarded() -> None:
        try:
            parse_many()
        except Exception as error:  # what the thread saw, reported by the test
            failures.append(str(error)[:200])

    threads = [threading.Thread(target=guarded) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
