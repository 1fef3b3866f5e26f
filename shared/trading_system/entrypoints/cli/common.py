"""What every command has in common: the container, turning a bad option or a domain error into
a message and an exit code, and printing JSON, aligned tables, CSV and `name: value` lines."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from trading_system.bootstrap import Container, bootstrap
from trading_system.config import SettingsError, load_settings
from trading_system.kernel.errors import DomainError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
NUMBER = re.compile(r"-?\d+(\.\d+)?")


class Listing(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


ListingOption = Annotated[Listing, typer.Option("--format", help="table (aligned), csv or json")]


class Shown(StrEnum):
    TEXT = "text"
    JSON = "json"


# Options of the commands that read bars or series computed from them.
TimeframeOption = Annotated[str, typer.Option(help="1m 5m 15m 1h 1d")]
MomentOption = Annotated[str | None, typer.Option(help="date or ISO timestamp (inclusive)")]
SeriesFormatOption = Annotated[str, typer.Option("--format", help="csv or json")]


# -- the application and its errors -----------------------------------------------------------


def build_container() -> Container:
    try:
        return bootstrap(load_settings())
    except SettingsError as error:
        fail(str(error))


def fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def run(action: Callable[[], T]) -> T:
    """The action's result; a domain error is printed and exits 2."""
    try:
        return action()
    except DomainError as error:
        fail(f"error: {error}")


def execute(command: Any, on: Container | None = None) -> Any:
    """A command executed on the bus (of `on`, else of a new container)."""
    return run(lambda: (on or build_container()).bus.execute(command))


def ask(query: Any, on: Container | None = None) -> Any:
    """A query answered by the bus (of `on`, else of a new container)."""
    return run(lambda: (on or build_container()).bus.ask(query))


def valid(build: Callable[[], T]) -> T:
    """A message built from options; a bad value is printed as the message words it, exit 2."""
    try:
        return build()
    except ValueError as error:
        fail(f"error: {error}")


def make(model: type[M], **fields: Any) -> M:
    """A command, query or request built from options; what is wrong is named field by field."""
    try:
        return model(**fields)
    except ValidationError as error:
        lines = [f"error: invalid {model.__name__}"]
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "input"
            lines.append(f"  - {where}: {problem['msg']}")
        fail("\n".join(lines))


def moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), UTC)
        return datetime.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date or ISO 8601 timestamp")


# -- output -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def echo_json(value: Any) -> None:
    """A value as indented JSON; models (at any depth) as their JSON form, anything else JSON
    does not know as its text."""
    typer.echo(json.dumps(value, indent=2, default=_jsonable))


def cell(value: Any) -> str:
    """One value as text: decimals exactly as held (no exponent, no float rounding)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "|".join(cell(v) for v in value)
    return str(value)


def _numeric(cells: list[str]) -> bool:
    """Whether a column holds numbers only (they are right-aligned)."""
    filled = [c for c in cells if c]
    return bool(filled) and all(NUMBER.fullmatch(c) for c in filled)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula: text starting like one (=, +, -, @)
    gets a leading apostrophe, as OWASP advises; numbers (-1.5) stay numbers."""
    if not text.startswith(_FORMULA_STARTS):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def echo_rows(rows: Sequence[Mapping[str, Any] | BaseModel], columns: list[str], output: Listing) -> None:
    """Rows (dicts or models) as an aligned table (numbers right-aligned), as CSV, or (all
    fields) as JSON."""
    if output is Listing.JSON:
        echo_json([r if isinstance(r, BaseModel) else dict(r) for r in rows])
        return
    records = [r.model_dump() if isinstance(r, BaseModel) else r for r in rows]
    cells = [[cell(r.get(c)) for c in columns] for r in records]
    if output is Listing.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[spreadsheet_safe(text) for text in row] for row in cells])
        typer.echo(buffer.getvalue(), nl=False)
        return
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    right = [_numeric([row[i] for row in cells]) for i in range(len(columns))]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        parts = [text.rjust(w) if r else text.ljust(w) for text, w, r in zip(row, widths, right, strict=True)]
        typer.echo("  ".join(parts).rstrip())


def echo_fields(fields: Mapping[str, Any], skip_empty: bool = True) -> None:
    """Name: value lines, aligned."""
    shown = {k: v for k, v in fields.items() if not (skip_empty and v is None)}
    width = max((len(k) for k in shown), default=0) + 1
    for key, value in shown.items():
        typer.echo(f"{(key + ':').ljust(width)} {cell(value)}".rstrip())


def echo_one(output: Shown, as_json: Any, fields: Mapping[str, Any]) -> None:
    """One thing: as JSON, or as its `name: value` lines."""
    if output is Shown.JSON:
        echo_json(as_json)
        return
    echo_fields(fields)


def more_rows(option: str, value: Any) -> None:
    """The next page's hint, on stderr: the option and the value that asks for it."""
    if value:
        typer.secho(f"# more rows: {option} {cell(value)}", err=True)


def echo_series(
    output: str,
    as_json: Mapping[str, Any],
    records: list[dict[str, Any]],
    columns: list[str],
    next_start: Any,
) -> None:
    """A time series: as JSON, or as CSV rows (an empty cell for a missing value) with the next
    page's hint on stderr."""
    if output == "json":
        echo_json(as_json)
        return
    echo_rows(records, ["ts", *columns], Listing.CSV)
    more_rows("--start", next_start)
