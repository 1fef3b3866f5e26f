"""Alerts out (the `alerts` context): the SNS topic e-mail alerts go through.

One topic carries every e-mail alert. Each address that gets alerts by e-mail is one subscription
of it, made at run time by the functions that use `Resource.NOTIFY` with "write" access (SNS first
mails the address a confirmation); a subscription's filter policy lists the alerts that send to
the address, and each message published carries its alert's id as the `alert_id` attribute
(adapters/alert_channels.py). Which functions may subscribe or publish, and the topic's ARN they
are told, come from the catalog through `Functions`.

The topic is in the root stack with the other resources that outlive a function. Its logical id
must never change: a new topic would have none of the subscriptions the addresses confirmed
(tests/infra pins it).
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
