"""Uploaded bar files (CSV, Parquet) parsed into columns with DuckDB, every cell it cannot read
reported as a problem of its row, so a file is refused whole with the reasons."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from trading_system.adapters import duck
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.bar_batch import MAX_PROBLEMS, BarColumns, ParsedBars
from trading_system.market_data.commands import FileFormat
from trading_system.market_data.domain import SYMBOL_RULE, Timeframe

# What a first column without a name is called once read: DuckDB names an empty CSV header cell
# column0 (pandas writes one for its index), and pandas stores an unnamed index in Parquet as
# __index_level_0__.
UNNAMED_FIRST_COLUMNS = ("column0", "__index_level_0__")
UNNAMED = "unnamed first column"


class BarFileParser:
    """Reads a CSV or Parquet file into columns, reporting every cell it cannot parse."""

    TS_NAMES = ("ts", "timestamp", "time", "date", "datetime", "open_time")
    SYMBOL_NAMES = ("symbol", "ticker")
    NUMBERS = ("open", "high", "low", "close", "volume")

    def __init__(
        self,
        cur: duckdb.DuckDBPyConnection,
        path: str,
        fmt: FileFormat,
        timeframe: Timeframe,
        default_symbol: str | None,
    ):
        self.cur, self.path, self.fmt = cur, path, fmt
        self.timeframe, self.default_symbol = timeframe, default_symbol

    def parse(self) -> ParsedBars:
        self._load()
        described = self._describe()
        columns = {name.strip().lower(): (name, kind) for name, kind in described}
        ts_col = next((columns[n] for n in self.TS_NAMES if n in columns), None)
        symbol_col = next((columns[n] for n in self.SYMBOL_NAMES if n in columns), None)
        unnamed = described[0] if described and described[0][0] in UNNAMED_FIRST_COLUMNS else None
        not_timestamps = None
        if ts_col is None and unnamed is not None:
            not_timestamps = self._first_non_timestamp(*unnamed)
            ts_col = unnamed if not_timestamps is None else None
        missing = [n for n in self.NUMBERS if n not in columns]
        if ts_col is None:
            missing.insert(0, "ts")
        if missing:
            names = [name for name, _ in described]
            if unnamed is not None:
                names[0] = f"({UNNAMED})"
            found = ", ".join(names) or "none"
            hint = ""
            if unnamed is not None and "ts" in missing:
                why = f"holds {not_timestamps!r}, not a timestamp" if not_timestamps else "is empty"
                hint = f"; the {UNNAMED} {why}: if it is meant to be the timestamps, fix it and name it ts"
            problems = [
                Problem(f"missing column (found: {found}{hint if m == 'ts' else ''})", field=m)
                for m in missing
            ]
            raise ValidationFailed(
                f"the file lacks the column(s) {', '.join(missing)}; found: {found}{hint}", problems
            )
        assert ts_col is not None
        selects = [
            "row_number() OVER () AS row",
            f"{self._symbol_expr(symbol_col)} AS symbol",
            f"{duck.identifier(ts_col[0])} AS raw_ts",
            f"{self._ts_expr(*ts_col)} AS ts",
        ]
        self.kinds = {n: columns[n][1] for n in self.NUMBERS} | {"ts": ts_col[1]}
        for n in self.NUMBERS:
            name, kind = columns[n]
            selects.append(f"{duck.identifier(name)} AS raw_{n}")
            selects.append(f"{self._number_expr(name, kind)} AS {n}")
        self.cur.execute(
            f"CREATE TEMP TABLE parsed AS SELECT {', '.join(selects)} FROM raw",
            {"default_symbol": self.default_symbol},
        )
        problems, count = self._problems(symbol_col is not None)
        return ParsedBars(self._columns(), problems, count)

    def _load(self) -> None:
        reader = (
            "read_csv($path, header = true, all_varchar = true)"
            if self.fmt is FileFormat.CSV
            else "read_parquet($path)"
        )
        try:
            if self.fmt is FileFormat.CSV:  # parsed once into a table
                self.cur.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM {reader}", {"path": self.path})
            else:  # Parquet is cheap to scan again: a view (views take no parameters)
                self.cur.execute(f"SELECT * FROM {reader} LIMIT 0", {"path": self.path})  # fails early
                literal = self.path.replace("'", "''")
                self.cur.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM read_parquet('{literal}')")
        except duckdb.Error as error:
            if self.fmt is FileFormat.CSV and _is_empty(self.path):
                raise ValidationFailed("the file is empty", [Problem("the file is empty")]) from None
            message = str(error).split("\n")[0]
            raise ValidationFailed(
                f"could not read the file as {self.fmt.value}: {message}",
                [Problem(f"not a readable {self.fmt.value} file: {message}")],
            ) from None

    def _describe(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.cur.execute("DESCRIBE raw").fetchall()]

    def _first_non_timestamp(self, name: str, kind: str) -> str | None:
        """The first filled cell of the column that is not a timestamp, or None when every filled
        cell is one (and at least one is filled)."""
        col = duck.identifier(name)
        filled = f"{col} IS NOT NULL" + (f" AND trim({col}) <> ''" if kind == "VARCHAR" else "")
        first_bad, parsed = self.cur.execute(
            f"SELECT first(CAST({col} AS VARCHAR)) FILTER (WHERE {self._ts_expr(name, kind)} IS NULL), "
            f"count(*) FROM raw WHERE {filled}"
        ).fetchone() or (None, 0)
        if parsed == 0:
            return ""
        return None if first_bad is None else str(first_bad)

    def _symbol_expr(self, column: tuple[str, str] | None) -> str:
        given = f"upper(trim(CAST({duck.identifier(column[0])} AS VARCHAR)))" if column else "NULL"
        return f"coalesce(nullif({given}, ''), upper(trim($default_symbol)))"

    def _number_expr(self, name: str, kind: str) -> str:
        if kind == "VARCHAR":
            return f"TRY_CAST(trim({duck.identifier(name)}) AS DOUBLE)"
        return f"TRY_CAST({duck.identifier(name)} AS DOUBLE)"

    def _ts_expr(self, name: str, kind: str) -> str:
        col = duck.identifier(name)
        if kind.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"CAST({col} AS TIMESTAMP)"
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            return f"CAST({col} AS TIMESTAMP)"
        if kind in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "DOUBLE"):
            return _epoch_expr(f"CAST({col} AS BIGINT)")
        text = f"trim(CAST({col} AS VARCHAR))"
        daily_date = (
            f"WHEN regexp_full_match({text}, "
            r"'\d{4}-\d{2}-\d{2}([ T]00:00(:00(\.0+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?') "
            f"THEN CAST(CAST(left({text}, 10) AS DATE) AS TIMESTAMP) "
            if self.timeframe is Timeframe.D1
            else ""
        )
        return (
            f"CASE WHEN regexp_full_match({text}, '\\d{{9,13}}') "
            f"THEN {_epoch_expr(f'CAST({text} AS BIGINT)')} "
            f"{daily_date}"
            f"ELSE CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) END"
        )

    def _problems(self, has_symbol_column: bool) -> tuple[list[Problem], int]:
        text_ts = self.kinds.get("ts") == "VARCHAR"
        checks = [
            (
                "symbol IS NULL",
                "'symbol'",
                "'symbol is missing: add a symbol column or name the symbol of the file'"
                if has_symbol_column
                else "'the file has no symbol column: name the symbol of the file (--symbol / symbol=)'",
                "NULL",
            ),
            (
                f"NOT regexp_full_match(symbol, '{SYMBOL_RULE}')",
                "'symbol'",
                "'symbol ' || symbol || ' is not a valid symbol'",
                "symbol",
            ),
            (
                "raw_ts IS NULL OR trim(raw_ts) = ''" if text_ts else "raw_ts IS NULL",
                "'ts'",
                "'ts is missing'",
                "NULL",
            ),
            (
                ("raw_ts IS NOT NULL AND trim(raw_ts) <> '' AND ts IS NULL")
                if text_ts
                else "raw_ts IS NOT NULL AND ts IS NULL",
                "'ts'",
                "'ts is not a timestamp (use ISO 8601, a date, or epoch seconds/milliseconds)'",
                "CAST(raw_ts AS VARCHAR)",
            ),
        ]
        for n in self.NUMBERS:
            raw = f"raw_{n}"
            # NaN is a double but not a number a bar can have (text 'NaN' reads as one too).
            nan = f"'{n} is NaN, not a number'"
            checks.append((f"{n} IS NOT NULL AND isnan({n})", f"'{n}'", nan, "NULL"))
            if self.kinds.get(n) != "VARCHAR":
                # A typed column (Parquet) has no text to misread: a value is there or not.
                checks.append((f"{raw} IS NULL", f"'{n}'", f"'{n} is missing'", "NULL"))
                continue
            checks.append((f"{raw} IS NULL OR trim({raw}) = ''", f"'{n}'", f"'{n} is missing'", "NULL"))
            checks.append(
                (
                    f"{raw} IS NOT NULL AND trim({raw}) <> '' AND {n} IS NULL",
                    f"'{n}'",
                    f"'{n} is not a number'",
                    raw,
                )
            )
        union = " UNION ALL ".join(
            f"SELECT row, {field} AS field, {reason} AS reason, {value} AS value FROM parsed WHERE {cond}"
            for cond, field, reason, value in checks
        )
        rows = self.cur.execute(
            f"SELECT row, field, reason, value, count(*) OVER () FROM ({union}) "
            f"ORDER BY row, field LIMIT {MAX_PROBLEMS}"
        ).fetchall()
        problems = [
            Problem(reason, field=field, row=int(row), value=value) for row, field, reason, value, _ in rows
        ]
        return problems, int(rows[0][4]) if rows else 0

    def _columns(self) -> BarColumns:
        symbols = tuple(
            s
            for (s,) in self.cur.execute(
                "SELECT DISTINCT symbol FROM parsed WHERE symbol IS NOT NULL ORDER BY symbol"
            ).fetchall()
        )
        data = self.cur.execute(
            """
            SELECT row,
                   CASE WHEN symbol IS NULL THEN 0
                        ELSE dense_rank() OVER (ORDER BY symbol) - 1 END AS code,
                   coalesce(epoch_us(ts), 0) AS ts_us,
                   ts IS NOT NULL AND symbol IS NOT NULL AS ts_valid,
                   coalesce(open, 'NaN'::DOUBLE) AS open, coalesce(high, 'NaN'::DOUBLE) AS high,
                   coalesce(low, 'NaN'::DOUBLE) AS low, coalesce(close, 'NaN'::DOUBLE) AS close,
                   coalesce(volume, 'NaN'::DOUBLE) AS volume
            FROM parsed ORDER BY row
            """
        ).fetchnumpy()
        return BarColumns(
            row=duck.contiguous(data["row"], np.int64),
            symbols=symbols,
            symbol_code=duck.contiguous(data["code"], np.int64),
            ts_us=duck.contiguous(data["ts_us"], np.int64),
            ts_valid=duck.contiguous(data["ts_valid"], np.bool_),
            open=duck.contiguous(data["open"], np.float64),
            high=duck.contiguous(data["high"], np.float64),
            low=duck.contiguous(data["low"], np.float64),
            close=duck.contiguous(data["close"], np.float64),
            volume=duck.contiguous(data["volume"], np.float64),
        )


def _epoch_expr(number: str) -> str:
    """Epoch seconds, or milliseconds when too large to be seconds (after 5138 AD)."""
    return (
        f"make_timestamp(CASE WHEN {number} >= 100000000000 THEN {number} * 1000 ELSE {number} * 1000000 END)"
    )


def _is_empty(path: str) -> bool:
    try:
        return not path.startswith("s3://") and Path(path).stat().st_size == 0
    except OSError:
        return False
