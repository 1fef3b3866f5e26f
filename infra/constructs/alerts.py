"""Alerts out (the `alerts` context): the SNS topic e-mail alerts are named from.

E-mail goes out on one topic per owner (the user whose alerts they are), made at run time on the
owner's first e-mail alert by the functions that use `Resource.NOTIFY` with "write" access, and
named `<this topic's name>-<hash of the owner>` in this topic's region and account
(adapters/alert_channels.py). SNS asks an address to confirm once per topic, so an address that
confirmed for one user receives nothing of another user's until it confirms for that user too.
The owners' topics get this topic's protections (SNS's AWS managed key, a policy refusing publish
without TLS) and its display name followed by the owner, and are tagged
`trading:alerts-owner-topic-of=<this topic's name>`. Each address that gets an owner's alerts is
one subscription of the owner's topic (SNS first mails the address a confirmation); its filter
policy lists the owner's alerts that send to the address, and each message published carries its
alert's id as the `alert_id` attribute. Which functions may make topics, subscribe or publish, on
this topic and `<its ARN>-*` only, and the topic's ARN they are told, come from the catalog
through `Functions`.

This topic itself carries nothing any more: it names the owners' topics, and keeps the
subscriptions made before owners had topics until `trading alerts move-email` moves them.

The owners' topics are not in the stack, so `cdk destroy` leaves them: `trading alerts
remove-topics --yes` (with TRADING_ALERTS_TOPIC_ARN set to this topic's ARN) deletes them and
their subscriptions (docs/OPERATIONS.md).

The topic is in the root stack with the other resources that outlive a function. Its logical id
must never change: a new topic would name new owners' topics, with none of the subscriptions the
addresses confirmed (tests/infra pins it).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

# SNS's AWS managed key. Its key policy lets every principal of the account use it through SNS,
# so a function allowed sns:Publish needs no KMS grant of its own, and there is no key to pay for
# ($1 a month) or to manage. A customer managed key is needed only where an AWS service publishes
# (CloudWatch alarms, EventBridge, S3), whose principals the AWS managed key's policy does not
# admit; only the platform's own functions publish here. It stays so with `-c customerManagedKey=true`,
# whose key is for the data kept (the table, the buckets): a message here lives only until SNS has
# mailed it.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


class AlertsTopic(Construct):
    """The e-mail alerts' topic: encrypted at rest (`AWS_MANAGED_SNS_KEY`), and its policy refuses
    any publish that does not come over TLS."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            # The sender's name in the e-mails; the stack's name tells two deployments apart.
            display_name=f"{cdk.Stack.of(self).stack_name} alerts",
            master_key=kms.Alias.from_alias_name(self, "AwsManagedKey", AWS_MANAGED_SNS_KEY),
            enforce_ssl=True,
        )
