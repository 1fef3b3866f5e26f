"""What a user can ask Market Data to do."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, PlainValidator

from trading_system.kernel.messages import Command, Message
from trading_system.kernel.text import PlainText
from trading_system.market_data.domain import Step, Symbol, Timeframe


class RegisterSymbol(Command):
    symbol: Symbol
    name: PlainText = Field(default="", max_length=200)
    exchange: PlainText = Field(default="", max_length=50)
    asset_class: PlainText = Field(default="us_equity", max_length=50)
    tags: list[PlainText] = Field(default_factory=list, max_length=50)
    tick_size: Step | None = Field(
        default=None, description="the smallest price move (0.01 for US stocks, 0.00001 for EURUSD)"
    )
    qty_step: Step | None = Field(
        default=None,
        description="the smallest quantity an order may trade (1: whole shares; default: its asset class's)",
    )


def _parse_moment(value: Any) -> datetime | date:
    """ISO 8601 (UTC when it has no offset), a plain date, or epoch seconds/milliseconds."""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be an ISO 8601 timestamp, a date, or epoch seconds")
    if isinstance(value, (int, float)) or value.strip().isdigit():
        number = float(value)
        seconds = number / 1000 if number >= 1e11 else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(
                f"{value!r} epoch seconds (or milliseconds) is not a time a calendar can hold"
            ) from None
    text = value.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a timestamp: use ISO 8601 (2024-01-02T14:30:00Z), a date, or epoch seconds"
        ) from None


Moment = Annotated[datetime | date, PlainValidator(_parse_moment, json_schema_input_type=str | int)]


class BarRow(Message):
    """One bar as a client sends it. `symbol` may be left out when the batch names one."""

    symbol: Symbol | None = None
    ts: Moment = Field(description="bar start: ISO 8601 (UTC if no offset), a date, or epoch seconds")
    open: float
    high: float
    low: float
    close: float
    volume: float = Field(ge=0)


class IngestBars(Command):
    """A batch of bars sent inline (JSON)."""

    timeframe: Timeframe
    symbol: Symbol | None = Field(default=None, description="symbol of rows that name none")
    bars: list[BarRow]
    source: str = "api"


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"

    @classmethod
    def of(cls, filename: str) -> FileFormat:
        suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if suffix in ("csv", "txt"):
            return cls.CSV
        if suffix in ("parquet", "pq"):
            return cls.PARQUET
        raise ValueError(f"cannot tell the format of {filename!r}: name it .csv or .parquet")


class IngestBarFile(Command):
    """A CSV or Parquet file of bars: a local path, or s3://bucket/key in AWS."""

    timeframe: Timeframe
    path: str
    format: FileFormat
    symbol: Symbol | None = None
    source: str = "file"


class CompactLake(Command):
    """Merge each partition's files into one, without changing any query result."""

    timeframe: Timeframe | None = None
