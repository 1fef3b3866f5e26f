"""What the stack costs when nobody uses it, counted from the synthesised template (issue 12).

docs/COSTS.md shows the idle table this module renders (`idle_table`); the test fails when the
template bills more (or less) than the document says, so the figure cannot silently grow.
Prices: AWS's public list prices, us-east-1, December 2026.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.infra.conftest import Synthesized
from trading_system.catalog import CATALOG, Every

COSTS_MD = Path(__file__).resolve().parents[2] / "docs" / "COSTS.md"

ALARM_METRIC_MONTH = 0.10  # standard resolution, per metric an alarm evaluates
DASHBOARD_MONTH = 3.00  # beyond the first three of the account, which are free
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND_ARM = 0.0000133334
LOG_INGEST_GB = 0.50
# A scheduled run with nothing to do: assumed, not measured in AWS (docs/COSTS.md says so).
IDLE_RUN_SECONDS = 0.1
IDLE_RUN_LOG_BYTES = 1_000
MINUTES_A_MONTH = 365.25 * 24 * 60 / 12
# Lambda SnapStart for Python (issue 13): each published version's snapshot is cached, billed by
# the function's memory for every second the version exists (at least 3 hours a version), and
# each restore by the memory it restores.
SNAPSTART_CACHE_GB_SECOND = 0.0000015046
SNAPSTART_RESTORE_GB = 0.0001397998
SECONDS_A_MONTH = MINUTES_A_MONTH * 60
WEEKDAYS_A_MONTH = 365.25 * 5 / 7 / 12
DAYS_A_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Row:
    item: str
    count: float
    unit: str
    monthly: float

    def render(self) -> str:
        count = f"{self.count:,.0f}"
        return f"| {self.item} | {count} {self.unit} | ${self.monthly:,.2f} |"


def runs_a_month(expression: str) -> float:
    """How often an EventBridge schedule fires in an average month (the forms the catalog uses)."""
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if rate:
        every = int(rate[1]) * {"minute": 1, "hour": 60, "day": 1440}[rate[2]]
        return MINUTES_A_MONTH / every
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    assert cron, f"a schedule this cost model cannot read: {expression}"
    minute, hour, _, _, weekday, _ = cron.groups()
    hours = re.fullmatch(r"\*|(\d+)(?:-(\d+))?", hour)
    minutes = re.fullmatch(r"(\d+)(?:/(\d+))?", minute)
    assert minutes and hours, f"a minute (or every n from one) of some hours expected: {expression}"
    runs_an_hour = (60 - int(minutes[1]) + int(minutes[2]) - 1) // int(minutes[2]) if minutes[2] else 1
    hours_a_day = 24 if hour == "*" else int(hours[2] or hours[1]) - int(hours[1]) + 1
    runs_a_day = hours_a_day * runs_an_hour
    return runs_a_day * (WEEKDAYS_A_MONTH if weekday == "MON-FRI" else DAYS_A_MONTH)


def idle_rows(synthesized: Synthesized) -> list[Row]:
    alarms = synthesized.of_type("AWS::CloudWatch::Alarm").values()
    metrics = sum(
        len([m for m in a["Properties"].get("Metrics", []) if "MetricStat" in m]) or 1 for a in alarms
    )
    dashboards = len(synthesized.of_type("AWS::CloudWatch::Dashboard"))
    rows = [
        Row("CloudWatch alarm metrics", metrics, "metrics", metrics * ALARM_METRIC_MONTH),
        Row(
            "CloudWatch dashboards (beyond the account's 3 free)",
            dashboards,
            "dashboards",
            dashboards * DASHBOARD_MONTH,
        ),
    ]
    rows += snap_start_rows(synthesized)
    for entry in CATALOG:
        if isinstance(entry.trigger, Every):
            runs = runs_a_month(entry.trigger.expression)
            gb_seconds = runs * entry.memory_mb / 1024 * IDLE_RUN_SECONDS
            cost = (
                runs * LAMBDA_REQUEST
                + gb_seconds * LAMBDA_GB_SECOND_ARM
                + runs * IDLE_RUN_LOG_BYTES / 1e9 * LOG_INGEST_GB
            )
            rows.append(
                Row(f"`{entry.name}` ({entry.trigger.expression}, {entry.memory_mb} MB)", runs, "runs", cost)
            )
    return rows


def snap_start_rows(synthesized: Synthesized) -> list[Row]:
    """The SnapStart caches: every version of a SnapStart function the template keeps, billed by
    its memory around the clock (the version a deployment replaces is deleted, so one each)."""
    entries = {entry.handler.replace(":", "."): entry for entry in CATALOG}
    versions = synthesized.of_type("AWS::Lambda::Version").values()
    rows = []
    for function_id, function in synthesized.of_type("AWS::Lambda::Function").items():
        properties = function["Properties"]
        if properties.get("SnapStart") != {"ApplyOn": "PublishedVersions"}:
            continue
        kept = len([v for v in versions if v["Properties"]["FunctionName"] == {"Ref": function_id}])
        memory_mb = properties["MemorySize"]
        name = entries[properties["Handler"]].name
        cost = kept * memory_mb / 1024 * SECONDS_A_MONTH * SNAPSTART_CACHE_GB_SECOND
        rows.append(Row(f"SnapStart cache of `{name}` ({memory_mb} MB)", kept, "versions", cost))
    return sorted(rows, key=lambda row: row.item)


def idle_table(rows: list[Row]) -> str:
    total = sum(r.monthly for r in rows)
    lines = ["| billed when idle | how many a month | USD a month |", "|---|---:|---:|"]
    lines += [r.render() for r in rows]
    lines.append(f"| **total** | | **${total:,.2f}** |")
    return "\n".join(lines)


def test_the_documented_idle_cost_is_the_templates(synthesized: Synthesized) -> None:
    table = idle_table(idle_rows(synthesized))
    assert table in COSTS_MD.read_text(), f"docs/COSTS.md must show the idle cost as it is now:\n{table}"


def test_nothing_else_bills_by_the_month(synthesized: Synthesized) -> None:
    """Resources with a monthly charge of their own that the idle table does not count: adding
    one is a decision to write into the table (and into this test)."""
    for kind in (
        "AWS::KMS::Key",  # $1 a month each
        "AWS::SecretsManager::Secret",  # $0.40 a month each
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCEndpoint",
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::CacheCluster",
        "AWS::Lambda::EventSourceMapping",  # polls a queue whether or not it holds messages
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::Synthetics::Canary",
    ):
        assert not synthesized.of_type(kind), kind
    for function in synthesized.of_type("AWS::Lambda::Function").values():
        assert "ProvisionedConcurrencyConfig" not in function["Properties"]
    # Provisioned concurrency lives on aliases (the SnapStart functions' `live`) and versions.
    for kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
        for resource in synthesized.of_type(kind).values():
            assert "ProvisionedConcurrencyConfig" not in resource["Properties"]
    tables = synthesized.of_type("AWS::DynamoDB::Table").values()
    assert all(t["Properties"]["BillingMode"] == "PAY_PER_REQUEST" for t in tables)


def test_each_snap_start_function_keeps_one_cached_version(synthesized: Synthesized) -> None:
    rows = snap_start_rows(synthesized)
    assert len(rows) == len([entry for entry in CATALOG if entry.snap_start]) > 0
    assert all(row.count == 1 for row in rows)


def test_the_cost_model_reads_every_schedule_of_the_catalog() -> None:
    assert runs_a_month("rate(1 minute)") == MINUTES_A_MONTH
    assert runs_a_month("rate(5 minutes)") == MINUTES_A_MONTH / 5
    assert runs_a_month("cron(30 0 * * ? *)") == DAYS_A_MONTH
    assert runs_a_month("cron(0 * * * ? *)") == 24 * DAYS_A_MONTH
    assert round(runs_a_month("cron(0 21 ? * MON-FRI *)"), 2) == 21.74
