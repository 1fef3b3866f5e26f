"""CloudWatch dashboards and the alarms someone must hear about: function errors and throttles,
dead letters waiting, and API server errors. Alarms notify one SNS topic, in the root stack."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.functions import pascal_case

PERIOD = cdk.Duration.minutes(5)
_AT_LEAST_ONE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
_WIDGETS_PER_ROW = 3  # of width 8: the dashboard grid is 24 wide


class Observability(Construct):
    """One stack's alarms and dashboard: errors and throttles of each function, dead letters of
    each queue, and, given the HTTP API, its server errors and traffic.

    Alarms notify `topic`, or a topic of its own (the root's, which the other stacks are given)
    that `alarm_email` subscribes to. Each stack keeps its own alarms and dashboard so that no
    stack grows with the whole catalog.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        dashboard_name: str,
        topic: sns.ITopic | None = None,
        alarm_email: str | None = None,
        http_api: apigw.HttpApi | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if topic is None:
            topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
            if alarm_email:
                topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        elif alarm_email:
            raise ValueError("alarm_email subscribes to the topic Observability creates, not to a given one")
        self.topic = topic
        self._action = cloudwatch_actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for name, function in functions.items():
            self._alarm(f"{pascal_case(name)}Errors", function.metric_errors(period=PERIOD), f"{name} failed")
            self._alarm(
                f"{pascal_case(name)}Throttles",
                function.metric_throttles(period=PERIOD),
                f"{name} was throttled",
            )
        for name, queue in dead_letter_queues.items():
            # Any message at all: each one is an event or a file the platform did not process.
            self._alarm(
                f"{pascal_case(name)}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"{name} has dead letters waiting to be inspected and replayed",
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=cdk.Duration.hours(3)
        )
        if http_api is not None:
            self._alarm(
                "ApiServerErrors", http_api.metric_server_error(period=PERIOD), "the API answered 5xx"
            )
            self.dashboard.add_widgets(
                _graph("API requests", [http_api.metric_count(period=PERIOD)]),
                _graph(
                    "API errors",
                    [
                        http_api.metric_client_error(period=PERIOD),
                        http_api.metric_server_error(period=PERIOD),
                    ],
                ),
                _graph("API latency p90", [http_api.metric_latency(period=PERIOD, statistic="p90")]),
            )
        function_widgets = [
            _graph(
                name,
                [
                    function.metric_invocations(period=PERIOD),
                    function.metric_errors(period=PERIOD),
                    function.metric_throttles(period=PERIOD),
                ],
                right=[function.metric_duration(period=PERIOD, statistic="p90")],
            )
            for name, function in functions.items()
        ]
        for start in range(0, len(function_widgets), _WIDGETS_PER_ROW):
            self.dashboard.add_widgets(*function_widgets[start : start + _WIDGETS_PER_ROW])
        bottom: list[cloudwatch.IWidget] = []
        if dead_letter_queues:
            bottom.append(
                _graph(
                    "Dead letters waiting",
                    [
                        queue.metric_approximate_number_of_messages_visible(
                            period=PERIOD, statistic="Maximum", label=name
                        )
                        for name, queue in dead_letter_queues.items()
                    ],
                    width=12,
                )
            )
        bottom.append(cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Alarms", width=12))
        self.dashboard.add_widgets(*bottom)

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.Metric,
        description: str,
        *,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator = _AT_LEAST_ONE,
    ) -> None:
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            # No data means no invocations, hence no errors: not an alarm.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)


def _graph(
    title: str,
    left: list[cloudwatch.IMetric],
    *,
    right: list[cloudwatch.IMetric] | None = None,
    width: int = 8,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=left, right=right or [], width=width, height=6)
