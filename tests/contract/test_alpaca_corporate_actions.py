"""Alpaca's corporate actions (GET /v1/corporate-actions) against the fake provider server, and a
backfill recording them beside the bars: splits and dividends parsed exactly, every page read,
garbage and refusals as the provider errors, retries with backoff, and re-runs recording nothing
twice. No test reaches the internet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.fixtures import server
from tests.fakes.provider_server import CASES, ProviderServer, provider_settings
from trading_system.adapters.providers import ProviderRegistry
from trading_system.adapters.providers import alpaca as alpaca_module
from trading_system.adapters.providers.alpaca import AlpacaProvider
from trading_system.bootstrap import Container, bootstrap
from trading_system.config import load_settings
from trading_system.market_data.commands import BackfillBars
from trading_system.market_data.domain import ActionKind, Adjustment, CorporateAction, Timeframe
from trading_system.market_data.ports import (
    CorporateActionsSource,
    ProviderCredentialsError,
    ProviderGarbage,
    ProviderUnavailable,
)
from trading_system.market_data.queries import GetBars, ListCorporateActions

__all__ = ["server"]  # the fixture these tests use

FIRST, LAST = date(2024, 1, 1), date(2024, 12, 31)


def alpaca(server: ProviderServer, tmp_path: Path, **overrides: object) -> AlpacaProvider:
    settings = load_settings(data_dir=tmp_path, **provider_settings(server, **overrides))
    provider = ProviderRegistry(settings).get("alpaca")
    assert isinstance(provider, AlpacaProvider)
    return provider


def split(symbol: str, ex: date, new: str, old: str = "1") -> CorporateAction:
    return CorporateAction(
        symbol=symbol, kind=ActionKind.SPLIT, ex_date=ex, new_rate=Decimal(new), old_rate=Decimal(old)
    )


def dividend(symbol: str, ex: date, amount: str) -> CorporateAction:
    return CorporateAction(
        symbol=symbol, kind=ActionKind.CASH_DIVIDEND, ex_date=ex, amount=Decimal(amount), currency="USD"
    )


def test_only_alpaca_is_a_source_of_corporate_actions(server: ProviderServer, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, **provider_settings(server))
    providers = ProviderRegistry(settings)
    sources = {name for name in CASES if isinstance(providers.get(name), CorporateActionsSource)}
    assert sources == {"alpaca"}


def test_splits_and_dividends_in_the_range_every_page_read(
    server: ProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = server.state
    state.add_split("NVDA", "2024-06-10", 10)
    state.add_split("NVDA", "2021-07-20", 4)  # before the range: not asked for
    state.add_split("NVDA", "2024-11-01", 1, 3)  # a made-up 1-for-3 reverse split
    for month in range(1, 13):
        state.add_dividend("NVDA", f"2024-{month:02d}-05", 0.01 if month < 6 else 0.001)
    state.add_dividend("MSFT", "2024-05-15", 0.75)  # another symbol's
    monkeypatch.setattr(alpaca_module, "ACTIONS_PAGE", 5)  # 14 actions: three pages
    found = alpaca(server, tmp_path).fetch_corporate_actions("NVDA", FIRST, LAST)
    requests = state.action_requests()
    assert len(requests) == 3 and all(q["symbols"] == "NVDA" for q in requests)
    assert requests[0]["types"] == "forward_split,reverse_split,cash_dividend"
    assert (requests[0]["start"], requests[0]["end"]) == ("2024-01-01", "2024-12-31")
    assert "page_token" not in requests[0] and requests[1]["page_token"] != requests[2]["page_token"]
    splits = [a for a in found if a.kind is ActionKind.SPLIT]
    assert splits == [split("NVDA", date(2024, 6, 10), "10"), split("NVDA", date(2024, 11, 1), "1", "3")]
    assert splits[1].ratio * 3 == pytest.approx(Decimal(1))
    dividends = [a for a in found if a.kind is ActionKind.CASH_DIVIDEND]
    assert len(dividends) == 12 and dividends[0] == dividend("NVDA", date(2024, 1, 5), "0.01")
    assert dividends[-1].amount == Decimal("0.001")  # the decimal as sent, not a float's neighbour
    assert [a.ex_date for a in found] == sorted(a.ex_date for a in found)


def test_garbage_and_refusals_are_provider_errors(server: ProviderServer, tmp_path: Path) -> None:
    server.state.add_dividend("BAD", "2024-02-01", "lots")
    with pytest.raises(ProviderGarbage, match=r"cash_dividend for BAD .*'rate'"):
        alpaca(server, tmp_path).fetch_corporate_actions("BAD", FIRST, LAST)
    server.state.actions["BAD"] = [{"group": "forward_splits", "symbol": "BAD", "ex_date": "2024-02-30"}]
    with pytest.raises(ProviderGarbage, match="'ex_date' '2024-02-30' is not a date"):
        alpaca(server, tmp_path).fetch_corporate_actions("BAD", FIRST, LAST)
    server.state.fail("alpaca_actions", 200, body=b"<html>maintenance</html>")
    with pytest.raises(ProviderGarbage, match="corporate actions with something that is not JSON"):
        alpaca(server, tmp_path).fetch_corporate_actions("NVDA", FIRST, LAST)
    server.state.fail("alpaca_actions", 503)
    with pytest.raises(ProviderUnavailable):
        alpaca(server, tmp_path).fetch_corporate_actions("NVDA", FIRST, LAST)
    wrong = "wrong-secret-0000"
    with pytest.raises(ProviderCredentialsError) as refused:
        alpaca(server, tmp_path, alpaca_secret_key=wrong).fetch_corporate_actions("NVDA", FIRST, LAST)
    assert wrong not in str(refused.value)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def container_on(server: ProviderServer, tmp_path: Path, sleeps: Sleeps) -> Container:
    settings = load_settings(data_dir=tmp_path, **provider_settings(server, provider_attempts=3))
    container = bootstrap(settings)
    container.__dict__["providers"] = ProviderRegistry(settings, sleep=sleeps)
    return container


def test_a_backfill_records_the_symbols_actions_and_reads_adjust_by_them(
    server: ProviderServer, tmp_path: Path
) -> None:
    start = datetime(2024, 6, 3, tzinfo=UTC)
    server.state.add("SPLT", start, 10, step_s=86_400, price=400.0)
    server.state.add_split("SPLT", "2024-06-08", 4)
    server.state.add_dividend("SPLT", "2024-06-05", 0.1)
    server.state.add_split("SPLT", "2025-01-02", 2)  # after the range
    server.state.fail("alpaca_actions", 429, retry_after=2)
    sleeps = Sleeps()
    container = container_on(server, tmp_path, sleeps)
    command = BackfillBars(
        provider="alpaca",
        symbols=["SPLT"],
        timeframe=Timeframe.D1,
        start=start,
        end=start + timedelta(days=9),
    )
    report = container.bus.execute(command)
    assert report.bars == 10 and report.symbols[0].corporate_actions == 2
    assert sleeps == [2.0]  # the 429's Retry-After, then the actions came
    query = server.state.action_requests()[-1]
    assert (query["start"], query["end"]) == ("2024-06-03", "2024-06-12")
    listed = container.bus.ask(ListCorporateActions(symbol="SPLT"))
    assert listed == [dividend("SPLT", date(2024, 6, 5), "0.1"), split("SPLT", date(2024, 6, 8), "4")]

    def closes(adjustment: Adjustment) -> list[float]:
        page = container.bus.ask(
            GetBars(symbol="SPLT", timeframe=Timeframe.D1, start=start, adjustment=adjustment)
        )
        return page.bars.close.tolist()

    raw, adjusted = closes(Adjustment.RAW), closes(Adjustment.SPLIT)
    assert adjusted[:5] == pytest.approx([c / 4 for c in raw[:5]]) and adjusted[5:] == raw[5:]

    again = container.bus.execute(command)  # the bars resume (none left); the actions are known
    assert again.symbols[0].corporate_actions == 0
    assert container.bus.ask(ListCorporateActions(symbol="SPLT")) == listed


def test_a_backfill_gives_up_on_actions_that_never_come_naming_the_symbol(
    server: ProviderServer, tmp_path: Path
) -> None:
    start = datetime(2024, 6, 3, tzinfo=UTC)
    server.state.add("DOWN", start, 3, step_s=86_400)
    server.state.fail("alpaca_actions", 503, times=10)
    sleeps = Sleeps()
    container = container_on(server, tmp_path, sleeps)
    command = BackfillBars(
        provider="alpaca",
        symbols=["DOWN"],
        timeframe=Timeframe.D1,
        start=start,
        end=start + timedelta(days=2),
    )
    with pytest.raises(ProviderUnavailable, match="DOWN's corporate actions after 3 attempt"):
        container.bus.execute(command)
    assert sleeps == [1.0, 2.0]
    page = container.bus.ask(GetBars(symbol="DOWN", timeframe=Timeframe.D1, start=start))
    assert len(page.bars) == 3  # the bars stay: a re-run resumes and fetches the actions
