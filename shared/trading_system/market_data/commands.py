"""What a user can ask Market Data to do."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, PlainSerializer, PlainValidator

from trading_system.kernel.messages import Command, Message
from trading_system.kernel.text import PlainText
from trading_system.market_data.calendars import canonical_code, known_exchanges
from trading_system.market_data.domain import ActionKind, Step, Symbol, Timeframe, parse_moment
from trading_system.market_data.ports import ROLLUP_BUDGET_S


def _parse_exchange(text: str) -> str:
    """Blank, or an exchange a calendar answers to (upper-cased as written: NASDAQ stays NASDAQ)."""
    exchange = text.strip().upper()
    if exchange:
        canonical_code(exchange)  # UnknownCalendar (a ValueError) names the known ones
    return exchange


Exchange = Annotated[PlainText, AfterValidator(_parse_exchange)]

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries as SeriesOfBars
else:  # bar_batch brings numpy, which a function that never ingests does not import
    SeriesOfBars = Any


class RegisterSymbol(Command):
    symbol: Symbol
    name: PlainText = Field(default="", max_length=200)
    exchange: Exchange = Field(
        default="",
        max_length=50,
        description=(
            "where the symbol trades; its calendar sets the sessions its bars align to "
            f"(one of {', '.join(known_exchanges())}). Blank: no calendar, bars align to 00:00 UTC"
        ),
        examples=["NASDAQ"],
    )
    asset_class: PlainText = Field(default="us_equity", max_length=50)
    tags: list[PlainText] = Field(default_factory=list, max_length=50)
    tick_size: Step | None = Field(
        default=None, description="the smallest price move (0.01 for US stocks, 0.00001 for EURUSD)"
    )
    qty_step: Step | None = Field(
        default=None,
        description="the smallest quantity an order may trade (1: whole shares; default: its asset class's)",
    )


def _moment_text(value: datetime | date) -> str:
    """A moment in JSON as pydantic writes a datetime (UTC as `Z`) or a date. Said explicitly:
    pydantic's own serializer for the `datetime | date` union behind a plain validator warns on
    every datetime (it tries the date branch too)."""
    text = value.isoformat()
    return f"{text[:-6]}Z" if isinstance(value, datetime) and text.endswith("+00:00") else text


Moment = Annotated[
    datetime | date,
    PlainValidator(parse_moment, json_schema_input_type=str | int),
    PlainSerializer(_moment_text, return_type=str, when_used="json"),
]


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


class IngestBarSeries(Command):
    """One symbol's bars already parsed into columns, from inside the platform (a provider's
    pages): the same rules and the same write as any batch, without a model per bar."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    timeframe: Timeframe
    symbol: Symbol
    bars: SeriesOfBars
    source: str


class CompactLake(Command):
    """Merge each partition's files into one, without changing any query result."""

    timeframe: Timeframe | None = None
    # No rollup is started after this long into the compaction: a lake compacted before rollups
    # existed gains them over a few nights instead of timing the function out (the nightly one has
    # 900 s, the API's 300 s). Reads resample where a rollup is missing, so none is ever needed.
    # Strict: a number, never `false` read as 0 (JSON bodies are strict about types: http/bodies.py).
    rollup_budget_s: float = Field(default=ROLLUP_BUDGET_S, ge=0, le=600, strict=True)


class CompactIngests(Command):
    """The light compaction of every few minutes: move the ingest files into their symbols'
    partitions, and merge a partition's newer files once it holds more than a few, so that a read
    through the day opens a handful of files rather than one per ingestion. No result changes."""

    timeframe: Timeframe | None = None


class CorporateActionRow(Message):
    """One split or cash dividend as a client (or a provider's adapter) sends it."""

    kind: ActionKind
    ex_date: date = Field(description="the first day the shares trade on the new terms")
    new_rate: Decimal | None = Field(default=None, gt=0, description="split: new shares (4 in a 4-for-1)")
    old_rate: Decimal | None = Field(default=None, gt=0, description="split: old shares (1 in a 4-for-1)")
    amount: Decimal | None = Field(default=None, gt=0, description="cash dividend per share")
    currency: str | None = Field(default=None, max_length=3, description="cash dividend: USD")


class RecordCorporateActions(Command):
    """A symbol's splits and dividends, stored beside its bars. Re-recording an action (same kind
    and ex-date) replaces it; recording the same ones again writes nothing."""

    symbol: Symbol
    actions: list[CorporateActionRow] = Field(min_length=1, max_length=10_000)
    source: str = "api"


class BackfillBars(Command):
    """Fetch a range of bars from a provider, page by page, into the lake through IngestBars;
    a re-run resumes where an interrupted one stopped."""

    provider: str = Field(min_length=1, max_length=40, description="alpaca, binance, coinbase or kraken")
    symbols: list[Symbol] = Field(min_length=1, max_length=1000)
    timeframe: Timeframe
    start: Moment = Field(description="the first bar start (inclusive): ISO 8601, a date, or epoch seconds")
    end: Moment | None = Field(default=None, description="the last bar start (inclusive); default: now")


class PullLatestBars(Command):
    """Fetch each subscribed symbol's bars since its last one. A symbol subscribes to a provider
    by carrying the provider's name as a tag (a backfill tags the symbols it registers)."""

    provider: str = Field(min_length=1, max_length=40)
    timeframe: Timeframe = Timeframe.M1
    first_pull_days: int = Field(
        default=1, ge=1, le=366, description="how far back a symbol with no bars yet starts"
    )


# One command a provider, so a schedule (which sends its command without arguments) names one.
class PullAlpacaBars(PullLatestBars):
    provider: str = "alpaca"


class PullBinanceBars(PullLatestBars):
    provider: str = "binance"


class PullCoinbaseBars(PullLatestBars):
    provider: str = "coinbase"


class PullKrakenBars(PullLatestBars):
    provider: str = "kraken"


class SubmitBackfill(Command):
    """A backfill as a job: checked now, run in the background (BackfillRequested)."""

    request: BackfillBars
