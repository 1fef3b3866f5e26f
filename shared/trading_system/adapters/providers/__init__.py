"""Market-data providers by name, each built on first use from the settings (a function that
backfills from Alpaca never imports CCXT)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from trading_system.config import Settings
from trading_system.market_data.ports import MarketDataProvider, RetryPolicy, UnknownProvider

CCXT_EXCHANGES = ("binance", "coinbase", "kraken")
PROVIDERS = ("alpaca", *CCXT_EXCHANGES)


class ProviderRegistry:
    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.retry = RetryPolicy(attempts=settings.provider_attempts, sleep=sleep)
        # One lake write and one BarsIngested per 250,000 bars or so (25 of Alpaca's largest pages):
        # a write costs about 12 ms plus 0.4 us a bar, so smaller batches spend their time on the
        # fixed part (tests/bench/test_backfill_bench.py). An interruption re-fetches one batch.
        self.ingest_batch_rows = 250_000
        self._built: dict[str, MarketDataProvider] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(PROVIDERS)

    def get(self, name: str) -> MarketDataProvider:
        if name not in PROVIDERS:
            raise UnknownProvider(name, PROVIDERS)
        with self._lock:
            if name not in self._built:
                self._built[name] = self._build(name)
            return self._built[name]

    def _build(self, name: str) -> MarketDataProvider:
        if name == "alpaca":
            from trading_system.adapters.providers.alpaca import AlpacaProvider

            return AlpacaProvider.from_settings(self.settings)
        from trading_system.adapters.providers.ccxt_exchange import CcxtProvider

        return CcxtProvider.from_settings(name, self.settings)
