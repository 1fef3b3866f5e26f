"""S3 notifications: a file landing in the raw bucket invokes the `FileDropped` entry's function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.catalog import FileDropped, Function
from infra.constructs.dead_letters import AsyncInvocation
from infra.constructs.functions import pascal_case
from infra.constructs.storage import Storage


class Uploads(Construct):
    """`s3:ObjectCreated:*` per suffix of each `FileDropped` entry -> its function, which S3
    invokes asynchronously: bounded retries, then the function's dead-letter queue.

    The notifications are set on the bucket resource itself (CloudFormation's
    NotificationConfiguration) rather than through `Bucket.add_event_notification`, which deploys
    a custom-resource Lambda that is in no catalog. S3 checks that it may invoke the function
    when the configuration is set, so the bucket waits for the invoke permission.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Sequence[Function],
        functions: Mapping[str, lambda_.Function],
        storage: Storage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        notifications: list[s3.CfnBucket.LambdaConfigurationProperty] = []
        bucket = storage.raw_bucket.node.default_child
        if not isinstance(bucket, s3.CfnBucket):
            raise TypeError(f"expected the raw bucket's CfnBucket, got {bucket!r}")
        for entry in catalog:
            if not isinstance(entry.trigger, FileDropped):
                continue
            function = functions[entry.name]
            name = pascal_case(entry.name)
            self.dead_letter_queues[entry.name] = AsyncInvocation(self, name, function=function).queue
            permission = lambda_.CfnPermission(
                self,
                f"{name}InvokedByS3",
                action="lambda:InvokeFunction",
                function_name=function.function_arn,
                principal="s3.amazonaws.com",
                # The ARN from the name, not the resource: see Storage on the dependency cycle.
                source_arn=storage.raw.bucket_arn,
                source_account=cdk.Aws.ACCOUNT_ID,
            )
            bucket.node.add_dependency(permission)
            notifications += [
                s3.CfnBucket.LambdaConfigurationProperty(
                    event="s3:ObjectCreated:*",
                    function=function.function_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[s3.CfnBucket.FilterRuleProperty(name="suffix", value=suffix)]
                        )
                    ),
                )
                for suffix in entry.trigger.suffixes
            ]
        if notifications:
            bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
                lambda_configurations=notifications
            )

    @property
    def wired(self) -> set[str]:
        return set(self.dead_letter_queues)
