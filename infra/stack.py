"""The whole platform in one stack, composed from the catalog-driven constructs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from functions.catalog import CATALOG, Function
from infra.constructs.api import Api
from infra.constructs.bus import DomainBus, Subscriptions
from infra.constructs.functions import Functions
from infra.constructs.observability import Observability
from infra.constructs.schedules import Schedules
from infra.constructs.storage import Storage
from infra.constructs.uploads import Uploads


class TradingStack(cdk.Stack):
    """Environment-agnostic on purpose: no lookups, so synthesis needs no AWS account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Sequence[Function] = CATALOG,
        alarm_email: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = Storage(self, "Storage")
        domain_bus = DomainBus(self, "DomainBus")
        functions = Functions(self, "Functions", catalog=catalog, storage=storage, bus=domain_bus.bus)
        by_name = functions.by_name

        api = Api(self, "Api", catalog=catalog, functions=by_name)
        subscriptions = Subscriptions(
            self, "Subscriptions", catalog=catalog, functions=by_name, bus=domain_bus.bus
        )
        schedules = Schedules(self, "Schedules", catalog=catalog, functions=by_name)
        uploads = Uploads(self, "Uploads", catalog=catalog, functions=by_name, storage=storage)

        # A trigger kind added to the catalog must fail the synth until this stack deploys it,
        # rather than ship a function nothing ever invokes.
        wired = api.wired | subscriptions.wired | schedules.wired | uploads.wired
        unwired = sorted(entry.name for entry in catalog if entry.name not in wired)
        if unwired:
            raise ValueError(f"catalog entries whose trigger this stack does not deploy: {unwired}")

        Observability(
            self,
            "Observability",
            functions=by_name,
            dead_letter_queues={
                **subscriptions.dead_letter_queues,
                **schedules.dead_letter_queues,
                **uploads.dead_letter_queues,
            },
            http_api=api.http_api,
            alarm_email=alarm_email,
        )

        outputs = {
            "ApiUrl": api.url,
            "LakeBucketName": storage.lake_bucket.bucket_name,
            "RawBucketName": storage.raw_bucket_name,
            "TableName": storage.table.table_name,
            "EventBusName": domain_bus.bus.event_bus_name,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
