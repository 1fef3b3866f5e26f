"""Build the Lambda dependency layers on this machine, without Docker, and cache them.

The dependency layer holds the third-party packages of pyproject.toml's [project].dependencies, as
wheels for the Lambda runtime (CPython 3.12 on arm64), installed by pip into `python/` (the folder
Lambda puts on sys.path from a layer). An optional layer (`OPTIONAL_LAYERS`, the catalog's `Layer`)
holds the packages of the pyproject.toml extra of its name, less those the dependency layer already
has, trimmed to what its functions import; only the functions that name it get it. Two inputs
decide a layer's content, so both go into the cache key:

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
import csv
import fcntl
import fnmatch
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

from trading_system.adapters.providers import CCXT_EXCHANGES

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

DEPENDENCIES = "dependencies"  # the layer every function runs with

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


@dataclass(frozen=True)
class Trim:
    """What an optional layer leaves out of what pip installed, beyond the dependency layer's
    packages (always left out: Lambda finds them in that layer)."""

    # Distributions the layer's code never imports (canonical names), pulled in by a package
    # for a part of it that is trimmed away.
    unused: tuple[str, ...] = ()
    # (package folder, glob patterns of the paths under it that stay): everything else goes.
    keep: tuple[tuple[str, tuple[str, ...]], ...] = ()


# The optional layers by name, each built from the pyproject.toml extra of that name.
OPTIONAL_LAYERS: dict[str, Trim] = {
    # CCXT's synchronous client of the exchanges the platform pulls from, as the adapter imports
    # it (adapters/providers/ccxt_exchange.py: `ccxt.<exchange>` without `ccxt/__init__.py`).
    # Gone: the other ~100 exchanges, the async and websocket trees (async_support/, pro/) and
    # what only they import (aiohttp and its helpers, uvloop, zlib-ng), and coincurve (secp256k1
    # signing, for which CCXT falls back to cryptography; no exchange here signs with it).
    # tests/infra/test_layers.py imports each exchange from a tree trimmed so.
    "crypto": Trim(
        unused=(
            "aiohappyeyeballs",
            "aiohttp",
            "aiohttp-fast-zlib",
            "aiosignal",
            "attrs",
            "coincurve",
            "frozenlist",
            "multidict",
            "propcache",
            "uvloop",
            "yarl",
            "zlib-ng",
        ),
        keep=(
            (
                "ccxt",
                (
                    "__init__.py",  # the package's marker (never run: it imports every exchange)
                    "base/**",
                    "static_dependencies/**",  # signing helpers, imported on demand by base/
                    "abstract/__init__.py",
                    *(f"abstract/{exchange}.py" for exchange in CCXT_EXCHANGES),
                    *(f"{exchange}.py" for exchange in CCXT_EXCHANGES),
                ),
            ),
        ),
    ),
}


def runtime_requirements(pyproject: Path = PYPROJECT, extra: str | None = None) -> list[str]:
    """[project].dependencies (or the optional-dependencies `extra`), each of which must be an
    exact `name==version` pin."""
    with pyproject.open("rb") as f:
        project = tomllib.load(f)["project"]
    if extra is None:
        dependencies: list[str] = project["dependencies"]
    else:
        dependencies = project.get("optional-dependencies", {}).get(extra, [])
        if not dependencies:
            raise LayerBuildError(f"{pyproject.name}: no optional dependencies [{extra}] for its layer")
    where = "dependencies" if extra is None else f"optional-dependencies {extra}"
    loose = [d for d in dependencies if not _EXACT_PIN.match(d)]
    if loose:
        raise LayerBuildError(
            f"{pyproject.name} {where}: a layer needs exact pins (name==version, no markers); got {loose}"
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
    name: str = DEPENDENCIES
    # An optional layer's: the dependency layer, whose packages it leaves out, and its trim.
    base: LayerSpec | None = None
    trim: Trim = Trim()

    @classmethod
    def from_project(cls, pyproject: Path = PYPROJECT, layer: str = DEPENDENCIES) -> LayerSpec:
        """The dependency layer's spec, or the optional layer's named `layer`."""
        if layer == DEPENDENCIES:
            requirements = runtime_requirements(pyproject)
            return cls(tuple(requirements), tuple(installed_constraints(requirements)))
        if layer not in OPTIONAL_LAYERS:
            known = ", ".join((DEPENDENCIES, *OPTIONAL_LAYERS))
            raise LayerBuildError(f"no layer {layer!r}: use one of {known}")
        requirements = runtime_requirements(pyproject, extra=layer)
        return cls(
            tuple(requirements),
            tuple(installed_constraints(requirements)),
            name=layer,
            base=cls.from_project(pyproject),
            trim=OPTIONAL_LAYERS[layer],
        )

    @property
    def key(self) -> str:
        fields: dict[str, object] = {
            "requirements": self.requirements,
            "constraints": self.constraints,
            "python_version": self.python_version,
            "implementation": self.implementation,
            "platforms": self.platforms,
            "recipe": self.recipe,
        }
        if self.base is not None:  # (the dependency layer's key is what it was before these)
            fields |= {"name": self.name, "base": self.base.key, "trim": self.trim}
        document = json.dumps(fields, sort_keys=True, default=_as_json)
        return hashlib.sha256(document.encode()).hexdigest()[:32]


def _as_json(value: object) -> object:
    if isinstance(value, Trim):
        return {"unused": value.unused, "keep": value.keep}
    raise TypeError(f"{type(value).__name__} is not JSON")


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
    # An optional layer leaves out what its base holds: the base is built (or found) first.
    base = ensure_built(spec.base, cache_root) if spec.base is not None else None
    cache_root.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache_root / f"{spec.key}.lock"):
        if (final / MANIFEST).is_file():  # another process built it while we waited
            return final
        shutil.rmtree(final, ignore_errors=True)  # leftovers of a build that did not finish
        work = Path(tempfile.mkdtemp(prefix=f".{spec.key}-", dir=cache_root))
        try:
            _build(spec, work, base)
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


def _build(spec: LayerSpec, work: Path, base: Path | None = None) -> None:
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
    print(f"building the Lambda {spec.name} layer in {work} ...", file=sys.stderr, flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(
            f"pip failed ({result.returncode}) building the layer:\n{result.stdout}\n{result.stderr}"
        )
    stripped = _strip(target)
    left_out: list[str] = []
    if base is not None:
        provided = json.loads((base / MANIFEST).read_text())["installed"]
        left_out = leave_out(target, provided, spec.trim)
        stripped += trim_packages(target, spec.trim)
    manifest = {
        "key": spec.key,
        "name": spec.name,
        "base": spec.base.key if spec.base is not None else None,
        "python_version": spec.python_version,
        "implementation": spec.implementation,
        "platforms": list(spec.platforms),
        "requirements": list(spec.requirements),
        "constraints": list(spec.constraints),
        "installed": _installed(target),
        "stripped": stripped,
        "left_out": left_out,
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


def leave_out(target: Path, provided: Sequence[str], trim: Trim) -> list[str]:
    """Remove the distributions the base layer provides (`name==version`, as its manifest lists
    them: the versions must be the same) and the trim's unused ones, file by file from their
    RECORD; returns `name==version` of each one removed."""
    base_versions = dict(pin.split("==", 1) for pin in provided)
    unused = {canonical_name(name) for name in trim.unused}
    gone: list[str] = []
    for pin in _installed(target):
        name, version = pin.split("==", 1)
        if name in base_versions:
            if base_versions[name] != version:
                raise LayerBuildError(
                    f"{name}: {version} here but {base_versions[name]} in the dependency layer; "
                    "Lambda would import the wrong one"
                )
        elif name not in unused:
            continue
        _remove_distribution(target, name)
        gone.append(pin)
    return gone


def _remove_distribution(target: Path, name: str) -> None:
    (info,) = [p for p in target.glob("*.dist-info") if canonical_name(p.name.split("-")[0]) == name]
    root = target.resolve()
    folders: set[Path] = set()
    for row in csv.reader((info / "RECORD").read_text().splitlines()):
        relative = row[0] if row else ""
        path = (target / relative).resolve()
        if not relative or not path.is_relative_to(root) or path == root:
            continue  # e.g. ../../bin/<script>: outside the layer
        if path.is_file() or path.is_symlink():
            path.unlink()
        folders.update(p for p in path.parents if p.is_relative_to(root) and p != root)
    shutil.rmtree(info, ignore_errors=True)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # emptied: only this distribution had files there


def trim_packages(target: Path, trim: Trim) -> list[str]:
    """Keep, in each of the trim's packages, only the files its patterns match (fnmatch on the
    path under the package, where `*` also crosses `/`), and no folder left empty; returns the
    removed paths, relative to `target`, a folder standing for everything under it."""
    gone: list[str] = []
    for package, patterns in trim.keep:
        root = target / package
        if not root.is_dir():
            raise LayerBuildError(f"{package}: not in the layer, so it cannot be trimmed")
        for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            relative = path.relative_to(root)
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
                    gone.append(f"{package}/{relative.as_posix()}/")
            elif not any(fnmatch.fnmatchcase(relative.as_posix(), pattern) for pattern in patterns):
                path.unlink()
                gone.append(f"{package}/{relative.as_posix()}")
    return _collapsed(gone)


def _collapsed(paths: list[str]) -> list[str]:
    """Removed files and folders, a folder standing for everything under it."""
    folders = [p for p in paths if p.endswith("/")]
    return sorted(p for p in paths if not any(p != f and p.startswith(f) for f in folders))


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
    parser.add_argument(
        "--layer",
        choices=(DEPENDENCIES, *OPTIONAL_LAYERS),
        default=DEPENDENCIES,
        help="which layer (an optional one from the pyproject.toml extra of its name)",
    )
    args = parser.parse_args(argv)
    try:
        spec = LayerSpec.from_project(layer=args.layer)
        if args.print_requirements:
            print("\n".join((*spec.requirements, *(f"{c}  # constraint" for c in spec.constraints))))
            return 0
        built = ensure_built(spec)
    except LayerBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size_mb = folder_size(built / "python") / 1e6
    print(f"{spec.name} layer {spec.key}: {built / 'python'} ({size_mb:.1f} MB unzipped)")
    if args.out:
        copy_tree(built / "python", args.out / "python")
        print(f"copied to {args.out / 'python'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
