"""The alarms someone must hear about and one dashboard, at almost no idle cost.

CloudWatch bills each alarm metric every month, traffic or not, and each dashboard beyond three.
So the platform alarms on aggregates, not per function: Lambda's account-level Errors and
Throttles (every function of the account and region: deploy the platform in an account of its
own, as docs/OPERATIONS.md advises, and they are the platform's), the API's 5xx, and per
context one metric-math alarm over its dead-letter queues (at most ten metrics per alarm, so one
more every ten queues). The one dashboard finds functions and queues by Metrics Insights queries,
which cost nothing to display and need no change when the catalog grows. Alarms notify one SNS
topic, in the root stack.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.functions import METRICS_NAMESPACE

PERIOD = cdk.Duration.minutes(5)
METRICS_PER_ALARM = 10  # CloudWatch's limit for a metric-math alarm
_AT_LEAST_ONE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
_TOP = 10  # functions or queues a dashboard widget shows, the worst first


class Observability(Construct):
    """The root stack's alarms, topic and dashboard; `watch_dead_letters` adds a context's."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        http_api: apigw.HttpApi,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self._dashboard_name = dashboard_name
        self._http_api = http_api
        self._alarm(self, "LambdaErrors", _lambda("Errors"), "a function failed")
        self._alarm(self, "LambdaThrottles", _lambda("Throttles"), "a function was throttled")
        self._alarm(
            self, "ApiServerErrors", http_api.metric_server_error(period=PERIOD), "the API answered 5xx"
        )

    def watch_dead_letters(self, scope: Construct, queues: Mapping[str, sqs.IQueue], context: str) -> None:
        """In `scope` (the context's stack), alarms while any of `queues` holds a message: each
        one is an event or a file the platform did not process."""
        names = sorted(queues)
        for start in range(0, len(names), METRICS_PER_ALARM):
            group = names[start : start + METRICS_PER_ALARM]
            depth = {
                f"q{i}": queues[name].metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                )
                for i, name in enumerate(group)
            }
            self._alarm(
                scope,
                f"DeadLetters{start // METRICS_PER_ALARM + 1}",
                cloudwatch.MathExpression(
                    expression=f"MAX([{', '.join(depth)}])",
                    using_metrics=depth,
                    period=PERIOD,
                    label="dead letters waiting",
                ),
                f"{context}: dead letters waiting to be inspected and replayed ({', '.join(group)})",
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

    def build_dashboard(self) -> cloudwatch.Dashboard:
        """The dashboard, once every stack has added its alarms."""
        api = self._http_api
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=self._dashboard_name, default_interval=cdk.Duration.hours(3)
        )
        dashboard.add_widgets(
            _graph("API requests", [api.metric_count(period=PERIOD)]),
            _graph(
                "API errors", [api.metric_client_error(period=PERIOD), api.metric_server_error(period=PERIOD)]
            ),
            _graph("API latency p90", [api.metric_latency(period=PERIOD, statistic="p90")]),
        )
        dashboard.add_widgets(*self._business_widgets())
        dashboard.add_widgets(
            _top("Functions: errors", "SUM(Errors)", "AWS/Lambda", "FunctionName"),
            _top("Functions: throttles", "SUM(Throttles)", "AWS/Lambda", "FunctionName"),
            _graph(
                "Functions: duration p99 / max, every function",
                [_lambda("Duration", "p99"), _lambda("Duration", "Maximum")],
            ),
        )
        dashboard.add_widgets(
            _top(
                "Functions: slowest (max duration)", "MAX(Duration)", "AWS/Lambda", "FunctionName", width=24
            ),
        )
        dashboard.add_widgets(
            _top("Functions: invocations", "SUM(Invocations)", "AWS/Lambda", "FunctionName", width=12),
            _top(
                "Queues: messages waiting",
                "MAX(ApproximateNumberOfMessagesVisible)",
                "AWS/SQS",
                "QueueName",
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Alarms", width=24)
        )
        return dashboard

    def _business_widgets(self) -> list[cloudwatch.IWidget]:
        """The platform's own metrics (entrypoints/business_metrics.py, written as EMF in the
        namespace the functions are given), summed over their dimensions or split by label."""
        return [
            _graph(
                "Orders placed / filled",
                [_business("SUM(OrdersPlaced)", "placed"), _business("SUM(OrdersFilled)", "filled")],
            ),
            _top("Orders rejected, by reason", "SUM(OrdersRejected)", METRICS_NAMESPACE, "reason"),
            _graph(
                "Fill delay and scan duration (s): average / max",
                [
                    _business("AVG(FillDelaySeconds)", "fill delay avg"),
                    _business("MAX(FillDelaySeconds)", "fill delay max"),
                    _business("AVG(ScanDurationSeconds)", "scan avg"),
                    _business("MAX(ScanDurationSeconds)", "scan max"),
                ],
            ),
            _top("Signals, by scanner", "SUM(Signals)", METRICS_NAMESPACE, "scanner", width=12),
            _graph(
                "Scans and bars ingested",
                [_business("SUM(Scans)", "scans"), _business("SUM(BarsIngested)", "bars")],
                width=12,
            ),
        ]

    def _alarm(
        self,
        scope: Construct,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator = _AT_LEAST_ONE,
    ) -> None:
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            metric=metric,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            # No data means no invocations (or no messages), hence nothing wrong: not an alarm.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)


def _lambda(metric_name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """A Lambda metric over every function of the account and region (no dimension)."""
    return cloudwatch.Metric(
        namespace="AWS/Lambda", metric_name=metric_name, statistic=statistic, period=PERIOD
    )


def _business(aggregate: str, label: str) -> cloudwatch.MathExpression:
    """One of the platform's metrics over all its dimensions, by a Metrics Insights query."""
    return cloudwatch.MathExpression(
        expression=f'SELECT {aggregate} FROM "{METRICS_NAMESPACE}"', period=PERIOD, label=label
    )


def _top(
    title: str, aggregate: str, namespace: str, dimension: str, *, width: int = 8
) -> cloudwatch.GraphWidget:
    """The resources with the highest `aggregate`, found by a Metrics Insights query."""
    query = (
        f'SELECT {aggregate} FROM SCHEMA("{namespace}", {dimension}) '
        f"GROUP BY {dimension} ORDER BY {aggregate.split('(')[0]}() DESC LIMIT {_TOP}"
    )
    return _graph(title, [cloudwatch.MathExpression(expression=query, period=PERIOD)], width=width)


def _graph(title: str, left: list[cloudwatch.IMetric], *, width: int = 8) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=left, width=width, height=6)
