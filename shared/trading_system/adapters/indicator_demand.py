"""Analytics' IndicatorDemand answered from Scanning's scanners: the indicators that the rules of
a timeframe's enabled scanners read. It lives among the adapters because it joins two contexts,
which only the outer layers may do."""

from __future__ import annotations

from trading_system.analytics.specs import IndicatorSpec
from trading_system.market_data.domain import Timeframe
from trading_system.scanning.ports import ScannerRepository


class ScannerIndicatorDemand:
    def __init__(self, scanners: ScannerRepository):
        self.scanners = scanners

    def specs(self, timeframe: Timeframe) -> set[IndicatorSpec]:
        texts = [
            text
            for scanner in self.scanners.list()
            if scanner.enabled and scanner.timeframe is timeframe
            for text in scanner.rules
        ]
        if not texts:  # the rule language's parser is built on import: a cold start's 100-150 ms
            return set()
        from trading_system.scanning import rules

        specs: set[IndicatorSpec] = set()
        for text in texts:
            specs |= rules.compile_rule(rules.parse(text)).specs
        return specs
