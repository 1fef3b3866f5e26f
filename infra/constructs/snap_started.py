"""Lambda SnapStart for the catalog's functions that ask for it (`Function.snap_start`).

Lambda takes the snapshot when a version is published, and only a published version (or an alias
of one) resumes from it: invoking the function itself ($LATEST) starts cold every time. So a
SnapStart function gets a version per change of its code or settings, an alias `live` on it, and
every trigger invokes the alias (`Functions.targets`). The version replaced by a deployment is
deleted (`VERSION_OPTIONS`): each version's snapshot is billed for as long as it is kept.

SnapStart refuses provisioned concurrency, Amazon EFS and ephemeral storage above 512 MB, and runs
on some runtimes only (Python 3.12 and later, arm64 included). The catalog has no way to ask for
those today; `SnapStartCompatible` makes a construct that adds one fail the synth with a sentence,
rather than the deployment, half-way, with CloudFormation's.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import IValidation

SNAP_START = lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS
ALIAS = "live"
VERSION_OPTIONS = lambda_.VersionOptions(removal_policy=cdk.RemovalPolicy.DESTROY)
EPHEMERAL_STORAGE_LIMIT_MB = 512


def is_on(function: lambda_.Function) -> bool:
    cfn = function.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    return cfn.snap_start is not None


def live_alias(function: lambda_.Function) -> lambda_.Alias:
    """The alias every trigger of a SnapStart function invokes, on its current version; the
    function's synth fails if it is set up in a way SnapStart refuses."""
    alias = lambda_.Alias(function, "LiveAlias", alias_name=ALIAS, version=function.current_version)
    function.node.add_validation(SnapStartCompatible(function, alias))
    return alias


@jsii.implements(IValidation)
class SnapStartCompatible:
    """What SnapStart refuses, checked on the function and its alias as they are at synth."""

    def __init__(self, function: lambda_.Function, alias: lambda_.Alias) -> None:
        self._function = function
        self._alias = alias

    def validate(self) -> list[str]:
        return conflicts(self._function, self._alias)


def conflicts(function: lambda_.Function, alias: lambda_.Alias) -> list[str]:
    """Why SnapStart cannot run `function` as it is set up (none: it can)."""
    stack = cdk.Stack.of(function)
    cfn = function.node.default_child
    cfn_alias = alias.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction) and isinstance(cfn_alias, lambda_.CfnAlias)
    found = []
    if not function.runtime.supports_snap_start:
        found.append(f"the runtime {function.runtime.name} has no SnapStart")
    # The L1 property resolves with the struct's own key case (`size`), whoever set it.
    storage = {str(k).lower(): v for k, v in (stack.resolve(cfn.ephemeral_storage) or {}).items()}
    size = int(storage.get("size", 0))
    if size > EPHEMERAL_STORAGE_LIMIT_MB:
        found.append(f"ephemeral storage of {size} MB (at most {EPHEMERAL_STORAGE_LIMIT_MB})")
    if stack.resolve(cfn.file_system_configs):
        found.append("an Amazon EFS file system")
    if stack.resolve(cfn_alias.provisioned_concurrency_config) is not None:
        found.append("provisioned concurrency (SnapStart is the cheaper answer to the same cold start)")
    return [f"SnapStart cannot run {function.node.path}: {reason}" for reason in found]
