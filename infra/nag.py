"""cdk-nag's AwsSolutions rules over the whole app (`make synth` and the infra tests).

A finding fails synthesis unless the construct it is about acknowledges it; every
acknowledgement is made by the code that creates the construct, with its reason beside it
(`acknowledge`). cdk-nag names a finding by its rule and, for wildcards, by the exact text of
the action or resource, so the helpers below spell those texts the way cdk-nag renders them.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# Lambda's own policy for writing a function's logs: CreateLogGroup, CreateLogStream, PutLogEvents.
BASIC_EXECUTION_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)
ANY_RESOURCE = "AwsSolutions-IAM5[Resource::*]"


def check(app: cdk.App) -> None:
    """Run the AwsSolutions pack when the app synthesises."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one finding on the construct and everything under it, for the reason given."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def objects_of(bucket: s3.IBucket, policy_owner: IConstruct) -> str:
    """The wildcard finding of `<bucket>/*` in a policy created under `policy_owner`.

    A bucket of this stack is named by its ARN attribute; one of the parent stack by the
    parameter CDK passes its ARN through; one referred to by name by the name itself.
    """
    resource = bucket.node.default_child
    if isinstance(resource, s3.CfnBucket):
        owner = cdk.Stack.of(resource)
        if owner is cdk.Stack.of(policy_owner):
            arn = f"<{owner.resolve(owner.get_logical_id(resource))}.Arn>"
        else:  # the nested stack's parameter, named after the bucket's path-based unique id
            arn = f"<referenceto{cdk.Names.unique_id(resource)}Arn>"
    else:
        arn = rendered(cdk.Stack.of(policy_owner), bucket.bucket_arn)
    return f"AwsSolutions-IAM5[Resource::{arn}/*]"


def rendered(stack: cdk.Stack, text: str) -> str:
    """A resource's text as cdk-nag prints it in a finding: `<Ref>` and `<Resource.Attribute>`
    for references and attributes, other functions as their compact JSON."""
    resolved = stack.resolve(text)
    parts = resolved["Fn::Join"][1] if isinstance(resolved, dict) and "Fn::Join" in resolved else [resolved]
    return "".join(_rendered_part(part) for part in parts)


def _rendered_part(part: object) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and "Ref" in part:
        return f"<{part['Ref']}>"
    if isinstance(part, dict) and "Fn::GetAtt" in part:
        return f"<{'.'.join(part['Fn::GetAtt'])}>"
    return json.dumps(part, separators=(",", ":"))
