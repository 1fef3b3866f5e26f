"""Backfill from a provider on the local runtime, against the fake provider server: pages in,
bars readable through GetBars, retries with bounded backoff, resume after an interruption, a
rejected page written nowhere, and the command's refusals. Run over every adapter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.fixtures import case, server
from tests.fakes.provider_server import CASES, ProviderCase, ProviderServer, provider_settings, small_pages
from trading_system.adapters.providers import ProviderRegistry
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import load_settings
from trading_system.kernel.errors import ValidationFailed
from trading_system.market_data.commands import BackfillBars
from trading_system.market_data.domain import Timeframe
from trading_system.market_data.ports import ProviderUnavailable, UnknownProvider, UnknownProviderSymbol
from trading_system.market_data.queries import GetBars, GetSymbol

__all__ = ["case", "server"]  # fixtures these tests use

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PAGE = 100


class Sleeps(list[float]):
    """The waits the backoff asked for, instead of sleeping through them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def container_on(server: ProviderServer, data_dir: Path, sleeps: Sleeps, **overrides: object) -> Container:
    settings = load_settings(data_dir=data_dir, **provider_settings(server, provider_attempts=4, **overrides))
    container = bootstrap(settings)
    providers = ProviderRegistry(settings, sleep=sleeps)
    for name in CASES:
        small_pages(providers.get(name), PAGE)
    providers.ingest_batch_rows = PAGE  # a page a batch, unless a test says otherwise
    container.__dict__["providers"] = providers  # what the bootstrap would build, with small pages
    return container


@pytest.fixture
def container(server: ProviderServer, tmp_path: Path, sleeps: Sleeps) -> Container:
    return container_on(server, tmp_path / "data", sleeps)


def backfill(
    container: Container, case: ProviderCase, end: datetime, start: datetime = START, **fields: object
):  # type: ignore[no-untyped-def]
    command = BackfillBars(
        provider=case.provider, symbols=[case.symbol], timeframe=Timeframe.M1, start=start, end=end, **fields
    )
    return container.bus.execute(command)


def stored(container: Container, symbol: str, start: datetime = START) -> list[tuple]:
    """The bars GetBars answers, with UTC datetimes."""
    page = container.bus.ask(GetBars(symbol=symbol, timeframe=Timeframe.M1, start=start, limit=50_000))
    if page.bars is None:
        return []
    keys = ("open", "high", "low", "close", "volume")
    return [
        (datetime.fromisoformat(r["ts"].replace("Z", "+00:00")), *(r[k] for k in keys))
        for r in page.bars.records()
    ]


def held(server: ProviderServer, case: ProviderCase, count: int) -> list[tuple]:
    divisor = 1 if case.provider == "alpaca" else 1000  # the fake's exchanges count volume in coins
    rows = server.state.rows(case.market, 60, START, START + (count - 1) * MINUTE)
    return [(ts, o, h, low, c, v / divisor) for ts, o, h, low, c, v in rows]


def test_a_backfill_ingests_every_page_readable_through_get_bars(
    server: ProviderServer, case: ProviderCase, container: Container, sleeps: Sleeps
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    # the end is inclusive, like GetBars': the bar starting at 18:39 is the 250th
    report = backfill(container, case, end=START + 249 * MINUTE)
    [done] = report.symbols
    assert (report.bars, done.bars, done.pages, done.resumed_from) == (250, 250, 3, None)
    assert stored(container, case.symbol) == held(server, case, 250)
    listing = container.bus.ask(GetSymbol(symbol=case.symbol))
    assert case.provider in listing.tags
    assert listing.coverage[Timeframe.M1].first == START
    assert listing.coverage[Timeframe.M1].last == START + 249 * MINUTE
    assert sleeps == []


def test_429_and_5xx_are_retried_with_growing_waits(
    server: ProviderServer, case: ProviderCase, container: Container, sleeps: Sleeps
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    server.state.fail(case.provider, 503, skip=1, times=2)  # page 2 fails twice, then is answered
    server.state.fail(case.provider, 429, skip=3, retry_after=9)  # then a 429 asking for 9 s
    report = backfill(container, case, end=START + 249 * MINUTE)
    assert report.bars == 250
    assert sleeps == [1.0, 2.0, 9.0]
    assert len(stored(container, case.symbol)) == 250


def test_an_interrupted_backfill_resumes_where_it_stopped_without_duplicates(
    server: ProviderServer, case: ProviderCase, container: Container, sleeps: Sleeps
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    server.state.fail(case.provider, 502, skip=2, times=4)  # page 3: a 5xx beyond the 4 attempts
    with pytest.raises(ProviderUnavailable) as raised:
        backfill(container, case, end=START + 249 * MINUTE)
    message = str(raised.value)
    assert "gave up after 4 attempt(s)" in message and "resume" in message
    assert (START + 200 * MINUTE).isoformat() in message
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(stored(container, case.symbol)) == 200

    server.state.requests.clear()
    report = backfill(container, case, end=START + 249 * MINUTE)
    [done] = report.symbols
    assert done.resumed_from == START + 200 * MINUTE
    assert (done.bars, done.pages) == (50, 1)
    first_request = server.state.bar_requests(case.provider)[0]
    assert request_start(case, first_request) == START + 200 * MINUTE
    rows = stored(container, case.symbol)
    assert rows == held(server, case, 250)
    assert len({r[0] for r in rows}) == 250

    # a third run has nothing left to fetch
    server.state.requests.clear()
    again = backfill(container, case, end=START + 249 * MINUTE)
    assert again.bars == 0 and server.state.bar_requests(case.provider) == []


def request_start(case: ProviderCase, query: dict[str, str]) -> datetime:
    if case.provider == "alpaca":
        return datetime.fromisoformat(query["start"].replace("Z", "+00:00"))
    if case.provider == "kraken":  # bars after `since`: CCXT asks from one bar before
        return datetime.fromtimestamp(int(query["since"]), UTC) + MINUTE
    if case.provider == "coinbase":  # epoch seconds
        return datetime.fromtimestamp(int(query["start"]), UTC)
    return datetime.fromtimestamp(int(query["startTime"]) / 1000, UTC)


def test_a_page_breaking_the_bar_rules_is_written_nowhere(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    series = server.state.add(case.market, START, 250, price=case.price)
    series.invalid.add(START + 150 * MINUTE)  # in page 2: high below low
    with pytest.raises(ValidationFailed) as raised:
        backfill(container, case, end=START + 249 * MINUTE)
    message = str(raised.value)
    assert case.provider in message and case.symbol in message and "page 2" in message
    assert "nothing of that page was written" in message
    # the 51st row of page 2, counted from 1 as an upload's rows are
    assert {p.row for p in raised.value.problems} == {51}
    assert "high is below low" in message
    rows = stored(container, case.symbol)
    assert [r[0] for r in rows] == [START + i * MINUTE for i in range(100)]
    checkpoint = container.backfills.get(case.provider, case.symbol, Timeframe.M1)
    assert checkpoint is not None and checkpoint.through == START + 100 * MINUTE


def test_a_gap_in_the_data_is_not_an_error(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    series = server.state.add(case.market, START, 250, price=case.price)
    series.missing |= {START + i * MINUTE for i in range(90, 130)}
    report = backfill(container, case, end=START + 249 * MINUTE)
    assert report.bars == 210
    assert len(stored(container, case.symbol)) == 210


def test_a_range_in_the_future_is_refused(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValidationFailed, match="in the future") as raised:
        backfill(container, case, start=tomorrow, end=tomorrow + timedelta(days=1))
    assert raised.value.problems[0].field == "start"
    assert server.state.requests == []


def test_an_end_before_the_start_is_refused(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    with pytest.raises(ValidationFailed, match="after end"):
        backfill(container, case, end=START - timedelta(days=1))


def test_an_end_in_the_future_stops_at_the_last_complete_bar(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    server.state.add(case.market, now - 30 * MINUTE, 40, price=case.price)  # 10 bars "from the future"
    report = backfill(container, case, start=now - 30 * MINUTE, end=now + timedelta(hours=1))
    assert report.end <= now + MINUTE
    assert 29 <= report.bars <= 31  # the minute may turn during the test
    kept = stored(container, case.symbol, now - 30 * MINUTE)
    assert len(kept) == report.bars and all(row[0] < report.end for row in kept)


def test_an_unknown_provider_is_refused(container: Container) -> None:
    with pytest.raises(UnknownProvider, match="alpaca"):
        container.bus.execute(
            BackfillBars(provider="bloomberg", symbols=["AAPL"], timeframe=Timeframe.M1, start=START)
        )


def test_an_unknown_symbol(server: ProviderServer, case: ProviderCase, container: Container) -> None:
    server.state.add(case.market, START, 10, price=case.price)
    command = BackfillBars(
        provider=case.provider,
        symbols=[case.unknown_symbol],
        timeframe=Timeframe.M1,
        start=START,
        end=START + 9 * MINUTE,
    )
    if case.unknown_is_error:
        with pytest.raises(UnknownProviderSymbol, match=case.unknown_symbol):
            container.bus.execute(command)
    else:
        [done] = container.bus.execute(command).symbols
        assert done.empty and done.bars == 0
    assert container.symbols.get(case.unknown_symbol) is None  # nothing registered for it


def test_several_symbols_each_get_their_own_checkpoint(server: ProviderServer, container: Container) -> None:
    server.state.add("AAPL", START, 150)
    server.state.add("MSFT", START, 120, price=370.0)
    report = container.bus.execute(
        BackfillBars(
            provider="alpaca",
            symbols=["AAPL", "MSFT"],
            timeframe=Timeframe.M1,
            start=START,
            end=START + 149 * MINUTE,
        )
    )
    assert [(s.symbol, s.bars) for s in report.symbols] == [("AAPL", 150), ("MSFT", 120)]
    for symbol in ("AAPL", "MSFT"):
        checkpoint = container.backfills.get("alpaca", symbol, Timeframe.M1)
        assert checkpoint is not None and checkpoint.through == START + 150 * MINUTE


def test_small_pages_are_ingested_in_batches(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    container.providers.ingest_batch_rows = 200
    ingested: list[int] = []
    container.bus.observers.append(
        lambda envelope: (
            ingested.append(envelope.payload["rows"]) if envelope.event_type == "BarsIngested" else None
        )
    )
    report = backfill(container, case, end=START + 249 * MINUTE)
    assert ingested == [200, 50]  # pages 1-2, then page 3
    assert report.symbols[0].pages == 3 and len(stored(container, case.symbol)) == 250


def test_an_interruption_inside_a_batch_refetches_the_batch(
    server: ProviderServer, case: ProviderCase, container: Container
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    container.providers.ingest_batch_rows = 250
    server.state.fail(case.provider, 503, skip=2, times=4)  # page 3, beyond the retries
    with pytest.raises(ProviderUnavailable, match=re.escape(f"up to {START.isoformat()}")):
        backfill(container, case, end=START + 249 * MINUTE)
    # pages 1-2 were waiting for the batch to fill: nothing written, not even the symbol registered
    assert container.symbols.get(case.symbol) is None
    assert container.backfills.get(case.provider, case.symbol, Timeframe.M1) is None
    report = backfill(container, case, end=START + 249 * MINUTE)
    assert report.symbols[0].resumed_from is None and report.bars == 250
    assert stored(container, case.symbol) == held(server, case, 250)
