"""cdk-nag's AwsSolutions pack runs whenever the app synthesises (issue 12): a finding fails
synthesis unless the construct it is about acknowledges it, with a reason next to the code that
creates the construct (infra/nag.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from infra import nag
from infra.app import STACK_NAME
from tests.infra.conftest import Synthesized


def queue_app(tmp_path: Path, *, acknowledged: bool) -> cdk.App:
    app = cdk.App(outdir=str(tmp_path))
    queue = sqs.Queue(cdk.Stack(app, "Small"), "Queue", enforce_ssl=True)
    if acknowledged:
        nag.acknowledge(queue, "AwsSolutions-SQS3", "a queue nothing reads twice, for this test")
    nag.check(app)
    return app


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS3"):
        queue_app(tmp_path / "bare", acknowledged=False).synth()
    queue_app(tmp_path / "acknowledged", acknowledged=True).synth()


def acknowledgements(synthesized: Synthesized) -> dict[str, dict[str, str]]:
    """Construct path -> {finding: reason}, as synthesis recorded them."""
    metadata = json.loads((synthesized.outdir / f"{STACK_NAME}.metadata.json").read_text())
    found: dict[str, dict[str, str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                found.setdefault(path, {}).update(entry["data"])
    return found


def test_the_platform_synthesises_with_every_acknowledgement_reasoned(synthesized: Synthesized) -> None:
    # The fixture synthesised the app with the checks on: an unacknowledged finding would have
    # failed it. What remains is what was accepted on purpose, each with a reason.
    found = acknowledgements(synthesized)
    reasons = [reason for findings in found.values() for reason in findings.values()]
    assert reasons and all(len(reason) >= 40 for reason in reasons)
    kinds = Counter(
        finding.removeprefix("Annotation::").split("[")[0]
        for findings in found.values()
        for finding in findings
    )
    # Only these kinds of finding are accepted; a new kind is a decision to make here.
    assert set(kinds) == {
        "AwsSolutions-IAM4",  # Lambda's managed policy for its own logs
        "AwsSolutions-IAM5",  # X-Ray and log delivery take no resource; bucket objects; child executions
        "AwsSolutions-L1",  # the runtime the dependency layer is built for
        "AwsSolutions-SQS3",  # dead-letter queues
        "AwsSolutions-S1",  # no server access logs
        "AwsSolutions-APIG4",  # the public routes: health, and webhooks' alerts (their own secret)
        "AwsSolutions-SF1",  # Step Functions logs at ERROR
        "AwsSolutions-COG8",  # the user pool's threat protection is a paid plan, the operator's choice
        "AwsSolutions-APIG1",  # WebSocket access logs need the account's API Gateway logging role
    }
    # APIG4: health, webhooks, and the WebSocket API (its $connect function checks the key)
    assert kinds["AwsSolutions-APIG4"] == 3 and kinds["AwsSolutions-S1"] == 2


def test_no_action_wildcard_is_granted(synthesized: Synthesized) -> None:
    """Bucket access names its actions (no s3:GetObject*, s3:List*): no acknowledgement of an
    action wildcard exists, and no statement of a function's role holds one."""
    found = acknowledgements(synthesized)
    assert not [f for findings in found.values() for f in findings if "[Action::" in f]
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if a.endswith("*")], statement
