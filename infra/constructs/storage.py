"""Where the platform keeps data: the Parquet lake, the raw-upload bucket and the write store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra import nag

# Uploads that never complete still cost storage until aborted; a day covers any real upload.
_ABORT_INCOMPLETE_UPLOADS_AFTER = cdk.Duration.days(1)
# Raw files are versioned so an overwritten upload can be recovered; old versions do not live forever.
_RAW_NONCURRENT_VERSIONS_EXPIRE_AFTER = cdk.Duration.days(30)
# Lake files are rewritten by compaction, which deletes what it merged: a week of old versions
# undoes a bad compaction or a stray delete (docs/OPERATIONS.md) without keeping every merge.
_LAKE_NONCURRENT_VERSIONS_EXPIRE_AFTER = cdk.Duration.days(7)
# Bucket names are at most 63 characters; `-<12-digit account>-<region>` takes up to 29 of them.
_NAME_PREFIX_MAX = 30


class Storage(Construct):
    """The lake bucket, the raw-upload bucket and the DynamoDB table: the platform's data, all kept
    (RETAIN) when the stack or a resource is removed. Their logical ids must never change, or an
    update would replace them (tests/infra pins them).

    The raw bucket gets an explicit name (stack name, account, region), and everything that refers
    to it goes through `raw`, a reference built from that name. The bucket's notifications name the
    ingesting function, and the function's IAM policy names the bucket: if the policy referred to
    the bucket resource, CloudFormation would face a dependency cycle. With the name known up front
    there is no cycle, and no custom-resource Lambda is needed to set the notifications afterwards.

    The notifications live on the bucket resource itself (CloudFormation's
    NotificationConfiguration) rather than through `Bucket.add_event_notification`, which deploys
    a custom-resource Lambda that is in no catalog. They are gathered here, from whichever stacks
    the notified functions live in (`notify_on_upload`), because the bucket has one configuration.
    """

    def __init__(self, scope: Construct, construct_id: str, *, customer_managed_key: bool = False) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        # By default AWS keys encrypt the data (S3 managed, DynamoDB's AWS owned): free, and
        # nothing to manage. A key of the account's own ($1 a month and per request) lets it
        # audit every use in CloudTrail, and revoke them all at once by disabling it.
        self.key: kms.IKey | None = None
        if customer_managed_key:
            self.key = kms.Key(
                self,
                "DataKey",
                description=f"{stack.stack_name}: the table and the lake and raw buckets",
                enable_key_rotation=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,  # data encrypted with it outlives the stack
            )

        # The lake is the only copy of bars ingested through the API: versioned, old versions
        # kept a week.
        self.lake_bucket = _private_bucket(
            self,
            "LakeBucket",
            key=self.key,
            versioned=True,
            lifecycle_rule=s3.LifecycleRule(
                abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS_AFTER,
                noncurrent_version_expiration=_LAKE_NONCURRENT_VERSIONS_EXPIRE_AFTER,
            ),
        )

        self.raw_bucket_name = f"{_name_prefix(stack.stack_name)}-raw-{stack.account}-{stack.region}"
        self.raw_bucket = _private_bucket(
            self,
            "RawBucket",
            bucket_name=self.raw_bucket_name,
            key=self.key,
            versioned=True,
            lifecycle_rule=s3.LifecycleRule(
                abort_incomplete_multipart_upload_after=_ABORT_INCOMPLETE_UPLOADS_AFTER,
                noncurrent_version_expiration=_RAW_NONCURRENT_VERSIONS_EXPIRE_AFTER,
            ),
        )
        self.raw: s3.IBucket = s3.Bucket.from_bucket_name(self, "RawBucketByName", self.raw_bucket_name)
        self._upload_notifications: list[s3.CfnBucket.LambdaConfigurationProperty] = []

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The event store and the API keys: never lost to a stack update or a stray delete.
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if self.key else dynamodb.TableEncryption.DEFAULT
            ),
            encryption_key=self.key,
            # Items with a `ttl` (epoch seconds) expire: WebSocket connections that never said goodbye
            # (adapters/aws/dynamodb_store.py writes it from a document's TTL_FIELD).
            time_to_live_attribute="ttl",
        )

    def notify_on_upload(
        self, function: lambda_.IFunction, suffixes: Sequence[str], *, permission: IConstruct
    ) -> None:
        """`s3:ObjectCreated:*` of a key ending in one of `suffixes` invokes `function`. S3 checks
        that it may invoke the function when the configuration is set, so the bucket waits for
        `permission` (when it is in a nested stack, for that whole stack)."""
        bucket = self.raw_bucket.node.default_child
        if not isinstance(bucket, s3.CfnBucket):
            raise TypeError(f"expected the raw bucket's CfnBucket, got {bucket!r}")
        self._upload_notifications += [
            s3.CfnBucket.LambdaConfigurationProperty(
                event="s3:ObjectCreated:*",
                function=function.function_arn,
                filter=s3.CfnBucket.NotificationFilterProperty(
                    s3_key=s3.CfnBucket.S3KeyFilterProperty(
                        rules=[s3.CfnBucket.FilterRuleProperty(name="suffix", value=suffix)]
                    )
                ),
            )
            for suffix in suffixes
        ]
        bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            lambda_configurations=list(self._upload_notifications)
        )
        bucket.node.add_dependency(permission)


def _private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey | None,
    versioned: bool,
    lifecycle_rule: s3.LifecycleRule,
    bucket_name: str | None = None,
) -> s3.Bucket:
    """Encrypted (with `key` when given, S3's own key otherwise), TLS only, never public, ACLs
    off; kept when the stack is deleted."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=key is not None,  # one data key per bucket, not a KMS call per object
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        lifecycle_rules=[lifecycle_rule],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    nag.acknowledge(
        bucket,
        "AwsSolutions-S1",
        "no server access logs: only the platform's own functions read and write it, and their logs "
        "and traces record each request; they would need a third bucket and cost per request. "
        "CloudTrail data events give an audit trail where one is required (docs/OPERATIONS.md)",
    )
    return bucket


def _name_prefix(stack_name: str) -> str:
    """A bucket-name-safe form of the stack name, shortened with a hash suffix when too long."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", stack_name.lower()).strip("-") or "trading"
    if len(prefix) > _NAME_PREFIX_MAX:
        suffix = hashlib.sha256(stack_name.encode()).hexdigest()[:8]
        prefix = f"{prefix[: _NAME_PREFIX_MAX - 9].rstrip('-')}-{suffix}"
    return prefix
