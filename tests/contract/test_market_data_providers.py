"""The market-data provider port, the same tests over every adapter, against the fake provider
server on loopback (tests/fakes/provider_server.py): no test reaches the internet."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.fixtures import case, server
from tests.fakes.provider_server import (
    ALPACA_KEY_ID,
    ALPACA_SECRET,
    CASES,
    ProviderCase,
    ProviderServer,
    provider_settings,
    small_pages,
)
from trading_system.adapters.providers import ProviderRegistry
from trading_system.config import SettingsError, load_settings
from trading_system.market_data.domain import Bar, Timeframe
from trading_system.market_data.ports import (
    MarketDataProvider,
    ProviderCredentialsError,
    ProviderError,
    ProviderGarbage,
    ProviderRateLimited,
    ProviderUnavailable,
    UnknownProvider,
    UnknownProviderSymbol,
)

__all__ = ["case", "server"]  # fixtures these tests use

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def registry(server: ProviderServer, tmp_path: Path, **overrides: object) -> ProviderRegistry:
    return ProviderRegistry(load_settings(data_dir=tmp_path, **provider_settings(server, **overrides)))


@pytest.fixture
def provider(server: ProviderServer, case: ProviderCase, tmp_path: Path) -> MarketDataProvider:
    built = registry(server, tmp_path).get(case.provider)
    return small_pages(built, 100)  # type: ignore[no-any-return]


def expected(server: ProviderServer, case: ProviderCase, first: datetime, end: datetime) -> list[tuple]:
    """What the fake holds for the case's market in [first, end), as the adapters should give it."""
    rows = server.state.rows(case.market, 60, first, end - timedelta(microseconds=1))
    series = server.state.series[case.market]
    divisor = 1 if case.provider == "alpaca" else 1000  # the fake's exchanges count volume in coins
    return [(ts, o, h, low, c, v / divisor) for ts, o, h, low, c, v in rows if ts not in series.malformed]


def as_tuples(bars: list[Bar]) -> list[tuple]:
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def every_page(
    provider: MarketDataProvider, case: ProviderCase, start: datetime, end: datetime
) -> list[list[Bar]]:
    pages = [provider.fetch_bars(case.symbol, Timeframe.M1, start, end)]
    while pages[-1].next_token is not None:
        assert len(pages) < 20, "pagination does not end"
        pages.append(provider.fetch_bars(case.symbol, Timeframe.M1, start, end, pages[-1].next_token))
    return [page.series.bars() for page in pages]


def test_pages_cover_the_range_once_in_order(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    end = START + 250 * MINUTE
    pages = every_page(provider, case, START, end)
    assert [len(p) for p in pages] == [100, 100, 50]
    bars = [bar for page in pages for bar in page]
    assert as_tuples(bars) == expected(server, case, START, end)
    assert [b.ts for b in bars] == [START + i * MINUTE for i in range(250)]


def test_the_range_is_start_inclusive_end_exclusive(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    server.state.add(case.market, START, 250, price=case.price)
    page = provider.fetch_bars(case.symbol, Timeframe.M1, START + 10 * MINUTE, START + 20 * MINUTE)
    assert [b.ts for b in page.series.bars()] == [START + i * MINUTE for i in range(10, 20)]
    assert page.next_token is None


def test_a_gap_is_left_as_a_gap(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    series = server.state.add(case.market, START, 120, price=case.price)
    halted = {START + i * MINUTE for i in range(40, 70)}
    series.missing |= halted
    end = START + 120 * MINUTE
    bars = [bar for page in every_page(provider, case, START, end) for bar in page]
    assert len(bars) == 90
    assert not halted & {b.ts for b in bars}
    assert as_tuples(bars) == expected(server, case, START, end)


def test_a_429_is_rate_limited_with_its_retry_after(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    server.state.add(case.market, START, 10, price=case.price)
    server.state.fail(case.provider, 429, retry_after=7)
    with pytest.raises(ProviderRateLimited) as raised:
        provider.fetch_bars(case.symbol, Timeframe.M1, START, START + 10 * MINUTE)
    assert raised.value.retry_after == pytest.approx(7)
    assert raised.value.retryable
    # the limit passed: the same request is answered
    assert len(provider.fetch_bars(case.symbol, Timeframe.M1, START, START + 10 * MINUTE).series) == 10


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_unavailable_and_retryable(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider, status: int
) -> None:
    server.state.add(case.market, START, 10, price=case.price)
    server.state.fail(case.provider, status)
    with pytest.raises(ProviderUnavailable) as raised:
        provider.fetch_bars(case.symbol, Timeframe.M1, START, START + 10 * MINUTE)
    assert raised.value.retryable
    assert case.provider in str(raised.value)


def test_a_malformed_row_is_garbage_naming_the_row(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    series = server.state.add(case.market, START, 20, price=case.price)
    series.malformed.add(START + 5 * MINUTE)
    with pytest.raises(ProviderGarbage) as raised:
        provider.fetch_bars(case.symbol, Timeframe.M1, START, START + 20 * MINUTE)
    message = str(raised.value)
    assert "row 5" in message and case.symbol in message and case.provider in message
    assert not raised.value.retryable


def test_an_unknown_symbol(server: ProviderServer, case: ProviderCase, provider: MarketDataProvider) -> None:
    server.state.add(case.market, START, 10, price=case.price)
    if case.unknown_is_error:
        with pytest.raises(UnknownProviderSymbol, match=case.unknown_symbol):
            provider.fetch_bars(case.unknown_symbol, Timeframe.M1, START, START + 10 * MINUTE)
    else:
        page = provider.fetch_bars(case.unknown_symbol, Timeframe.M1, START, START + 10 * MINUTE)
        assert len(page.series) == 0 and page.next_token is None


def test_refused_credentials_are_a_credentials_error(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    server.state.add(case.market, START, 10, price=case.price)
    server.state.fail(case.provider, 401)
    with pytest.raises(ProviderCredentialsError) as raised:
        provider.fetch_bars(case.symbol, Timeframe.M1, START, START + 10 * MINUTE)
    assert ALPACA_SECRET not in str(raised.value)
    assert not raised.value.retryable


def test_an_unreachable_provider_is_unavailable(case: ProviderCase, tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on once the socket is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(
        data_dir=tmp_path,
        provider_urls={case.provider: url},
        alpaca_key_id="K",
        alpaca_secret_key="S",
        provider_timeout_s=2,
    )
    with pytest.raises(ProviderUnavailable):
        ProviderRegistry(settings).get(case.provider).fetch_bars(
            case.symbol, Timeframe.M1, START, START + 10 * MINUTE
        )


def test_a_provider_answers_the_timeframe_asked(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider
) -> None:
    day = datetime(2024, 1, 2, tzinfo=UTC)
    server.state.add(case.market, day, 5, step_s=3600, price=case.price)
    hourly = provider.fetch_bars(case.symbol, Timeframe.H1, day, day + timedelta(hours=5))
    assert [b.ts for b in hourly.series.bars()] == [day + timedelta(hours=i) for i in range(5)]
    assert provider.fetch_bars(case.symbol, Timeframe.M1, day, day + timedelta(hours=5)).series.bars() == []


# -- what is particular to one adapter ---------------------------------------------------------


def test_alpaca_without_keys_names_the_settings_and_asks_nothing(
    server: ProviderServer, tmp_path: Path
) -> None:
    provider = registry(server, tmp_path, alpaca_key_id=None, alpaca_secret_key=None).get("alpaca")
    with pytest.raises(ProviderCredentialsError, match="TRADING_ALPACA_KEY_ID") as raised:
        provider.fetch_bars("AAPL", Timeframe.M1, START, START + MINUTE)
    assert "TRADING_ALPACA_SECRET_KEY" in str(raised.value)
    assert server.state.bar_requests("alpaca") == []


def test_alpaca_with_a_wrong_key_never_echoes_it(server: ProviderServer, tmp_path: Path) -> None:
    server.state.add("AAPL", START, 10)
    wrong = "WRONG-secret-value-123"
    provider = registry(server, tmp_path, alpaca_secret_key=wrong).get("alpaca")
    with pytest.raises(ProviderCredentialsError) as raised:
        provider.fetch_bars("AAPL", Timeframe.M1, START, START + 10 * MINUTE)
    assert wrong not in str(raised.value) and "TRADING_ALPACA_SECRET_KEY" in str(raised.value)


def test_alpaca_sends_its_documented_query(server: ProviderServer, tmp_path: Path) -> None:
    server.state.add("BRK.B", START, 3)
    provider = registry(server, tmp_path, alpaca_feed="sip").get("alpaca")
    provider.fetch_bars("BRK.B", Timeframe.M15, START, START + timedelta(hours=1))
    [query] = server.state.bar_requests("alpaca")
    assert query["timeframe"] == "15Min" and query["feed"] == "sip" and query["adjustment"] == "raw"
    assert query["start"] == "2024-01-02T14:30:00Z" and query["end"] == "2024-01-02T15:30:00Z"
    assert server.state.requests[-1][0] == "/v2/stocks/BRK.B/bars"


def test_alpaca_daily_bars_are_dated_by_their_session(server: ProviderServer, tmp_path: Path) -> None:
    # Alpaca stamps a daily bar at midnight New York: 05:00 UTC in winter, 04:00 in summer.
    server.state.add("AAPL", datetime(2024, 1, 2, 5, tzinfo=UTC), 3, step_s=86400)
    provider = registry(server, tmp_path).get("alpaca")
    page = provider.fetch_bars(
        "AAPL", Timeframe.D1, datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)
    )
    assert [b.ts for b in page.series.bars()] == [datetime(2024, 1, d, tzinfo=UTC) for d in (2, 3, 4)]


@pytest.mark.parametrize(
    "body", [b"<html><body>Service temporarily moved</body></html>", b"[1, 2, 3]", b'{"bars": {"AAPL": []}}']
)
def test_an_answer_that_is_not_bars_is_garbage(
    server: ProviderServer, case: ProviderCase, provider: MarketDataProvider, body: bytes
) -> None:
    server.state.add(case.market, START, 10, price=case.price)
    server.state.fail(case.provider, 200, body=body)
    with pytest.raises(ProviderGarbage) as raised:
        provider.fetch_bars(case.symbol, Timeframe.M1, START, START + 10 * MINUTE)
    assert case.provider in str(raised.value)


def test_alpaca_refusing_a_request_says_why(server: ProviderServer, tmp_path: Path) -> None:
    server.state.add("AAPL", START, 10)
    server.state.fail("alpaca", 400, body=b'{"code": 40010001, "message": "end should not be before start"}')
    with pytest.raises(ProviderError) as raised:
        registry(server, tmp_path).get("alpaca").fetch_bars("AAPL", Timeframe.M1, START, START + MINUTE)
    assert "HTTP 400" in str(raised.value) and "end should not be before start" in str(raised.value)
    assert not raised.value.retryable


def test_an_exchange_symbol_may_be_its_own_market_id(server: ProviderServer, tmp_path: Path) -> None:
    server.state.add("BTCUSDT", START, 10, price=42_000.0)
    provider = registry(server, tmp_path).get("binance")
    by_id = provider.fetch_bars("BTCUSDT", Timeframe.M1, START, START + 10 * MINUTE)
    by_dash = provider.fetch_bars("BTC-USDT", Timeframe.M1, START, START + 10 * MINUTE)
    by_unified = provider.fetch_bars("BTC/USDT", Timeframe.M1, START, START + 10 * MINUTE)
    assert len(by_id.series) == 10
    assert (
        as_tuples(by_id.series.bars())
        == as_tuples(by_dash.series.bars())
        == as_tuples(by_unified.series.bars())
    )


def test_an_unlisted_exchange_pair_is_an_unknown_symbol(server: ProviderServer, tmp_path: Path) -> None:
    provider = registry(server, tmp_path).get("binance")
    with pytest.raises(UnknownProviderSymbol, match="BTC/XYZ"):
        provider.fetch_bars("BTC/XYZ", Timeframe.M1, START, START + 10 * MINUTE)


def test_an_unknown_provider_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownProvider) as raised:
        ProviderRegistry(load_settings(data_dir=tmp_path)).get("bloomberg")
    assert (
        "bloomberg" in str(raised.value) and "alpaca" in str(raised.value) and "binance" in str(raised.value)
    )


def test_the_registry_builds_each_provider_once(tmp_path: Path) -> None:
    providers = ProviderRegistry(load_settings(data_dir=tmp_path))
    assert providers.get("kraken") is providers.get("kraken")
    assert providers.get("coinbase").name == "coinbase"


def test_alpaca_spaces_its_requests_to_the_plan_rate(server: ProviderServer) -> None:
    from trading_system.adapters.providers.alpaca import AlpacaProvider

    server.state.add("AAPL", START, 10)
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    provider = AlpacaProvider(
        ALPACA_KEY_ID,
        ALPACA_SECRET,
        server.url,
        requests_per_minute=200,
        sleep=sleep,
        monotonic=lambda: now[0],
    )
    for _ in range(3):
        provider.fetch_bars("AAPL", Timeframe.M1, START, START + 10 * MINUTE)
    assert waits == [pytest.approx(0.3), pytest.approx(0.3)]  # 60 s / 200, before the 2nd and 3rd
    now[0] += 5  # a pause longer than the spacing: the next request goes at once
    provider.fetch_bars("AAPL", Timeframe.M1, START, START + 10 * MINUTE)
    assert len(waits) == 2


def test_an_exchange_imports_only_its_own_ccxt_module() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from trading_system.adapters.providers.ccxt_exchange import CcxtProvider\n"
        "CcxtProvider('binance')\n"
        "print(sorted(m for m in sys.modules if m.startswith('ccxt.') and m.count('.') == 1))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['ccxt.abstract', 'ccxt.base', 'ccxt.binance']"


def test_building_a_provider_does_not_import_numpy(tmp_path: Path) -> None:
    """Checking a backfill request (an HTTP function) builds its provider: numpy, which only
    reading bars needs, stays out of that cold start."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from trading_system.adapters.providers import ProviderRegistry\n"
        "from trading_system.config import load_settings\n"
        f"registry = ProviderRegistry(load_settings(data_dir={str(tmp_path)!r}))\n"
        "for name in registry.names():\n"
        "    registry.get(name)\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


def test_kraken_refuses_a_range_older_than_its_latest_720_bars(
    server: ProviderServer, tmp_path: Path
) -> None:
    server.state.add("XXBTZUSD", START, 1000, price=42_000.0)
    kraken = small_pages(registry(server, tmp_path).get("kraken"), 100)
    with pytest.raises(ProviderError, match="latest 720 1m bars of BTC-USD") as raised:
        kraken.fetch_bars("BTC-USD", Timeframe.M1, START, START + 1000 * MINUTE)
    assert raised.value.problems[0].field == "start" and not raised.value.retryable
    # from where its latest bars start, it pages as usual
    recent = START + 280 * MINUTE
    page = kraken.fetch_bars("BTC-USD", Timeframe.M1, recent, START + 1000 * MINUTE)
    assert page.series.moment(0) == recent and len(page.series) == 100 and page.next_token is not None


def test_coinbase_asks_a_window_a_page_and_goes_on_past_an_empty_one(
    server: ProviderServer, tmp_path: Path
) -> None:
    """Coinbase answers the candles between `start` and `end`, 300 at most (a wider window is a
    400), newest first, and takes no count: a page asks one page's window, the next page starts
    where it ended, however few bars it held."""
    series = server.state.add("BTC-USD", START, 1000, price=42_000.0)
    series.missing |= {START + i * MINUTE for i in range(250, 620)}  # a whole window without trades
    coinbase = small_pages(registry(server, tmp_path).get("coinbase"), 300)
    end = START + 1000 * MINUTE
    pages = [coinbase.fetch_bars("BTC-USD", Timeframe.M1, START, end)]
    while pages[-1].next_token is not None:
        assert len(pages) < 10, "pagination does not end"
        pages.append(coinbase.fetch_bars("BTC-USD", Timeframe.M1, START, end, pages[-1].next_token))
    assert [len(page.series) for page in pages] == [250, 0, 280, 100]
    bars = [bar for page in pages for bar in page.series.bars()]
    assert as_tuples(bars) == expected(server, CASES["coinbase"], START, end)
    requests = server.state.bar_requests("coinbase")
    assert [int(q["start"]) for q in requests] == [
        int((START + i * MINUTE).timestamp()) for i in range(0, 1000, 300)
    ]
    assert all(
        q["granularity"] == "ONE_MINUTE" and int(q["end"]) - int(q["start"]) < 300 * 60 for q in requests
    )
    # its markets, once: the v2 currencies CCXT loads first, then the public spot and futures products
    assert [path for path, _ in server.state.requests if not path.endswith("/candles")] == [
        "/v2/currencies",
        "/v2/currencies/crypto",
        "/v2/exchange-rates",
        "/api/v3/brokerage/market/products",
        "/api/v3/brokerage/market/products",
    ]


@pytest.mark.parametrize("url", ["http://data.example.com", "ftp://127.0.0.1", "not a url"])
def test_a_provider_url_must_be_https_off_loopback(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError, match="TRADING_PROVIDER_URLS"):
        load_settings(data_dir=tmp_path, provider_urls={"alpaca": url})
    assert load_settings(data_dir=tmp_path, provider_urls={"alpaca": "https://data.sandbox.alpaca.markets"})
