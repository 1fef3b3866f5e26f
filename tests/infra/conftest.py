"""The stack, synthesised once per test session with the real dependency layer (built for Lambda
by pip, cached under .cache/layers/, so only the first run on a machine downloads wheels).

The app is a root stack with nested stacks (infra/stack.py). Most assertions are about the
platform as a whole, wherever a resource lives, so `Synthesized.resources` flattens every stack's
template into one namespace (see `flatten`); assertions about one template (resource counts,
dependency cycles, what the root keeps) use `Synthesized.stacks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import STACK_NAME, build, cdk_json_context
from layers import build_layer
from trading_system.catalog import Function, Layer

Resource = dict[str, Any]
NESTED_STACK = "AWS::CloudFormation::Stack"


@dataclass(frozen=True)
class StackTemplate:
    """One synthesised template: the root stack's or a nested stack's."""

    name: str  # the construct id: STACK_NAME for the root, e.g. `Trading` for a nested stack
    template_file: str  # its file in the cloud assembly
    template: Template
    # The template as plain JSON, fetched once: every Template.to_json() crosses into jsii's Node
    # process and back with the whole template.
    document: dict[str, Any]
    resource_id: str | None  # the root's AWS::CloudFormation::Stack for it; None for the root

    @property
    def resources(self) -> dict[str, Resource]:
        resources: dict[str, Resource] = self.document["Resources"]
        return resources


def synthesized_stacks(stack: cdk.Stack) -> list[StackTemplate]:
    """The root stack's template, then those of its nested stacks (its children: infra/stack.py)."""
    stacks = [_stack_template(stack, resource_id=None)]
    for child in stack.node.children:
        if isinstance(child, cdk.NestedStack) and child.nested_stack_resource is not None:
            stacks.append(
                _stack_template(child, resource_id=stack.get_logical_id(child.nested_stack_resource))
            )
    return stacks


def _stack_template(stack: cdk.Stack, *, resource_id: str | None) -> StackTemplate:
    template = Template.from_stack(stack)
    return StackTemplate(
        name=stack.node.id,
        template_file=stack.template_file,
        template=template,
        document=dict(template.to_json()),
        resource_id=resource_id,
    )


def flatten(stacks: list[StackTemplate]) -> tuple[dict[str, Resource], dict[str, str]]:
    """Every stack's resources in one namespace, as if they were one template, and for each the
    root-level resource CloudFormation deploys it with (itself, or its nested stack).

    A nested stack's resource `X` becomes `<stack name>/X`; its `Ref`s to parameters become what
    the root passes them, and the root's `Fn::GetAtt` of a nested stack's output becomes the
    output's value. References then point at the resource itself, wherever it lives.
    """
    root, nested = stacks[0], stacks[1:]
    by_resource_id = {s.resource_id: s for s in nested}

    def in_root(value: Any) -> Any:
        def get_att(target: str, attribute: str) -> Any:
            if target in by_resource_id and attribute.startswith("Outputs."):
                stack = by_resource_id[target]
                return in_nested(
                    stack, stack.document["Outputs"][attribute.removeprefix("Outputs.")]["Value"]
                )
            return {"Fn::GetAtt": [target, attribute]}

        return _rewrite(value, ref=lambda name: {"Ref": name}, get_att=get_att, rename=lambda name: name)

    def in_nested(stack: StackTemplate, value: Any) -> Any:
        local = set(stack.resources)
        passed = root.resources[str(stack.resource_id)]["Properties"].get("Parameters", {})

        def rename(name: str) -> str:
            return f"{stack.name}/{name}" if name in local else name

        def ref(name: str) -> Any:
            return in_root(passed[name]) if name in passed else {"Ref": rename(name)}

        return _rewrite(
            value,
            ref=ref,
            get_att=lambda target, attribute: {"Fn::GetAtt": [rename(target), attribute]},
            rename=rename,
        )

    resources = {rid: in_root(r) for rid, r in root.resources.items()}
    deployed_with = {rid: rid for rid in resources}
    for stack in nested:
        if any(r["Type"] == NESTED_STACK for r in stack.resources.values()):
            raise NotImplementedError(f"{stack.name}: stacks nested two levels deep")
        for rid, resource in stack.resources.items():
            resources[f"{stack.name}/{rid}"] = in_nested(stack, resource)
            deployed_with[f"{stack.name}/{rid}"] = str(stack.resource_id)
    return resources, deployed_with


def _rewrite(
    value: Any,
    *,
    ref: Callable[[str], Any],
    get_att: Callable[[str, str], Any],
    rename: Callable[[str], str],
) -> Any:
    """`value` with its `Ref`s, `Fn::GetAtt`s and `DependsOn` rewritten (`Fn::Sub` variables are
    renamed; a parameter inside one is not resolved, CDK does not write those)."""
    if isinstance(value, list):
        return [_rewrite(v, ref=ref, get_att=get_att, rename=rename) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return ref(value["Ref"])
    if set(value) == {"Fn::GetAtt"}:
        target, attribute = value["Fn::GetAtt"]
        return get_att(target, attribute)
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text: str = value["Fn::Sub"]
        for variable in {part.split("}")[0] for part in text.split("${")[1:]}:
            name, dot, attribute = variable.partition(".")
            text = text.replace(f"${{{variable}}}", f"${{{rename(name)}{dot}{attribute}}}")
        return {"Fn::Sub": text}
    rewritten = {k: _rewrite(v, ref=ref, get_att=get_att, rename=rename) for k, v in value.items()}
    if "DependsOn" in value:
        depends_on = value["DependsOn"]
        rewritten["DependsOn"] = [
            rename(d) for d in ([depends_on] if isinstance(depends_on, str) else depends_on)
        ]
    return rewritten


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stacks: list[StackTemplate]  # the root first
    resources: dict[str, Resource]  # every stack's, flattened (see `flatten`)
    deployed_with: Mapping[str, str]  # resource -> the root-level resource that deploys it

    @property
    def root(self) -> StackTemplate:
        return self.stacks[0]

    @property
    def template(self) -> Template:
        return self.root.template

    @property
    def document(self) -> dict[str, Any]:
        return self.root.document

    def of_type(self, resource_type: str) -> dict[str, Resource]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def function_id(self, entry: Function) -> str:
        """The (flattened) id of the entry's Lambda, found by its handler (unique per entry)."""
        handler = entry.handler.replace(":", ".")
        (found,) = [
            k
            for k, v in self.of_type("AWS::Lambda::Function").items()
            if v["Properties"]["Handler"] == handler
        ]
        return found

    def function(self, entry: Function) -> Resource:
        return self.resources[self.function_id(entry)]

    def invoked_id(self, entry: Function) -> str:
        """What the entry's triggers invoke: its SnapStart alias when it has one
        (infra/constructs/snap_started.py), else its function."""
        function_id = self.function_id(entry)
        aliases = [
            k
            for k, v in self.of_type("AWS::Lambda::Alias").items()
            if v["Properties"]["FunctionName"] == {"Ref": function_id}
        ]
        assert len(aliases) <= 1, aliases
        return aliases[0] if aliases else function_id

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
def optional_layers(dependency_layer: Path) -> dict[Layer, Path]:
    """Each optional layer's built folder (cached like the dependency layer, on top of it)."""
    return {
        layer: build_layer.ensure_built(build_layer.LayerSpec.from_project(layer=layer.value))
        for layer in Layer
    }


@pytest.fixture(scope="session")
def synthesized(
    dependency_layer: Path, optional_layers: dict[Layer, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Synthesized]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # cdk.json's feature flags, as the CLI would pass them, so the tests see the deployed template.
    context = {**cdk_json_context(), "aws:cdk:version-reporting": False}
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build(app)
    assert stack.stack_name == STACK_NAME
    stacks = synthesized_stacks(stack)
    resources, deployed_with = flatten(stacks)
    yield Synthesized(outdir=outdir, stacks=stacks, resources=resources, deployed_with=deployed_with)
