"""Business metrics: what each domain event counts, declared once for both runtimes.

The bus shows every published event to its observers; `samples` turns one into the metric
samples it stands for. In Lambda they become CloudWatch metrics through Powertools' EMF
(`lambda_runtime`), named in CamelCase (`OrdersPlaced`) with the labels as dimensions; locally
they go into a Prometheus registry served at /metrics (`local/metrics.py`), named
`trading_<name>_total` for counters and `trading_<name>` for histograms. docs/grafana/trading.json
charts the Prometheus names, and a test holds it to this list.

Labels stay few and bounded (an order type, a rejection's reason code, a scanner id, a
subscriber), never an id of an order or a free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from trading_system.kernel.messages import Envelope


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    kind: Literal["counter", "histogram"]
    unit: Literal["count", "seconds"]
    help: str
    labels: tuple[str, ...] = ()

    @property
    def cloudwatch_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def prometheus_name(self) -> str:
        """As exposed: counters end in `_total`."""
        return f"trading_{self.name}" + ("_total" if self.kind == "counter" else "")


DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition("orders_placed", "counter", "count", "Orders placed, by type", ("type",)),
    MetricDefinition("orders_rejected", "counter", "count", "Orders rejected, by reason", ("reason",)),
    MetricDefinition("orders_filled", "counter", "count", "Fills (a partial fill counts once)"),
    MetricDefinition(
        "fill_delay_seconds",
        "histogram",
        "seconds",
        "From the market time of the price an order filled at to the fill",
    ),
    MetricDefinition("signals", "counter", "count", "Signals raised, by scanner", ("scanner",)),
    MetricDefinition("scans", "counter", "count", "Scans run, by what started them", ("trigger",)),
    MetricDefinition("scan_duration_seconds", "histogram", "seconds", "How long a scan took"),
    MetricDefinition("bars_ingested", "counter", "count", "Bars written to the lake"),
    MetricDefinition(
        "dead_letters", "counter", "count", "Events a subscriber gave up on, by subscriber", ("subscriber",)
    ),
)
BY_NAME: Mapping[str, MetricDefinition] = {d.name: d for d in DEFINITIONS}


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def definition(self) -> MetricDefinition:
        return BY_NAME[self.name]


def samples(envelope: Envelope) -> list[Sample]:
    """The samples one published event stands for (none for most events)."""
    payload = envelope.payload
    match envelope.event_type:
        case "OrderPlaced":
            return [Sample("orders_placed", 1, {"type": str(payload["type"])})]
        case "OrderRejected":
            return [Sample("orders_rejected", 1, {"reason": str(payload.get("code") or "other")})]
        case "OrderFilled":
            # the payload is the event's JSON form: times are ISO 8601 text
            delay = (
                datetime.fromisoformat(payload["at"]) - datetime.fromisoformat(payload["market_time"])
            ).total_seconds()
            return [Sample("orders_filled", 1), Sample("fill_delay_seconds", max(delay, 0.0))]
        case "SignalDetected":
            return [Sample("signals", 1, {"scanner": str(payload["scanner_id"])})]
        case "ScanCompleted":
            return [
                Sample("scans", 1, {"trigger": str(payload["trigger"])}),
                Sample("scan_duration_seconds", float(payload["duration_ms"]) / 1000),
            ]
        case "BarsIngested":
            return [Sample("bars_ingested", float(payload["rows"]))]
    return []


def dead_lettered(subscriber: str) -> Sample:
    return Sample("dead_letters", 1, {"subscriber": subscriber})
