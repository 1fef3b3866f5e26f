"""One Lambda per catalog entry, with exactly the grants and settings its `uses` asks for."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import nag, packaging
from infra.constructs import snap_started
from infra.constructs.storage import Storage
from trading_system.catalog import Access, Function, Layer, Resource

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# What each access to a bucket allows, on its objects and on the bucket itself: named actions, not
# CDK's grant_* wildcards (s3:GetObject*, s3:List*). DuckDB writes large files in multipart
# uploads, which it aborts on failure; compaction deletes the files it merged.
_S3_ACTIONS: dict[Access, tuple[list[str], list[str]]] = {
    "read": (["s3:GetObject"], ["s3:ListBucket", "s3:GetBucketLocation"]),
    "write": (["s3:PutObject", "s3:AbortMultipartUpload"], ["s3:GetBucketLocation"]),
    "read_write": (
        ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
        ["s3:ListBucket", "s3:GetBucketLocation"],
    ),
}

# What each access to the table allows: item operations only, each of which names its partition
# keys, so that `dynamodb:LeadingKeys` can bound it (a Scan names none, and is never granted).
# The event store's transactions are authorised as the puts and condition checks they hold.
_TABLE_READS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
_TABLE_WRITES = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
]
_TABLE_ACTIONS: dict[Access, list[str]] = {
    "read": _TABLE_READS,
    "write": _TABLE_WRITES,
    "read_write": _TABLE_READS + _TABLE_WRITES,
}

# What each access to the alerts topics allows. E-mail goes out on one topic per owner, made at
# run time and named `<the stack's alerts topic name>-<hash of the owner>` (adapters/alert_channels.py,
# constructs/alerts.py), so the grants name `<alerts topic ARN>-*`: those topics and no other (the
# stack's topic name is CDK's, with a random suffix). The stack's topic itself keeps only the
# subscriptions made before owners had topics, to be moved or ended.
# - "publish": send an alert's message, on the owners' topics only (nothing is sent on the shared
#   topic any more, so its old subscriptions get nothing even through a bug);
# - "write": make an owner's topic on first use (CreateTopic, and TagResource: SNS asks for both
#   to tag a topic as it is made), read the stack's topic's display name (the owners' topics are
#   named after it), and manage the addresses' subscriptions. Subscribe an e-mail address only
#   (the condition), and only on an owner's topic: a subscription of another protocol (a queue, a
#   function, a URL) would be an unconfirmed way out for every alert. Then read and change a
#   subscription's filter policy (an owner's alerts to one address share its one subscription)
#   and end it. Unsubscribe and Get/SetSubscriptionAttributes name a subscription, and the Service
#   Authorization Reference lists no resource type for them; SNS authorises them against the
#   subscription's topic, though (its AuthorizationError reads "not authorized to perform:
#   SNS:Unsubscribe on resource: arn:aws:sns:<region>:<account>:<topic>"), so the topics' ARNs
#   bound them to these topics' subscriptions (where "*" would reach every topic's of the
#   account), and a policy naming `<topic ARN>:*`, the subscriptions' ARNs, is refused.
_TOPIC_PUBLISH = ["sns:Publish"]
_TOPIC_SUBSCRIBE = ["sns:Subscribe"]
_SUBSCRIPTION_ACTIONS = ["sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe"]
_OWNER_TOPIC_MAKING = ["sns:CreateTopic", "sns:TagResource"]
_TOPIC_READ = ["sns:GetTopicAttributes"]
EMAIL_ONLY = {"StringEquals": {"sns:Protocol": "email"}}

METRICS_NAMESPACE = "Trading"  # where the business metrics go (entrypoints/business_metrics.py)

# Settings every function gets (trading_system.config reads TRADING_*; Powertools its own).
_COMMON_ENVIRONMENT = {
    "TRADING_RUNTIME": "aws",
    "POWERTOOLS_SERVICE_NAME": "trading",
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
}


def pascal_case(name: str) -> str:
    """`get_bars` -> `GetBars`: readable, stable logical ids."""
    return "".join(part.capitalize() for part in name.split("_"))


class Layers(Construct):
    """The two layers every function runs with, and the optional ones (`optional`: the catalog's
    `Layer`s its entries name) that only the functions naming them get; built once, in the root
    stack, and shared."""

    def __init__(self, scope: Construct, construct_id: str, *, optional: Iterable[Layer] = ()) -> None:
        super().__init__(scope, construct_id)
        self.versions: tuple[lambda_.ILayerVersion, ...] = (
            self._layer(
                "DependenciesLayer",
                packaging.dependencies_code(),
                "Third-party packages pinned in pyproject.toml, built for Python 3.12 on arm64",
            ),
            self._layer(
                "SharedLayer",
                packaging.shared_code(),
                "The trading_system package: domain, handlers, adapters",
            ),
        )
        self.optional: dict[Layer, lambda_.ILayerVersion] = {
            layer: self._layer(
                f"{pascal_case(layer.value)}Layer",
                packaging.dependencies_code(layer.value),
                f"The packages of pyproject.toml's `{layer.value}` extra not in the dependencies layer",
            )
            for layer in sorted(set(optional))
        }

    def of(self, entry: Function) -> list[lambda_.ILayerVersion]:
        """The layers the entry's function runs with: the two, then those it names."""
        missing = [layer.value for layer in entry.layers if layer not in self.optional]
        if missing:
            raise ValueError(f"catalog entry {entry.name!r} needs layers this stack has not built: {missing}")
        return [*self.versions, *(self.optional[layer] for layer in entry.layers)]

    def _layer(self, construct_id: str, code: lambda_.Code, description: str) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            construct_id,
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
            # Each build is a new version; old ones would pile up against the code storage quota.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )


class Functions(Construct):
    """The given catalog entries' functions, by name, sharing one code asset (an asset belongs to
    one stack, so each stack's Functions stages its own copy; equal content, equal hash)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        entries: Sequence[Function],
        storage: Storage,
        bus: events.IEventBus,
        alerts_topic: sns.ITopic,
        layers: Layers,
        parameters_path: str,
        snap_start: bool = True,
    ) -> None:
        """`snap_start`: False runs every function without SnapStart, whatever its entry says
        (`cdk deploy -c snapStart=false`)."""
        super().__init__(scope, construct_id)
        self._storage = storage
        self._bus = bus
        self._alerts_topic = alerts_topic
        self._parameters_path = parameters_path
        self._layers = layers
        code = packaging.functions_code()
        self.by_name: dict[str, lambda_.Function] = {
            entry.name: self._function(entry, code, snap_start=snap_start and entry.snap_start)
            for entry in entries
        }
        # What the triggers invoke: a SnapStart function's alias (its snapshot serves the published
        # version only; $LATEST would start cold every time), else the function itself.
        self.targets: dict[str, lambda_.IFunction] = {
            name: snap_started.live_alias(function) if snap_started.is_on(function) else function
            for name, function in self.by_name.items()
        }

    def _function(self, entry: Function, code: lambda_.Code, *, snap_start: bool) -> lambda_.Function:
        name = pascal_case(entry.name)
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION)
        function = lambda_.Function(
            self,
            name,
            description=entry.summary[:256],
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=entry.handler.replace(":", "."),
            code=code,
            layers=self._layers.of(entry),
            memory_size=entry.memory_mb,
            timeout=cdk.Duration.seconds(entry.timeout_s),
            # Functions that rewrite one shared file (the snapshot) or dispatch schedules run
            # one at a time, which is what keeps their read-modify-write safe.
            reserved_concurrent_executions=entry.concurrency,
            environment=self._environment(entry),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            snap_start=snap_started.SNAP_START if snap_start else None,
            # A new version on each change of code or settings: the old one is deleted, not kept
            # (a SnapStart version's snapshot is billed for as long as the version exists).
            current_version_options=snap_started.VERSION_OPTIONS if snap_start else None,
        )
        for resource, access in entry.uses.items():
            if resource is Resource.TIMETABLE:
                continue  # the timetable's construct grants its writers (constructs/timetable.py)
            if resource is Resource.TABLE:
                self._grant_table(entry, access, function)
            else:
                self._grant(entry.name, resource, access, function)
        if self._storage.key is not None and Resource.TABLE in entry.uses:
            for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                nag.acknowledge(
                    function,
                    f"AwsSolutions-IAM5[Action::{action}]",
                    "CDK's grant on the table for DynamoDB's use of the data key, on that one key only",
                )
        nag.acknowledge(
            function,
            nag.BASIC_EXECUTION_ROLE,
            "Lambda's managed policy for a function's own logs (create its group and streams, put "
            "events); nothing else is granted through a managed policy",
        )
        nag.acknowledge(
            function,
            nag.ANY_RESOURCE,
            "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource to name: AWS defines "
            "none for them",
        )
        nag.acknowledge(
            function,
            "AwsSolutions-L1",
            f"the runtime is {RUNTIME.name}, the Python the dependency layer's wheels are built for "
            "(packaging.py); moving to a newer one is a deliberate change of both",
        )
        return function

    def _environment(self, entry: Function) -> dict[str, str]:
        """Common settings, the region, and the location of each resource the entry uses (only
        those: a function cannot even find a resource it was not granted)."""
        environment = {**_COMMON_ENVIRONMENT, "TRADING_AWS_REGION": cdk.Aws.REGION}
        locations = {
            Resource.TABLE: ("TRADING_TABLE_NAME", self._storage.table.table_name),
            Resource.BUS: ("TRADING_EVENT_BUS_NAME", self._bus.event_bus_name),
            Resource.LAKE: ("TRADING_LAKE_ROOT", f"s3://{self._storage.lake_bucket.bucket_name}"),
            Resource.RAW: ("TRADING_RAW_ROOT", f"s3://{self._storage.raw_bucket_name}"),
            Resource.PARAMETERS: ("TRADING_PARAMETERS_PATH", self._parameters_path),
            Resource.NOTIFY: ("TRADING_ALERTS_TOPIC_ARN", self._alerts_topic.topic_arn),
        }
        for resource in entry.uses.keys() - {Resource.TIMETABLE}:  # see constructs/timetable.py
            variable, value = locations[resource]
            environment[variable] = value
        if entry.reads_lake:
            # DuckDB must stay below the function's memory, or Lambda kills it mid-query.
            environment["TRADING_DUCKDB_MEMORY_LIMIT_MB"] = str(entry.memory_mb // 2)
        return environment

    def _grant(self, name: str, resource: Resource, access: Access, grantee: iam.IGrantable) -> None:
        grant = self._grants().get((resource, access))
        if grant is None:
            raise ValueError(f"catalog entry {name!r}: {resource.value} does not support {access!r} access")
        grant(grantee)

    def _grant_table(self, entry: Function, access: Access, function: lambda_.Function) -> None:
        """The entry's access to the items of its kinds only (catalog: `Function.kinds`): every
        partition key a request names must match one of them, and a request must name one."""
        actions = _TABLE_ACTIONS.get(access)
        if actions is None:
            raise ValueError(f"catalog entry {entry.name!r}: the table does not support {access!r} access")
        if not entry.kinds:
            raise ValueError(f"catalog entry {entry.name!r} uses the table but is granted no item kind")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self._storage.table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(entry.kinds)},
                    # ForAllValues holds for a request with no key at all: ask for one.
                    "Null": {"dynamodb:LeadingKeys": "false"},
                },
            )
        )
        key = self._storage.key
        if key is not None:  # DynamoDB asks KMS on the caller's behalf
            if access == "read":
                key.grant_decrypt(function)
            else:
                key.grant_encrypt_decrypt(function)

    def _grants(self) -> Mapping[tuple[Resource, Access], Callable[[iam.IGrantable], object]]:
        """The only IAM the functions get beyond the table's: what each (resource, access) pair
        allows."""
        grants: dict[tuple[Resource, Access], Callable[[iam.IGrantable], object]] = {
            (Resource.BUS, "publish"): self._bus.grant_put_events_to,
            (Resource.PARAMETERS, "read"): self._read_parameters,
            (Resource.NOTIFY, "publish"): self._publish_alerts,
            (Resource.NOTIFY, "write"): self._manage_alert_subscriptions,
        }
        buckets = {Resource.LAKE: self._storage.lake_bucket, Resource.RAW: self._storage.raw}
        for resource, bucket in buckets.items():
            for access in _S3_ACTIONS:
                grants[(resource, access)] = self._bucket_grant(bucket, access)
        return grants

    def _read_parameters(self, grantee: iam.IGrantable) -> None:
        """The stack's parameters (and no one else's), SecureStrings included: their default key,
        aws/ssm, lets whoever may read the parameter decrypt it through SSM."""
        stack = cdk.Stack.of(self)
        path = stack.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=self._parameters_path.strip("/"),
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["ssm:GetParametersByPath"], resource_arns=[path, f"{path}/*"]
        )
        if isinstance(grantee, Construct):
            nag.acknowledge(
                grantee,
                f"AwsSolutions-IAM5[Resource::{nag.rendered(stack, path)}/*]",
                "the parameters under the stack's own path: one per setting, named by the operator",
            )

    def _publish_alerts(self, grantee: iam.IGrantable) -> None:
        """Publish to the owners' alerts topics (named actions, not `grant_publish`, which would
        also try a grant on the topic's key: its AWS managed key needs none, see constructs/alerts.py)."""
        owners_topics = self._owners_alert_topics(grantee)
        iam.Grant.add_to_principal(grantee=grantee, actions=_TOPIC_PUBLISH, resource_arns=[owners_topics])

    def _manage_alert_subscriptions(self, grantee: iam.IGrantable) -> None:
        """Make the owners' alerts topics, subscribe e-mail addresses to them, and change and end
        their subscriptions and those left on the stack's topic."""
        topic_arn = self._alerts_topic.topic_arn
        owners_topics = self._owners_alert_topics(grantee)
        iam.Grant.add_to_principal(
            grantee=grantee, actions=_TOPIC_SUBSCRIBE, resource_arns=[owners_topics], conditions=EMAIL_ONLY
        )
        iam.Grant.add_to_principal(
            grantee=grantee, actions=_SUBSCRIPTION_ACTIONS, resource_arns=[topic_arn, owners_topics]
        )
        iam.Grant.add_to_principal(
            grantee=grantee, actions=_OWNER_TOPIC_MAKING, resource_arns=[owners_topics]
        )
        iam.Grant.add_to_principal(grantee=grantee, actions=_TOPIC_READ, resource_arns=[topic_arn])

    def _owners_alert_topics(self, grantee: iam.IGrantable) -> str:
        """`<alerts topic ARN>-*`: the owners' topics, made at run time (so not nameable here)."""
        topic = self._alerts_topic
        owners_topics = f"{topic.topic_arn}-*"
        if isinstance(grantee, Construct):
            # As cdk-nag prints it: the topic's Ref, or in a nested stack the parameter CDK passes
            # it through (named after the topic's path-based unique id), as nag.objects_of does.
            resource = topic.node.default_child
            if isinstance(resource, sns.CfnTopic) and cdk.Stack.of(resource) is not cdk.Stack.of(grantee):
                ref = f"<referenceto{cdk.Names.unique_id(resource)}Ref>"
            else:
                ref = nag.rendered(cdk.Stack.of(grantee), topic.topic_arn)
            nag.acknowledge(
                grantee,
                f"AwsSolutions-IAM5[Resource::{ref}-*]",
                "the owners' e-mail alerts topics: one per user, made at run time and named from the "
                "stack's alerts topic (adapters/alert_channels.py)",
            )
        return owners_topics

    def _bucket_grant(self, bucket: s3.IBucket, access: Access) -> Callable[[iam.IGrantable], object]:
        on_objects, on_bucket = _S3_ACTIONS[access]

        def grant(grantee: iam.IGrantable) -> None:
            iam.Grant.add_to_principal(
                grantee=grantee, actions=on_objects, resource_arns=[bucket.arn_for_objects("*")]
            )
            iam.Grant.add_to_principal(grantee=grantee, actions=on_bucket, resource_arns=[bucket.bucket_arn])
            key = self._storage.key
            if key is not None:  # objects under the account's own key (S3 asks KMS on our behalf)
                # a PUT makes a data key; reading decrypts it, and so does a multipart upload
                uses = ["kms:Decrypt"] if access == "read" else ["kms:Decrypt", "kms:GenerateDataKey"]
                iam.Grant.add_to_principal(grantee=grantee, actions=uses, resource_arns=[key.key_arn])
            if isinstance(grantee, Construct):
                nag.acknowledge(
                    grantee,
                    nag.objects_of(bucket, grantee),
                    "any object of the bucket: keys are made at run time from the data (timeframe, "
                    "symbol, period, ids), and each bucket holds only the platform's own files",
                )

        return grant
