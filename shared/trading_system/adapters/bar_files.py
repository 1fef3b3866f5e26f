"""Uploaded bar files (CSV, Parquet) parsed into columns with DuckDB, every cell it cannot read
reported as a problem of its row, so a file is refused whole with the reasons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
_SYMBOL_RULE_BROKEN = f"NOT regexp_full_match(symbol, '{SYMBOL_RULE}')"


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
            f"{self._symbol_expr(symbol_col)} AS symbol",
            f"{duck.identifier(ts_col[0])} AS raw_ts",
            f"{self._ts_expr(*ts_col)} AS ts",
        ]
        self.kinds = {n: columns[n][1] for n in self.NUMBERS} | {"ts": ts_col[1]}
        for n in self.NUMBERS:
            name, kind = columns[n]
            selects.append(f"{duck.identifier(name)} AS raw_{n}")
            selects.append(f"{self._number_expr(name, kind)} AS {n}")
        self._create_parsed(", ".join(selects), columns)
        symbols, symbols_broken = self._symbols()
        parsed = self._columns(symbols)
        if not symbols_broken and not _may_hold_unreadable_cells(parsed):
            return ParsedBars(parsed, [], 0)
        problems, count = self._problems(symbol_col is not None)
        return ParsedBars(parsed, problems, count)

    def _create_parsed(self, selects: str, columns: dict[str, tuple[str, str]]) -> None:
        """`parsed`: every row numbered as the user counts them (1 = the first data row), its cells
        parsed. A Parquet file is cheap to scan again, so it stays a view numbered by the reader's
        file_row_number (parallel, unlike a window); a CSV file is parsed once into a table."""
        if self.fmt is FileFormat.PARQUET and "file_row_number" not in columns:
            literal = duck.literal(self.path)
            self.cur.execute(
                f"CREATE TEMP VIEW parsed AS SELECT file_row_number + 1 AS row, {selects} "
                f"FROM read_parquet('{literal}', file_row_number = true)"
            )
        else:
            self.cur.execute(
                f"CREATE TEMP TABLE parsed AS SELECT row_number() OVER () AS row, {selects} FROM raw"
            )

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
        # A literal, not a parameter: `parsed` may be a view, and views take no parameters.
        default = "NULL" if self.default_symbol is None else f"'{duck.literal(self.default_symbol)}'"
        return f"coalesce(nullif({given}, ''), upper(trim(CAST({default} AS VARCHAR))))"

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

    def _symbols(self) -> tuple[tuple[str, ...], bool]:
        """The file's symbols, sorted, and whether any of them breaks the symbol rule. Reads the
        symbol column alone; the rule, a regular expression, is matched once per distinct symbol."""
        found = self.cur.execute(
            f"""
            SELECT symbols, coalesce(len(list_filter(symbols, lambda symbol: {_SYMBOL_RULE_BROKEN})), 0) > 0
            FROM (
                SELECT list(DISTINCT symbol ORDER BY symbol) FILTER (WHERE symbol IS NOT NULL) AS symbols
                FROM parsed
            )
            """
        ).fetchone()
        assert found is not None
        return tuple(found[0] or ()), bool(found[1])

    def _problems(self, has_symbol_column: bool) -> tuple[list[Problem], int]:
        """The cells that could not be read: the first MAX_PROBLEMS, and how many in all."""
        checks = self._checks(has_symbol_column)
        union = " UNION ALL ".join(
            f"SELECT row, {field} AS field, {reason} AS reason, {value} AS value FROM parsed WHERE {cond}"
            for cond, field, reason, value in checks
        )
        # The total from a scalar subquery, not `count(*) OVER ()`: DuckDB 1.5.5's window failed
        # now and then with several cursors at work ("Attempted to access index 0 within vector
        # of size 0"), a fatal error that invalidates the whole database for the process.
        rows = self.cur.execute(
            f"WITH problems AS ({union}) "
            "SELECT row, field, reason, value, (SELECT count(*) FROM problems) FROM problems "
            f"ORDER BY row, field LIMIT {MAX_PROBLEMS}"
        ).fetchall()
        problems = [
            Problem(reason, field=field, row=int(row), value=value) for row, field, reason, value, _ in rows
        ]
        return problems, int(rows[0][4]) if rows else 0

    def _checks(self, has_symbol_column: bool) -> list[tuple[str, str, str, str]]:
        """(condition, field, reason, value) of each way a cell can be unreadable, as SQL over
        `parsed`."""
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
                _SYMBOL_RULE_BROKEN,
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
        return checks

    def _columns(self, symbols: tuple[str, ...]) -> BarColumns:
        # Codes index the sorted symbols: an ENUM of them (a lookup per row, no join, no window).
        values = ", ".join(f"'{duck.literal(symbol)}'" for symbol in symbols)
        code = f"coalesce(enum_code(CAST(symbol AS ENUM({values}))), 0)" if symbols else "0"
        data = self.cur.execute(
            f"""
            SELECT row, {code} AS code,
                   coalesce(epoch_us(ts), 0) AS ts_us,
                   ts IS NOT NULL AND symbol IS NOT NULL AS ts_valid,
                   coalesce(open, 'NaN'::DOUBLE) AS open, coalesce(high, 'NaN'::DOUBLE) AS high,
                   coalesce(low, 'NaN'::DOUBLE) AS low, coalesce(close, 'NaN'::DOUBLE) AS close,
                   coalesce(volume, 'NaN'::DOUBLE) AS volume
            FROM parsed
            """
        ).fetchnumpy()
        # A SELECT from one table keeps its order (DuckDB documents it while
        # preserve_insertion_order is on, the default), which spares sorting a million rows by
        # number; checked, since that is a setting, and sorted here only if it was turned off.
        row = duck.contiguous(data["row"], np.int64)
        order = None if bool(np.all(row[1:] > row[:-1])) else np.argsort(row, kind="stable")
        column = _picker(order)
        return BarColumns(
            row=column(row, np.int64),
            symbols=symbols,
            symbol_code=column(data["code"], np.int64),
            ts_us=column(data["ts_us"], np.int64),
            ts_valid=column(data["ts_valid"], np.bool_),
            open=column(data["open"], np.float64),
            high=column(data["high"], np.float64),
            low=column(data["low"], np.float64),
            close=column(data["close"], np.float64),
            volume=column(data["volume"], np.float64),
        )


def _may_hold_unreadable_cells(columns: BarColumns) -> bool:
    """Whether any cell may have failed to read. Every such cell leaves a mark in the columns: an
    unreadable timestamp or a missing symbol clears ts_valid, and a missing, unreadable or NaN
    number reads as NaN. A mark may also come from a value read but out of range (an infinity is not
    marked; a typed column that does not cast to a number is): the query over `parsed` then names
    the cells, finding none if none is unreadable. A valid file, the usual case, never runs it."""
    if not bool(columns.ts_valid.all()):
        return True
    numbers = (columns.open, columns.high, columns.low, columns.close, columns.volume)
    return any(bool(np.isnan(values).any()) for values in numbers)


def _picker(order: np.ndarray | None) -> Callable[[Any, Any], Any]:
    """Contiguous columns of the given type, taken in `order` when there is one."""

    def column(values: Any, dtype: Any) -> Any:
        values = duck.contiguous(values, dtype)
        return values if order is None else values[order]

    return column


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
