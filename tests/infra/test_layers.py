"""The optional dependency layers (the catalog's `Layer`): each an extra of pyproject.toml, built
on top of the dependency layer without what it already has, and trimmed to what its functions
import. The trim is proved here on this machine's own packages: the trimmed tree is made from
the installed ccxt and, in a fresh interpreter that cannot see what was trimmed away, builds each
exchange and fetches bars from the fake ones (the built layer's wheels are for Lambda's Python and
CPU, so they cannot be imported here; the built layer's ccxt/ is checked to be that same tree)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from layers import build_layer
from tests.fakes.fixtures import server
from tests.fakes.provider_server import CASES, ProviderServer
from trading_system.adapters.providers import CCXT_EXCHANGES
from trading_system.catalog import CATALOG, Layer

__all__ = ["server"]  # the fake provider server, a fixture

CRYPTO = build_layer.OPTIONAL_LAYERS[Layer.CRYPTO.value]
START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)

_CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCKED = set(json.loads(sys.argv[1]))

    class Trimmed(importlib.abc.MetaPathFinder):
        # what the layer left out is not there: as in Lambda, where nothing else provides it
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (trimmed)", name=name)
            return None

    sys.meta_path.insert(0, Trimmed())
    from datetime import datetime
    from trading_system.adapters.providers.ccxt_exchange import CcxtProvider
    from trading_system.market_data.domain import Timeframe

    built = {e: type(CcxtProvider(e).exchange).__name__ for e in json.loads(sys.argv[2])}
    # A page of bars from the fake exchanges: markets loaded, OHLCV fetched and parsed.
    fetched = {}
    start, end = (datetime.fromisoformat(t) for t in json.loads(sys.argv[4]))
    for exchange, symbol in json.loads(sys.argv[3]).items():
        provider = CcxtProvider(exchange, base_url=sys.argv[5])
        provider.exchange.enableRateLimit = False
        fetched[exchange] = len(provider.fetch_bars(symbol, Timeframe.M1, start, end).series)
    modules = {
        name: getattr(module, "__file__", None)
        for name, module in sys.modules.items()
        if name == "ccxt" or name.startswith("ccxt.")
    }
    print(json.dumps({"built": built, "fetched": fetched, "ccxt": modules, "loaded": sorted(sys.modules)}))
    """
)


def _top_level_modules(distributions: tuple[str, ...]) -> list[str]:
    """The import names of these installed distributions (attrs: `attr` and `attrs`)."""
    wanted = {build_layer.canonical_name(d) for d in distributions}
    return sorted(
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if any(build_layer.canonical_name(owner) in wanted for owner in owners)
    )


def _installed_ccxt() -> Path:
    spec = importlib.util.find_spec("ccxt")
    assert spec is not None and spec.submodule_search_locations, "ccxt is installed by the `local` extra"
    return Path(next(iter(spec.submodule_search_locations)))


def _trimmed_copy(target: Path) -> list[str]:
    shutil.copytree(_installed_ccxt(), target / "ccxt", ignore=shutil.ignore_patterns("__pycache__"))
    return build_layer.trim_packages(target, CRYPTO)


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_trimmed_ccxt_tree_imports_and_builds_each_exchange(
    tmp_path: Path, server: ProviderServer
) -> None:
    """Each exchange built, and those the fake server plays (not Coinbase) fetched from."""
    gone = _trimmed_copy(tmp_path)
    assert {"ccxt/async_support/", "ccxt/pro/", "ccxt/test/"} <= set(gone)
    kept_exchanges = sorted(p.stem for p in (tmp_path / "ccxt").glob("*.py") if p.stem != "__init__")
    assert kept_exchanges == sorted(CCXT_EXCHANGES)

    blocked = _top_level_modules(CRYPTO.unused)
    assert {"aiohttp", "uvloop", "yarl"} <= set(blocked)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADING_", "AWS_"))}
    # The trimmed tree first on the path, as Lambda puts its layers before site-packages.
    env["PYTHONPATH"] = os.pathsep.join((str(tmp_path), env.get("PYTHONPATH", "")))
    fakes = {name: case for name, case in CASES.items() if name in CCXT_EXCHANGES}
    for case in fakes.values():
        server.state.add(case.market, START, 30, price=case.price)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            json.dumps(blocked),
            json.dumps(CCXT_EXCHANGES),
            json.dumps({name: case.symbol for name, case in fakes.items()}),
            json.dumps([START.isoformat(), (START + timedelta(minutes=30)).isoformat()]),
            server.url,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["built"] == {exchange: exchange for exchange in CCXT_EXCHANGES}
    assert result["fetched"] == dict.fromkeys(CCXT_EXCHANGES, 30)  # every exchange has a fake
    outside = {name: file for name, file in result["ccxt"].items() if not str(file).startswith(str(tmp_path))}
    assert not outside, f"imported from outside the trimmed tree: {outside}"
    assert not any(m.startswith(("ccxt.async_support", "ccxt.pro")) for m in result["loaded"])
    assert not {m.partition(".")[0] for m in result["loaded"]} & set(blocked)


def test_leaving_out_the_base_layers_packages_refuses_another_version(tmp_path: Path) -> None:
    info = tmp_path / "idna-3.1.dist-info"
    info.mkdir()
    (tmp_path / "idna").mkdir()
    (tmp_path / "idna" / "__init__.py").write_text("")
    (info / "RECORD").write_text("idna/__init__.py,,\nidna-3.1.dist-info/RECORD,,\n")
    with pytest.raises(build_layer.LayerBuildError, match=r"idna: 3\.1 here but 3\.18"):
        build_layer.leave_out(tmp_path, ["idna==3.18"], build_layer.Trim())
    assert build_layer.leave_out(tmp_path, ["idna==3.1"], build_layer.Trim()) == ["idna==3.1"]
    assert not any(tmp_path.iterdir())  # its files, its dist-info and its emptied folder


def test_each_layer_the_catalog_names_is_a_pinned_extra_the_local_runtime_installs() -> None:
    pyproject = tomllib.loads(build_layer.PYPROJECT.read_text())["project"]
    named = {layer for entry in CATALOG for layer in entry.layers}
    assert named == set(Layer)  # a layer nothing names would be built and uploaded for nothing
    assert set(build_layer.OPTIONAL_LAYERS) == {layer.value for layer in Layer}
    for layer in Layer:
        assert build_layer.runtime_requirements(extra=layer.value)  # exact pins, or it raises
        assert f"trading-system[{layer.value}]" in pyproject["optional-dependencies"]["local"]
    assert build_layer.runtime_requirements(extra="crypto") == ["ccxt==4.5.90"]


def test_the_crypto_layer_is_ccxt_trimmed_without_the_dependency_layers_packages(
    dependency_layer: Path, optional_layers: dict[Layer, Path], tmp_path: Path
) -> None:
    crypto = optional_layers[Layer.CRYPTO]
    manifest = json.loads((crypto / build_layer.MANIFEST).read_text())
    base = json.loads((dependency_layer / build_layer.MANIFEST).read_text())
    assert manifest["base"] == base["key"]
    installed = {pin.split("==")[0] for pin in manifest["installed"]}
    assert installed == {"ccxt", "certifi", "charset-normalizer", "requests"}
    assert not installed & {pin.split("==")[0] for pin in base["installed"]}
    # Exactly the tree the import test above proved, from the same ccxt version.
    assert f"ccxt=={importlib.metadata.version('ccxt')}" in manifest["installed"]
    _trimmed_copy(tmp_path)
    assert _files(crypto / "python" / "ccxt") == _files(tmp_path / "ccxt")
    size = build_layer.folder_size(crypto / "python")
    print(f"\nunzipped: crypto layer {size / 1e6:.1f} MB")
    assert size < 10e6
