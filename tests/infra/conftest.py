"""The stack, synthesised once per test session with the real dependency layer (built for Lambda
by pip, cached under .cache/layers/, so only the first run on a machine downloads wheels)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from functions.catalog import Function
from infra.app import STACK_NAME, build, cdk_json_context
from layers import build_layer

Resource = dict[str, Any]


@dataclass(frozen=True)
class Synthesized:
    template: Template
    outdir: Path
    # The template as plain JSON, fetched once: every Template.to_json() crosses into jsii's Node
    # process and back with the whole template.
    document: dict[str, Any]

    @property
    def resources(self) -> dict[str, Resource]:
        resources: dict[str, Resource] = self.document["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, Resource]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def function_id(self, entry: Function) -> str:
        """The logical id of the entry's Lambda, found by its handler (unique per entry)."""
        handler = entry.handler.replace(":", ".")
        (found,) = [
            k
            for k, v in self.of_type("AWS::Lambda::Function").items()
            if v["Properties"]["Handler"] == handler
        ]
        return found

    def function(self, entry: Function) -> Resource:
        return self.resources[self.function_id(entry)]

    def statements(self, entry: Function) -> list[dict[str, Any]]:
        """Every IAM statement the entry's role gets: attached policies and inline ones."""
        role_id = self.function(entry)["Properties"]["Role"]["Fn::GetAtt"][0]
        documents = [
            policy["Properties"]["PolicyDocument"]
            for policy in self.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
        ]
        documents += [p["PolicyDocument"] for p in self.resources[role_id]["Properties"].get("Policies", [])]
        return [statement for document in documents for statement in document["Statement"]]

    def actions(self, entry: Function) -> set[str]:
        found: set[str] = set()
        for statement in self.statements(entry):
            action = statement["Action"]
            found.update([action] if isinstance(action, str) else action)
        return found


@pytest.fixture(scope="session")
def dependency_layer() -> Path:
    """The built layer folder (its `python/` is what Lambda unpacks under /opt)."""
    return build_layer.ensure_built()


@pytest.fixture(scope="session")
def synthesized(dependency_layer: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # cdk.json's feature flags, as the CLI would pass them, so the tests see the deployed template.
    context = {**cdk_json_context(), "aws:cdk:version-reporting": False}
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build(app)
    assert stack.stack_name == STACK_NAME
    template = Template.from_stack(stack)
    yield Synthesized(template=template, outdir=outdir, document=dict(template.to_json()))
