"""Build the Lambda dependency layer on this machine, without Docker, and cache it.

The layer holds the third-party packages of pyproject.toml's [project].dependencies, as wheels for
the Lambda runtime (CPython 3.12 on arm64), installed by pip into `python/` (the folder Lambda puts
on sys.path from a layer). Two inputs decide its content, so both go into the cache key:

- the top-level requirements, exact pins taken from pyproject.toml (anything else is refused);
- the versions of their transitive dependencies installed in the environment running this script,
  passed to pip as constraints. The tests run in that environment, so Lambda gets the packages the
  tests ran against instead of whatever PyPI holds on the day of the build.

A build lands in `.cache/layers/<key>/` (ignored by git): requirements.txt, constraints.txt,
manifest.json and `python/`. A key that is already built is reused, so `cdk synth` calls pip only
when an input changes. Run `python layers/build_layer.py --help` for the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
CACHE_ROOT = REPO_ROOT / ".cache" / "layers"
MANIFEST = "manifest.json"

PYTHON_VERSION = "3.12"
IMPLEMENTATION = "cp"
# Both tags: with manylinux2014 alone pip silently picks an old duckdb, the last release that
# shipped a manylinux2014 wheel. Lambda's Amazon Linux 2023 has glibc 2.34, so 2_28 wheels load.
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
# Bump when the build steps below change, so that cached builds made the old way are not reused.
RECIPE = "1"

# Never needed at run time; `bin/` holds console scripts whose shebang names the build machine's
# Python. Test suites shipped inside packages (numpy's are ~8 MB) are never imported by them.
_STRIPPED_DIRS = frozenset({"__pycache__", "tests"})
_STRIPPED_TOP_LEVEL = frozenset({"bin"})

_EXACT_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


class LayerBuildError(RuntimeError):
    """The layer cannot be built; the message says which input or step is wrong."""


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: `Typing_Extensions` and `typing-extensions` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """[project].dependencies, each of which must be an exact `name==version` pin."""
    with pyproject.open("rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    loose = [d for d in dependencies if not _EXACT_PIN.match(d)]
    if loose:
        raise LayerBuildError(
            f"{pyproject.name}: the layer needs exact pins (name==version, no markers); got {loose}"
        )
    return sorted((d.strip() for d in dependencies), key=lambda d: canonical_name(d.split("==")[0]))


def installed_constraints(requirements: Sequence[str]) -> list[str]:
    """`name==version` for every installed distribution the requirements may pull in.

    The walk follows Requires-Dist without evaluating environment markers (this machine is not
    the Lambda one), so it may list a package the target does not need; pip ignores constraints
    on packages it does not install, so that is harmless. Extras are followed only when asked for.
    A dependency that is not installed here is left for pip to resolve.
    """
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [_name_and_extras(r) for r in requirements]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins[name] = f"{name}=={dist.version}"
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            wanted_extra = _EXTRA_MARKER.search(marker)
            if wanted_extra and canonical_name(wanted_extra.group(1)) not in extras:
                continue
            pending.append(_name_and_extras(spec))
    top_level = {_name_and_extras(r)[0] for r in requirements}
    return [pin for name, pin in sorted(pins.items()) if name not in top_level]


def _name_and_extras(requirement: str) -> tuple[str, frozenset[str]]:
    match = _REQUIREMENT_NAME.match(requirement)
    if match is None:
        raise LayerBuildError(f"cannot read the requirement {requirement!r}")
    extras = frozenset(canonical_name(e) for e in (match.group(2) or "").split(",") if e.strip())
    return canonical_name(match.group(1)), extras


@dataclass(frozen=True)
class LayerSpec:
    """Everything that decides the layer's content; `key` names its cache folder."""

    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    python_version: str = PYTHON_VERSION
    implementation: str = IMPLEMENTATION
    platforms: tuple[str, ...] = PLATFORMS
    recipe: str = RECIPE

    @classmethod
    def from_project(cls, pyproject: Path = PYPROJECT) -> LayerSpec:
        requirements = runtime_requirements(pyproject)
        return cls(tuple(requirements), tuple(installed_constraints(requirements)))

    @property
    def key(self) -> str:
        document = json.dumps(
            {
                "requirements": self.requirements,
                "constraints": self.constraints,
                "python_version": self.python_version,
                "implementation": self.implementation,
                "platforms": self.platforms,
                "recipe": self.recipe,
            },
            sort_keys=True,
        )
        return hashlib.sha256(document.encode()).hexdigest()[:32]


def ensure_built(spec: LayerSpec | None = None, cache_root: Path = CACHE_ROOT) -> Path:
    """The folder of the built layer (its `python/` is the layer content); built if not cached.

    Safe to call from several processes at once: one builds under a file lock, the others wait
    and reuse its result. A build is moved into place only once complete, so an interrupted
    build never passes for a cached one.
    """
    spec = spec or LayerSpec.from_project()
    final = cache_root / spec.key
    if (final / MANIFEST).is_file():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache_root / f"{spec.key}.lock"):
        if (final / MANIFEST).is_file():  # another process built it while we waited
            return final
        shutil.rmtree(final, ignore_errors=True)  # leftovers of a build that did not finish
        work = Path(tempfile.mkdtemp(prefix=f".{spec.key}-", dir=cache_root))
        try:
            _build(spec, work)
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(spec: LayerSpec, work: Path) -> None:
    requirements = work / "requirements.txt"
    constraints = work / "constraints.txt"
    requirements.write_text("\n".join(spec.requirements) + "\n")
    constraints.write_text("\n".join(spec.constraints) + "\n")
    target = work / "python"
    command = [
        sys.executable, "-m", "pip", "install",
        "--disable-pip-version-check", "--no-input", "--quiet",
        "--no-compile",  # pyc files would be for this machine's Python, not Lambda's 3.12
        "--only-binary=:all:",
        "--implementation", spec.implementation,
        "--python-version", spec.python_version,
        *(arg for platform in spec.platforms for arg in ("--platform", platform)),
        "--target", str(target),
        "--requirement", str(requirements),
        "--constraint", str(constraints),
    ]  # fmt: skip
    print(f"building the Lambda dependency layer in {work} ...", file=sys.stderr, flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(
            f"pip failed ({result.returncode}) building the layer:\n{result.stdout}\n{result.stderr}"
        )
    stripped = _strip(target)
    manifest = {
        "key": spec.key,
        "python_version": spec.python_version,
        "implementation": spec.implementation,
        "platforms": list(spec.platforms),
        "requirements": list(spec.requirements),
        "constraints": list(spec.constraints),
        "installed": _installed(target),
        "stripped": stripped,
        "size_bytes": folder_size(target),
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _strip(target: Path) -> list[str]:
    removed = [target / name for name in sorted(_STRIPPED_TOP_LEVEL) if (target / name).exists()]
    removed += sorted(p for p in target.rglob("*") if p.is_dir() and p.name in _STRIPPED_DIRS)
    gone: list[str] = []
    for path in removed:
        if path.exists():  # a parent may already be gone
            shutil.rmtree(path)
            gone.append(str(path.relative_to(target)))
    return gone


def _installed(target: Path) -> list[str]:
    found = []
    for info in sorted(target.glob("*.dist-info")):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found.append(f"{canonical_name(name)}=={version}")
    return found


def folder_size(path: Path) -> int:
    """Bytes of the regular files under `path`: what Lambda counts against 250 MB unzipped."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def copy_tree(source: Path, destination: Path) -> None:
    """Copy `source` into `destination`, hard-linking files where the filesystem allows it (the
    layer is ~170 MB and copied into every fresh cloud assembly)."""

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, destination, copy_function=link_or_copy, dirs_exist_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--print-requirements", action="store_true", help="print the pins and exit")
    parser.add_argument("--out", type=Path, help="also copy the layer content (python/) here")
    args = parser.parse_args(argv)
    try:
        spec = LayerSpec.from_project()
        if args.print_requirements:
            print("\n".join((*spec.requirements, *(f"{c}  # constraint" for c in spec.constraints))))
            return 0
        built = ensure_built(spec)
    except LayerBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size_mb = folder_size(built / "python") / 1e6
    print(f"layer {spec.key}: {built / 'python'} ({size_mb:.1f} MB unzipped)")
    if args.out:
        copy_tree(built / "python", args.out / "python")
        print(f"copied to {args.out / 'python'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
