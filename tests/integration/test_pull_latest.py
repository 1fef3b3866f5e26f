"""Scheduled pulls: the newest bars of the symbols subscribed to a provider (tagged with its
name), each from the bar after its last one, against the fake provider server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.fixtures import case, server
from tests.fakes.provider_server import CASES, ProviderCase, ProviderServer, provider_settings, small_pages
from tests.integration.test_backfill import PAGE, Sleeps, stored
from trading_system.adapters.providers import ProviderRegistry
from trading_system.bootstrap import Container, bootstrap
from trading_system.catalog import schedules
from trading_system.config import load_settings
from trading_system.entrypoints.local.workers import Scheduler
from trading_system.entrypoints.scheduled import scheduled_command
from trading_system.market_data.commands import BackfillBars, PullLatestBars, RegisterSymbol
from trading_system.market_data.domain import Timeframe
from trading_system.market_data.ports import (
    MarketDataProvider,
    ProviderError,
    ProviderUnavailable,
    UnknownProvider,
)

__all__ = ["case", "server"]  # fixtures these tests use

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# The command each provider's pull is sent: its schedule's in the catalog (PullAlpacaBars,
# PullBinanceBars, PullCoinbaseBars, PullKrakenBars), built with its defaults as a firing does.
SCHEDULED = {
    command().provider: command
    for function, _ in schedules()
    if issubclass(command := scheduled_command(function), PullLatestBars)
}


class FixedClock:
    def __init__(self, now: datetime):
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START + 100 * MINUTE + timedelta(seconds=30))  # bar 100 is still forming


@pytest.fixture
def container(server: ProviderServer, tmp_path: Path, clock: FixedClock) -> Container:
    settings = load_settings(data_dir=tmp_path / "data", **provider_settings(server, provider_attempts=2))
    built = bootstrap(settings, clock=clock)
    providers = ProviderRegistry(settings, sleep=Sleeps())
    for name in CASES:
        small_pages(providers.get(name), PAGE)
    providers.ingest_batch_rows = PAGE
    built.__dict__["providers"] = providers
    return built


def test_a_pull_fetches_what_came_since_the_last_bar(
    server: ProviderServer, case: ProviderCase, container: Container, clock: FixedClock
) -> None:
    server.state.add(case.market, START, 400, price=case.price)
    first = container.bus.execute(SCHEDULED[case.provider]())  # the schedule's own command
    assert first.bars == 0 and first.symbols == []  # nothing subscribes yet
    container.bus.execute(
        BackfillBars(provider=case.provider, symbols=[case.symbol], timeframe=Timeframe.M1, start=START)
    )
    assert len(stored(container, case.symbol)) == 100  # up to the bar still forming

    clock.moment = START + 250 * MINUTE + timedelta(seconds=5)
    server.state.requests.clear()
    report = container.bus.execute(SCHEDULED[case.provider]())
    [done] = report.symbols
    assert (report.bars, done.bars) == (150, 150)
    requests = server.state.bar_requests(case.provider)
    started = {
        "alpaca": lambda q: datetime.fromisoformat(q["start"].replace("Z", "+00:00")),
        "binance": lambda q: datetime.fromtimestamp(int(q["startTime"]) / 1000, UTC),
        "coinbase": lambda q: datetime.fromtimestamp(int(q["start"]), UTC),
        "kraken": lambda q: datetime.fromtimestamp(int(q["since"]), UTC) + MINUTE,  # bars after `since`
    }[case.provider](requests[0])
    assert started == START + 100 * MINUTE
    rows = stored(container, case.symbol)
    assert [r[0] for r in rows] == [START + i * MINUTE for i in range(250)]

    # pulled again at once: nothing new, nothing asked for
    server.state.requests.clear()
    assert container.bus.execute(SCHEDULED[case.provider]()).bars == 0
    assert server.state.bar_requests(case.provider) == []


def test_a_backfill_subscribes_a_symbol_registered_before_to_the_pull(
    server: ProviderServer, container: Container, clock: FixedClock
) -> None:
    """A symbol registered by hand (or with the demo data) and then backfilled from a provider
    gets the provider's tag, as one the backfill registers does, so the pull keeps it fresh. A
    symbol the provider has no bars of is not subscribed."""
    server.state.add("AAPL", START, 400)
    container.bus.execute(RegisterSymbol(symbol="AAPL", exchange="XNYS", tags=["demo"]))
    container.bus.execute(RegisterSymbol(symbol="ZZZZ", tags=["demo"]))
    container.bus.execute(
        BackfillBars(provider="alpaca", symbols=["AAPL", "ZZZZ"], timeframe=Timeframe.M1, start=START)
    )
    assert container.symbols.require("AAPL").tags == ["demo", "alpaca"]
    assert container.symbols.require("ZZZZ").tags == ["demo"]
    assert container.symbols.require("AAPL").exchange == "XNYS"  # the rest of its definition kept

    clock.moment = START + 250 * MINUTE + timedelta(seconds=5)
    report = container.bus.execute(SCHEDULED["alpaca"]())  # the schedule's own command
    assert [(s.symbol, s.bars) for s in report.symbols] == [("AAPL", 150)]


def test_a_symbol_with_no_bars_yet_starts_first_pull_days_back(
    server: ProviderServer, container: Container, clock: FixedClock
) -> None:
    server.state.add("MSFT", START - timedelta(days=3), 6 * 24 * 60, price=370.0)
    container.bus.execute(RegisterSymbol(symbol="MSFT", tags=["alpaca"]))
    report = container.bus.execute(PullLatestBars(provider="alpaca", first_pull_days=2))
    end = Timeframe.M1.floor(clock.moment)
    assert report.bars == 2 * 24 * 60
    assert stored(container, "MSFT", end - timedelta(days=2))[0][0] == end - timedelta(days=2)


def test_one_failing_symbol_does_not_stop_the_others_but_fails_the_pull(
    server: ProviderServer, container: Container
) -> None:
    server.state.add("AAPL", START, 100)
    server.state.add("MSFT", START, 100, price=370.0)
    for symbol in ("AAPL", "MSFT"):
        container.bus.execute(RegisterSymbol(symbol=symbol, tags=["alpaca"]))
    series = server.state.series["AAPL"]
    series.invalid.add(START + 10 * MINUTE)
    with pytest.raises(ProviderError) as raised:
        container.bus.execute(PullLatestBars(provider="alpaca", first_pull_days=1))
    assert "AAPL" in str(raised.value) and "MSFT" not in str(raised.value)
    assert not isinstance(raised.value, ProviderUnavailable)  # bad data: a retry would not help
    assert len(stored(container, "MSFT")) == 100
    assert stored(container, "AAPL") == []


def test_a_provider_down_fails_the_pull_as_retryable(server: ProviderServer, container: Container) -> None:
    server.state.add("AAPL", START, 100)
    container.bus.execute(RegisterSymbol(symbol="AAPL", tags=["alpaca"]))
    server.state.fail("alpaca", 503, times=10)
    with pytest.raises(ProviderUnavailable, match="AAPL"):
        container.bus.execute(PullLatestBars(provider="alpaca"))


def test_every_provider_has_a_scheduled_pull(tmp_path: Path) -> None:
    providers = ProviderRegistry(load_settings(data_dir=tmp_path))
    assert sorted(SCHEDULED) == sorted(providers.names())
    assert {name: command.__name__ for name, command in SCHEDULED.items()} == {
        "alpaca": "PullAlpacaBars",
        "binance": "PullBinanceBars",
        "coinbase": "PullCoinbaseBars",
        "kraken": "PullKrakenBars",
    }


class CountingRegistry(ProviderRegistry):
    """The registry, counting the providers it builds."""

    built: list[str]

    def get(self, name: str) -> MarketDataProvider:
        self.built.append(name)
        return super().get(name)


def test_a_pull_with_nothing_subscribed_does_not_build_the_provider(
    server: ProviderServer, container: Container
) -> None:
    """A crypto pull fires every 5 minutes around the clock: with no symbol tagged with its
    exchange it reads the symbols and stops, without building the exchange (importing CCXT)."""
    registry = CountingRegistry(container.settings)
    registry.built = []
    container.__dict__["providers"] = registry
    container.bus.execute(RegisterSymbol(symbol="AAPL", tags=["alpaca"]))
    for name, command in SCHEDULED.items():
        if name != "alpaca":
            report = container.bus.execute(command())
            assert (report.provider, report.bars, report.symbols, report.failed) == (name, 0, [], {})
    assert registry.built == []
    server.state.add("AAPL", START, 100)
    assert container.bus.execute(SCHEDULED["alpaca"]()).bars == 100  # a subscribed one is built
    assert registry.built == ["alpaca"]


def test_a_pull_of_an_unknown_provider_is_refused_even_with_nothing_subscribed(container: Container) -> None:
    with pytest.raises(UnknownProvider, match="unknown provider 'bitstamp'"):
        container.bus.execute(PullLatestBars(provider="bitstamp"))


def test_the_local_scheduler_pulls_the_crypto_exchanges_around_the_clock(
    server: ProviderServer, container: Container, clock: FixedClock
) -> None:
    """`make run`'s scheduler fires the catalog's crypto pulls as EventBridge Scheduler does: every
    5 minutes, weekends and nights included."""
    binance = CASES["binance"]
    server.state.add(binance.market, START, 400, price=binance.price)
    container.bus.execute(
        BackfillBars(provider="binance", symbols=[binance.symbol], timeframe=Timeframe.M1, start=START)
    )
    clock.moment = START + 250 * MINUTE + timedelta(seconds=5)
    scheduler = Scheduler(container)
    sunday_night = datetime(2024, 1, 7, 3, 1, tzinfo=UTC)
    pulls = ("pull_binance_bars", "pull_coinbase_bars", "pull_kraken_bars")
    for name in pulls:
        assert scheduler.schedules[name][1].next_after(sunday_night) == sunday_night + 4 * MINUTE
    ran = scheduler.run_due(datetime.now(UTC) + 6 * MINUTE)  # a 5-minute mark has passed
    assert set(pulls) <= set(ran)
    assert len(stored(container, binance.symbol)) == 250
