"""Alerts out in the synthesised templates: the e-mail alerts' topic (encrypted, TLS only, in the
root), exactly the functions that use `Resource.NOTIFY` told where it is and allowed exactly what
their access asks on it and on the owners' topics named from it (`<its ARN>-*`, made at run time),
the subscriber of the alerted events, and retries with no standing schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs.alerts import AWS_MANAGED_SNS_KEY
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import by_name, refs
from trading_system.adapters import alert_channels
from trading_system.catalog import CATALOG, Function, On, Resource, Timetabled

pytestmark = pytest.mark.xdist_group("infra")

TOPIC_VARIABLE = "TRADING_ALERTS_TOPIC_ARN"
ALERTS = [e for e in CATALOG if e.context == "alerts"]
NOTIFIERS = [e for e in CATALOG if Resource.NOTIFY in e.uses]
# What each access allows (infra/constructs/functions.py), and nothing else of SNS: on the stack's
# topic ("platform") and on the owners' topics named from it ("owners").
SUBSCRIPTION_ACTIONS = {"sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"}
SNS_ACTIONS: dict[str, dict[str, set[str]]] = {
    "publish": {"platform": set(), "owners": {"sns:Publish"}},
    "write": {
        "platform": {*SUBSCRIPTION_ACTIONS, "sns:GetTopicAttributes"},
        "owners": {*SUBSCRIPTION_ACTIONS, "sns:Subscribe", "sns:CreateTopic", "sns:TagResource"},
    },
}
ALERTED_EVENTS = ["SignalDetected", "OrderFilled", "OrderRejected", "AccountHalted", "DeploymentPaused"]


def entry(name: str) -> Function:
    (found,) = [e for e in CATALOG if e.name == name]
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def sns_statements(synthesized: Synthesized, entry: Function) -> list[dict[str, Any]]:
    return [
        s for s in synthesized.statements(entry) if any(a.lower().startswith("sns:") for a in actions_of(s))
    ]


def owners_topics(topic_id: str) -> dict[str, Any]:
    """`<the topic's ARN>-*` as the template writes it."""
    return {"Fn::Join": ["", [{"Ref": topic_id}, "-*"]]}


def alerts_topic_id(synthesized: Synthesized) -> str:
    """The topic the NOTIFY functions are told about (the other topic is the alarms')."""
    variables = synthesized.function(NOTIFIERS[0])["Properties"]["Environment"]["Variables"]
    (topic_id,) = refs(variables[TOPIC_VARIABLE])
    return topic_id


# --- the catalog, as this module reads it ---------------------------------------------------------


def test_the_catalog_has_the_alerts_context_this_module_checks() -> None:
    assert {e.name for e in NOTIFIERS} == {
        "create_alert",
        "delete_alert",
        "retry_alert_delivery",
        "send_alerts",
        "retry_alert_deliveries",
    }
    assert {e.uses[Resource.NOTIFY] for e in NOTIFIERS} == set(SNS_ACTIONS)
    assert all(e.context == "alerts" for e in NOTIFIERS) and len(ALERTS) == 8


# --- the topic --------------------------------------------------------------------------------


def test_the_topic_is_in_the_root_encrypted_with_the_aws_managed_key(synthesized: Synthesized) -> None:
    topic_id = alerts_topic_id(synthesized)
    assert synthesized.deployed_with[topic_id] == topic_id  # a root resource, not a nested one
    topic = synthesized.resources[topic_id]
    assert topic["Type"] == "AWS::SNS::Topic"
    # SNS's own key (its alias' ARN): SNS uses it for anyone the account lets publish, so the
    # publishers need no KMS grant, and there is no customer managed key to bill.
    key = topic["Properties"]["KmsMasterKeyId"]
    assert json.dumps(key).endswith(f':{AWS_MANAGED_SNS_KEY}"]]}}'), key
    assert "TradingSystem" in topic["Properties"]["DisplayName"]  # the e-mails' sender
    # Its subscriptions are made at run time, by the functions, never by the stack.
    assert not synthesized.of_type("AWS::SNS::Subscription")


def test_the_topic_refuses_publishing_without_tls(synthesized: Synthesized) -> None:
    topic_id = alerts_topic_id(synthesized)
    (policy,) = [
        p["Properties"]
        for p in synthesized.of_type("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    assert policy["Topics"] == [{"Ref": topic_id}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert actions_of(statement) == ["sns:Publish"]
    assert statement["Resource"] == {"Ref": topic_id}
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_owners_topics_get_the_same_key_as_the_topic() -> None:
    """The owners' topics are made at run time (adapters/alert_channels.py) with the key this
    stack gives its topic."""
    assert alert_channels.AWS_MANAGED_SNS_KEY == AWS_MANAGED_SNS_KEY


def test_no_customer_managed_key_comes_with_the_topic(synthesized: Synthesized) -> None:
    assert not synthesized.of_type("AWS::KMS::Key")
    for notifier in NOTIFIERS:
        assert not [
            a for s in synthesized.statements(notifier) for a in actions_of(s) if a.startswith("kms:")
        ]


# --- the functions: settings and grants -----------------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_only_the_functions_that_use_the_topic_are_told_where_it_is(
    synthesized: Synthesized, entry: Function
) -> None:
    variables = synthesized.function(entry)["Properties"]["Environment"]["Variables"]
    if Resource.NOTIFY in entry.uses:
        assert variables[TOPIC_VARIABLE] == {"Ref": alerts_topic_id(synthesized)}
    else:
        assert TOPIC_VARIABLE not in variables


@pytest.mark.parametrize("entry", CATALOG, ids=by_name)
def test_sns_actions_are_exactly_what_the_access_asks_on_the_alerts_topics_only(
    synthesized: Synthesized, entry: Function
) -> None:
    statements = sns_statements(synthesized, entry)
    access = entry.uses.get(Resource.NOTIFY)
    if access is None:
        assert not statements
        return
    topic_id = alerts_topic_id(synthesized)
    granted: dict[str, set[str]] = {"platform": set(), "owners": set()}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources:
            # The stack's topic, or the owners' topics named from it: no other wildcard, no
            # subscription pattern, no other topic.
            assert resource in ({"Ref": topic_id}, owners_topics(topic_id)), resource
            granted["platform" if resource == {"Ref": topic_id} else "owners"] |= set(actions_of(statement))
    assert granted == SNS_ACTIONS[access]


@pytest.mark.parametrize("entry", NOTIFIERS, ids=by_name)
def test_a_subscriber_may_subscribe_e_mail_addresses_only(synthesized: Synthesized, entry: Function) -> None:
    """A subscription of another protocol (a queue, a function, a URL) would get alerts without
    anyone confirming it; the other SNS actions carry no protocol to condition on."""
    for statement in sns_statements(synthesized, entry):
        if "sns:Subscribe" in actions_of(statement):
            assert actions_of(statement) == ["sns:Subscribe"]
            assert statement["Condition"] == {"StringEquals": {"sns:Protocol": "email"}}
        else:
            assert "Condition" not in statement


def test_the_owners_topics_wildcard_is_acknowledged_to_cdk_nag_by_name(synthesized: Synthesized) -> None:
    """The only wildcard of the SNS grants is the owners' topics' prefix: cdk-nag (test_nag.py)
    is told of exactly that resource, nothing broader."""
    topic_id = alerts_topic_id(synthesized)
    for notifier in NOTIFIERS:
        wildcards = {
            json.dumps(r)
            for s in sns_statements(synthesized, notifier)
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
            if "*" in json.dumps(r)
        }
        assert wildcards == {json.dumps(owners_topics(topic_id))}


def test_publishers_may_not_manage_subscriptions_nor_managers_publish(synthesized: Synthesized) -> None:
    for name in ("send_alerts", "retry_alert_deliveries", "retry_alert_delivery"):
        assert {a for a in synthesized.actions(entry(name)) if a.startswith("sns:")} == {"sns:Publish"}
    for name in ("create_alert", "delete_alert"):
        assert "sns:Publish" not in synthesized.actions(entry(name))
    for name in ("list_alerts", "get_alert", "list_alert_deliveries"):
        assert not {a for a in synthesized.actions(entry(name)) if a.startswith("sns:")}


# --- triggers ---------------------------------------------------------------------------------


def test_send_alerts_runs_on_the_alerted_events_and_the_retry_runs_call(synthesized: Synthesized) -> None:
    sender = entry("send_alerts")
    assert isinstance(sender.trigger, On)
    function_id = synthesized.function_id(sender)
    (rule,) = [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if any(refs(t["Arn"]) == {function_id} for t in r["Properties"]["Targets"])
    ]
    assert sorted(rule["EventPattern"]["detail-type"]) == sorted([*ALERTED_EVENTS, "AlertRetriesWaiting"])
    assert rule["EventPattern"]["source"] == [{"prefix": "trading."}]
    assert refs(rule["EventBusName"]) == set(synthesized.of_type("AWS::Events::EventBus"))
    (target,) = rule["Targets"]
    assert refs(target["DeadLetterConfig"]["Arn"]) <= set(synthesized.of_type("AWS::SQS::Queue"))


def test_retries_have_no_standing_schedule_only_a_timetable(synthesized: Synthesized) -> None:
    """The retry schedule is made at run time while deliveries wait (alerts/handlers.py), in the
    alerts' own group (test_stack.py checks every timetable's grants): the stack deploys none."""
    retrier = entry("retry_alert_deliveries")
    assert isinstance(retrier.trigger, Timetabled) and retrier.trigger.group == "alert-retries"
    function_id = synthesized.function_id(retrier)
    assert not [
        s
        for s in synthesized.of_type("AWS::Scheduler::Schedule").values()
        if refs(s["Properties"]["Target"]["Arn"]) == {function_id}
    ]
    writers = {e.name for e in ALERTS if Resource.TIMETABLE in e.uses}
    assert writers == {"send_alerts", "retry_alert_delivery", "retry_alert_deliveries"}
    # One run at a time: a slow round must not overlap the next minute's.
    assert synthesized.function(retrier)["Properties"]["ReservedConcurrentExecutions"] == 1


def test_the_alerts_functions_live_in_their_own_nested_stack(synthesized: Synthesized) -> None:
    stacks = {synthesized.deployed_with[synthesized.function_id(e)] for e in ALERTS}
    (stack_id,) = stacks
    assert synthesized.root.resources[stack_id]["Type"] == "AWS::CloudFormation::Stack"
    assert stack_id.startswith("Alerts")
