"""Deterministic synthetic market data that passes the platform's own validation.

Prices follow a geometric random walk seeded from the symbol, so the same command always makes
the same bars; daily bars on weekdays, 1-minute bars in US regular hours (14:30-21:00 UTC).
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from trading_system.bootstrap import Container
from trading_system.kernel.errors import NotFound
from trading_system.market_data.commands import FileFormat, IngestBarFile, RegisterSymbol
from trading_system.market_data.domain import Timeframe

TICKERS = [
    "AAPL",
    "MSFT",
    "AMZN",
    "GOOGL",
    "META",
    "NVDA",
    "TSLA",
    "BRK.B",
    "JPM",
    "JNJ",
    "V",
    "PG",
    "UNH",
    "HD",
    "MA",
    "XOM",
    "CVX",
    "LLY",
    "ABBV",
    "PFE",
    "KO",
    "PEP",
    "MRK",
    "COST",
    "WMT",
    "BAC",
    "CSCO",
    "ORCL",
    "ADBE",
    "CRM",
    "NFLX",
    "INTC",
    "AMD",
    "QCOM",
    "TXN",
    "IBM",
    "NKE",
    "MCD",
    "DIS",
    "T",
    "VZ",
    "CMCSA",
    "HON",
    "UPS",
    "CAT",
    "GS",
    "MS",
    "BA",
    "GE",
    "MMM",
]


def symbols(count: int) -> list[str]:
    return [TICKERS[i] if i < len(TICKERS) else f"SYN{i:04d}" for i in range(count)]


def _rng(symbol: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{symbol}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def walk(
    symbol: str, n: int, seed: int, step_vol: float, start: float | None = None
) -> tuple[np.ndarray, ...]:
    """open, high, low, close, volume for n bars, consistent by construction."""
    rng = _rng(symbol, seed)
    first = 20 + 480 * rng.random()
    start = first if start is None else start
    returns = rng.normal(0.0003 * step_vol / 0.02, step_vol, n)
    close = np.round(start * np.exp(np.cumsum(returns)), 2)
    open_ = np.round(np.concatenate([[start], close[:-1]]) * (1 + rng.normal(0, step_vol / 4, n)), 2)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, step_vol / 2, n))), 2)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, step_vol / 2, n))), 2)
    volume = np.round(rng.lognormal(13, 0.5, n) * (step_vol / 0.02))
    return open_, high, low, close, volume


def weekdays(end: date, count: int) -> list[date]:
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def minute_stamps(days: list[date]) -> Iterator[datetime]:
    for day in days:
        open_at = datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC)
        for minute in range(390):
            yield open_at + timedelta(minutes=minute)


def seed(
    container: Container,
    count: int,
    days: int,
    intraday_symbols: int = 0,
    intraday_days: int = 0,
    seed_value: int = 7,
    end: date | None = None,
) -> dict[str, int]:
    """Register `count` symbols and ingest `days` daily bars each (+ optional 1m bars)."""
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    names = symbols(count)
    for name in names:
        container.bus.execute(RegisterSymbol(symbol=name, tags=["demo"]))
    daily = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in weekdays(end, days)]
    rows, closes = _ingest(container, names, daily, Timeframe.D1, seed_value, 0.02, {})
    if intraday_symbols and intraday_days:
        # Minute bars continue from the daily close before them, so both tell one story.
        before = weekdays(end, intraday_days + 1)[0]
        at = (
            daily.index(datetime(before.year, before.month, before.day, tzinfo=UTC))
            if before >= daily[0].date()
            else -1
        )
        starts = {name: float(closes[name][at]) for name in names[:intraday_symbols]} if at >= 0 else {}
        minutes = list(minute_stamps(weekdays(end, intraday_days)))
        added, _ = _ingest(
            container, names[:intraday_symbols], minutes, Timeframe.M1, seed_value, 0.001, starts
        )
        rows += added
    _demo_scanners(container)
    ensure_demo_account(container, names[:3])
    return {"symbols": len(names), "bars": rows}


def _demo_scanners(container: Container) -> None:
    """A few scanners over the demo universe, so the dashboard and the API have runs to show."""
    from trading_system.scanning.commands import CreateScanner, RunScanner
    from trading_system.scanning.domain import ScannerDefinition, Tagged
    from trading_system.scanning.queries import ListScanners

    if container.bus.ask(ListScanners()):
        return
    for name, rules in (
        ("Oversold in an uptrend", ["rsi(14) < 45 and close > sma(200)"]),
        ("Volume surge", ["volume > 1.5 * sma(volume, 20)", "close > open"]),
        ("Golden cross", ["crosses_above(sma(50), sma(200))"]),
    ):
        definition = ScannerDefinition(
            name=name, rules=rules, universe=Tagged(tag="demo"), timeframe=Timeframe.D1
        )
        scanner = container.bus.execute(CreateScanner(definition=definition))
        container.bus.execute(RunScanner(scanner_id=scanner.scanner_id))


def ensure_demo_account(container: Container, names: list[str]) -> None:
    """The default paper account with $100,000, two positions bought at the last close and a
    resting limit order, so positions, fills and P&L have something to show. Nothing if the
    account exists (data seeded before Trading existed gets it on the next `make run`)."""
    from decimal import Decimal

    from trading_system.trading.commands import CreateAccount, PlaceOrder
    from trading_system.trading.orders import OrderRequest, OrderSide, OrderType, TimeInForce
    from trading_system.trading.queries import GetAccount

    account_id = container.settings.default_account
    try:
        container.bus.ask(GetAccount(account_id=account_id))
        return
    except NotFound:
        pass
    container.bus.execute(CreateAccount(account_id=account_id, starting_cash=Decimal(100_000)))
    # Only symbols with a known price: a demo order must fill or rest near the market.
    priced = [(name, quote) for name in names if (quote := container.ledger.quote(name)) is not None]
    for name, _ in priced[:2]:
        request = OrderRequest(
            symbol=name, side=OrderSide.BUY, qty=Decimal(50), client_order_id=f"demo-{name}"
        )
        container.bus.execute(PlaceOrder(request=request))
    for name, quote in priced[2:3]:
        request = OrderRequest(
            symbol=name,
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            qty=Decimal(20),
            limit_price=(quote.price * Decimal("0.95")).quantize(Decimal("0.01")),
            client_order_id=f"demo-{name}-limit",
        )
        container.bus.execute(PlaceOrder(request=request))


def _ingest(
    container: Container,
    names: list[str],
    stamps: list[datetime],
    timeframe: Timeframe,
    seed_value: int,
    vol: float,
    starts: dict[str, float],
) -> tuple[int, dict[str, np.ndarray]]:
    closes: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="demo-") as folder:
        path = Path(folder) / "bars.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["symbol", "ts", "open", "high", "low", "close", "volume"])
            for name in names:
                o, h, lo, c, v = walk(
                    name, len(stamps), seed_value + len(timeframe.value), vol, starts.get(name)
                )
                closes[name] = c
                iso = [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in stamps]
                writer.writerows(zip([name] * len(stamps), iso, o, h, lo, c, v, strict=True))
        report = container.bus.execute(
            IngestBarFile(timeframe=timeframe, path=str(path), format=FileFormat.CSV, source="demo")
        )
    return int(report.rows), closes
