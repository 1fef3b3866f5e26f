"""The three code assets every Lambda is made of, built on this machine (no Docker).

- the dependency layer: third-party wheels for Lambda's platform (layers/build_layer.py), and
  the optional layers some functions add (the catalog's `Layer`: each an extra of pyproject.toml);
- the shared-code layer: shared/trading_system as `python/trading_system`;
- the function code: the functions/ package, kept as `functions/` so that the catalog's handler
  strings (`functions.market_data.get_bars.handler`) resolve from /var/task.

Each asset is produced through CDK's local bundling hook and carries a custom hash of its inputs,
so an unchanged input means an unchanged asset: no rebuild, no re-upload, no function update.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from layers import build_layer

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_PACKAGE = REPO_ROOT / "shared" / "trading_system"
FUNCTIONS_PACKAGE = REPO_ROOT / "functions"

# Files that are never shipped: byte code of this machine's Python and tool caches.
_IGNORED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})
_IGNORED_SUFFIXES = frozenset({".pyc", ".pyo"})

# Local bundling always succeeds, so Docker never runs; CDK still insists on an image name.
_NO_DOCKER = cdk.DockerImage.from_registry("unused-local-bundling-only")


@jsii.implements(cdk.ILocalBundling)
class _LocalBuild:
    """CDK's local bundling hook: `produce(output_dir)` writes the asset's content."""

    def __init__(self, produce: Callable[[Path], None]) -> None:
        self._produce = produce

    # jsii passes the BundlingOptions along; nothing in them is needed here.
    def try_bundle(self, output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        self._produce(Path(output_dir))
        return True


def _asset(
    source: Path, display_name: str, asset_hash: str, produce: Callable[[Path], None]
) -> lambda_.AssetCode:
    return lambda_.Code.from_asset(
        str(source),
        display_name=display_name,
        asset_hash=asset_hash,
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=cdk.BundlingOptions(image=_NO_DOCKER, local=_LocalBuild(produce)),
    )


def shipped_files(root: Path) -> list[Path]:
    """The files of a source package that go into an asset, in a stable order."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in _IGNORED_DIRS for part in relative.parts) or path.suffix in _IGNORED_SUFFIXES:
            continue
        if path.is_file():
            files.append(path)
    return files


def tree_hash(root: Path) -> str:
    """A hash of the shipped files' relative paths and bytes: equal trees, equal hashes."""
    digest = hashlib.sha256()
    for path in shipped_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _copy_package(source: Path, destination: Path) -> None:
    for path in shipped_files(source):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def dependencies_code(layer: str = build_layer.DEPENDENCIES) -> lambda_.AssetCode:
    """The dependency layer, or the optional layer named `layer`."""
    spec = build_layer.LayerSpec.from_project(layer=layer)

    def produce(output_dir: Path) -> None:
        build_layer.copy_tree(build_layer.ensure_built(spec) / "python", output_dir / "python")

    prefix = "deps" if layer == build_layer.DEPENDENCIES else layer
    return _asset(build_layer.REPO_ROOT / "layers", f"{layer} layer", f"{prefix}-{spec.key}", produce)


def shared_code() -> lambda_.AssetCode:
    def produce(output_dir: Path) -> None:
        _copy_package(SHARED_PACKAGE, output_dir / "python" / SHARED_PACKAGE.name)

    return _asset(SHARED_PACKAGE, "shared-code layer", f"shared-{tree_hash(SHARED_PACKAGE)}", produce)


def functions_code() -> lambda_.AssetCode:
    def produce(output_dir: Path) -> None:
        _copy_package(FUNCTIONS_PACKAGE, output_dir / FUNCTIONS_PACKAGE.name)

    return _asset(FUNCTIONS_PACKAGE, "function code", f"functions-{tree_hash(FUNCTIONS_PACKAGE)}", produce)
