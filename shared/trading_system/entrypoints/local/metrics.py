"""The local runtime's business metrics in Prometheus' format, at /metrics (no key: counts only,
like any exporter; put it behind the network's own controls when the runtime is on a LAN)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from trading_system.entrypoints.business_metrics import DEFINITIONS, Sample, dead_lettered, samples
from trading_system.kernel.messages import Envelope

# Seconds: a fill's delay runs from sub-second (live bars) to days (a bar filled after a weekend).
_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600, 86_400, 7 * 86_400)


class PrometheusMetrics:
    """A registry of its own (not the process-wide default), so two runtimes in one process, as
    in tests, never count into each other."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        for definition in DEFINITIONS:
            name = f"trading_{definition.name}"
            if definition.kind == "counter":
                metric: Any = Counter(name, definition.help, definition.labels, registry=self.registry)
            else:
                metric = Histogram(
                    name, definition.help, definition.labels, registry=self.registry, buckets=_BUCKETS
                )
            self._metrics[definition.name] = metric

    def observe(self, envelope: Envelope) -> None:
        for sample in samples(envelope):
            self.record(sample)

    def dead_lettered(self, subscriber: str, envelope: Envelope) -> None:
        self.record(dead_lettered(subscriber))

    def record(self, sample: Sample) -> None:
        metric = self._metrics[sample.name]
        if sample.labels:
            metric = metric.labels(**sample.labels)
        if sample.definition.kind == "counter":
            metric.inc(sample.value)
        else:
            metric.observe(sample.value)

    async def endpoint(self, request: Request) -> Response:
        """The scrape: every metric in the text format Prometheus reads."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
