"""Cold import of every function module in the catalog, each in a fresh interpreter.

What is measured, per module and run: the time of the module's import inside the child
(`time.perf_counter()` around `__import__(module)`, which runs the module's init phase: settings,
container, clients, the FastAPI app), the child's wall time from spawn to exit, and its peak RSS
(VmHWM, read by the child at the end). Rounds go over every module in turn (interleaved, so
drift hits all alike): five rounds, three for the AWS and no-byte-code variants; medians are
reported. A first untimed pass imports everything once so that byte code is compiled and files
are in the page cache, as on a warm disk.

The code is found through a plain `PYTHONPATH=shared:.` (as Lambda finds its layers), the
working directory and TRADING_DATA_DIR are a fresh temporary folder (local runtime), and no
TRADING_/AWS_ variable leaks in from the caller. Baselines in the same rounds: `python -c pass`
and a bare `fastapi.FastAPI()` wrapped in `mangum.Mangum(app, lifespan="off")`.

The AWS runtime is measured separately (TRADING_RUNTIME=aws, s3:// lake and raw roots, fake
credentials): there the modules build botocore clients at import, which must not touch the network;
one extra child imports every module under `strace -f -e trace=connect` (and a Python audit
hook) to verify that.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.bench import report
from tests.bench.report import Target
from trading_system.catalog import CATALOG, Http

ROUNDS = int(os.environ.get("BENCH_IMPORT_ROUNDS", "5"))  # fewer only to try changes quickly
AWS_ROUNDS = min(ROUNDS, 3)  # the AWS variant is secondary; 3 rounds keep `make bench` short
# Every catalog function (63) times ROUNDS fresh interpreters: past pytest's 300 s on a slow day.
pytestmark = pytest.mark.timeout(1200)
HTTP_TARGET = Target("<", 100)  # ms beyond the bare FastAPI+Mangum app
EVENT_TARGET = Target("<", 300)  # ms, absolute

LOCAL = "cold imports, local runtime (TRADING_DATA_DIR=<tmp>)"
AWS = "cold imports, AWS runtime settings (botocore clients built at import; no Lambda markers)"
NETWORK = "network during AWS-runtime cold imports"
NO_BYTECODE = "cold imports without byte code for the layers and function code, AWS runtime settings"
NO_BYTECODE_FUNCTIONS = ("health", "get_bars", "record_coverage", "place_order")
NO_BYTECODE_ROUNDS = 3

_PROBE = """
import sys, time
c0, t0 = time.process_time(), time.perf_counter()
{body}
t1, c1 = time.perf_counter(), time.process_time()
import json
m = sys.modules
print({prefix!r} + json.dumps({{
    "import_ms": (t1 - t0) * 1000, "cpu_ms": (c1 - c0) * 1000,
    "duckdb": "duckdb" in m, "boto3": "boto3" in m, "numpy": "numpy" in m,
    "pandas": "pandas" in m, "pyarrow": "pyarrow" in m,
    "rss_mb": [int(x.split()[1]) / 1024 for x in open("/proc/self/status") if x.startswith("VmHWM")][0],
}}), flush=True)
"""
BARE_APP = "import fastapi, mangum\napp = fastapi.FastAPI()\nhandler = mangum.Mangum(app, lifespan='off')"
BARE_APP_NO_GC = "bare FastAPI+Mangum app, garbage collector off during its import"
BOTO3 = (
    "import boto3\nsession = boto3.session.Session()\n"
    "clients = [session.client(s, region_name='us-east-1') for s in ('s3', 'dynamodb', 'events')]"
)


@dataclass(frozen=True)
class Subject:
    name: str
    kind: str  # http | event | baseline
    code: str  # what runs in `python -c`
    reads_lake: bool = False
    module: str = ""


def subjects() -> list[Subject]:
    found = [
        Subject("python -c pass", "baseline", _PROBE.format(body="pass", prefix=report.RESULT_PREFIX)),
        Subject(
            "bare FastAPI+Mangum app", "baseline", _PROBE.format(body=BARE_APP, prefix=report.RESULT_PREFIX)
        ),
        # The functions' modules run with the garbage collector off until their handler is built
        # (functions/__init__.py): part of what that saves is FastAPI's and pydantic's own import,
        # which this shows. The target stays "beyond the bare app" as anyone writes it (above).
        Subject(
            BARE_APP_NO_GC,
            "baseline",
            _PROBE.format(
                body=f"import gc\ngc.disable()\n{BARE_APP}\ngc.freeze()\ngc.enable()",
                prefix=report.RESULT_PREFIX,
            ),
        ),
    ]
    # A pull's provider is built on its first run, after the function's import: measured apart,
    # as a cold start that pulls pays both (pull_alpaca_bars; pull_binance_bars and the other crypto
    # pulls, with CCXT from their layer). A pull with nothing subscribed builds none. The catalog's
    # pull functions themselves are measured below, with every other module of the catalog.
    for provider in ("alpaca", "binance"):
        body = (
            "from trading_system.adapters.providers import ProviderRegistry\n"
            "from trading_system.config import load_settings\n"
            f"ProviderRegistry(load_settings()).get({provider!r})"
        )
        found.append(
            Subject(
                f"provider {provider} (built)", "event", _PROBE.format(body=body, prefix=report.RESULT_PREFIX)
            )
        )
    for f in sorted(CATALOG, key=lambda f: (not isinstance(f.trigger, Http), f.name)):
        body = f"__import__({f.module!r})"
        found.append(
            Subject(
                f.name,
                "http" if isinstance(f.trigger, Http) else "event",
                _PROBE.format(body=body, prefix=report.RESULT_PREFIX),
                f.reads_lake,
                f.module,
            )
        )
    return found


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def local_env(scratch: Path) -> dict[str, str]:
    return report.child_env(
        TRADING_DATA_DIR=str(scratch / "data"), TRADING_SETTINGS_FILE=str(scratch / "absent.toml")
    )


def aws_env(scratch: Path) -> dict[str, str]:
    return report.child_env(
        TRADING_RUNTIME="aws",
        TRADING_LAKE_ROOT="s3://bench-lake",
        TRADING_RAW_ROOT="s3://bench-raw",
        # What the stack sets on the stream's fan-out, which builds its poster in its init phase.
        TRADING_WEBSOCKET_ENDPOINT="https://bench.execute-api.us-east-1.amazonaws.com/prod",
        TRADING_SETTINGS_FILE=str(scratch / "absent.toml"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="AKIABENCHFAKEKEY0000",
        AWS_SECRET_ACCESS_KEY="bench-fake-secret",
        AWS_SESSION_TOKEN="bench-fake-token",
        AWS_CONFIG_FILE=str(scratch / "absent-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(scratch / "absent-aws-credentials"),
    )


def measure(all_subjects: list[Subject], env: dict[str, str], cwd: Path, rounds: int) -> dict[str, Any]:
    """Interleaved rounds; per subject: the runs and the flags of the last one."""
    warm = "\n".join(f"__import__({s.module!r})" for s in all_subjects if s.module)
    warmup = report.run_child([sys.executable, "-c", f"import fastapi, mangum\n{warm}"], env, cwd)
    assert warmup.returncode == 0, warmup.stderr[-5000:]
    runs: dict[str, dict[str, Any]] = {
        s.name: {"import_ms": [], "cpu_ms": [], "wall_ms": [], "rss_mb": []} for s in all_subjects
    }
    for _ in range(rounds):
        for s in all_subjects:
            child = report.run_child([sys.executable, "-c", s.code], env, cwd)
            assert child.returncode == 0, (s.name, child.stderr[-5000:])
            result = child.result()
            entry = runs[s.name]
            entry["import_ms"].append(result.pop("import_ms"))
            entry["cpu_ms"].append(result.pop("cpu_ms"))
            entry["wall_ms"].append(child.wall_ms)
            entry["rss_mb"].append(result.pop("rss_mb"))
            entry["flags"] = result
    return runs


def median(values: list[float]) -> float:
    return statistics.median(values)


def record(
    section: str, all_subjects: list[Subject], runs: dict[str, Any], rounds: int, check_duckdb: bool = True
) -> None:
    bare = median(runs["bare FastAPI+Mangum app"]["import_ms"])
    report.section(section)
    print(
        f"{'':58} (import = perf_counter around the import in the child; wall = spawn to exit; "
        f"median of {rounds})"
    )
    passed = median(runs["python -c pass"]["wall_ms"])
    report.figure(
        section,
        "baseline: python -c pass (process wall time)",
        passed,
        "ms",
        note=f"peak RSS {median(runs['python -c pass']['rss_mb']):.0f} MB",
        details=_details(all_subjects[0], runs["python -c pass"], None),
    )
    bare_subject = all_subjects[1]
    report.figure(
        section,
        "baseline: bare FastAPI+Mangum app (import)",
        bare,
        "ms",
        note=f"process wall {median(runs[bare_subject.name]['wall_ms']):.0f} ms",
        details=_details(bare_subject, runs[bare_subject.name], None),
    )
    for s in all_subjects[2:]:
        entry = runs[s.name]
        took = median(entry["import_ms"])
        if s.kind == "baseline":
            report.figure(
                section, f"baseline: {s.name} (import)", took, "ms", details=_details(s, entry, None)
            )
            continue
        duck = entry["flags"]["duckdb"]
        flag = "" if (not duck or s.reads_lake) else "  <- imports duckdb without reading the lake"
        if s.kind == "http":
            report.figure(
                section,
                f"http  {s.name}: import beyond bare app",
                took - bare,
                "ms",
                HTTP_TARGET,
                bare,
                ratio=took / bare,
                details=_details(s, entry, bare),
            )
        else:
            report.figure(
                section, f"event {s.name}: import", took, "ms", EVENT_TARGET, details=_details(s, entry, None)
            )
        if flag:
            print(flag)
    offenders = [s.name for s in all_subjects[2:] if runs[s.name]["flags"]["duckdb"] and not s.reads_lake]
    if check_duckdb:
        report.figure(
            section,
            "functions importing duckdb without reading the lake",
            len(offenders),
            "count",
            Target("<", 1),
            note=", ".join(offenders) or "none: only lake/raw functions import duckdb",
        )
    print(
        f"\n{'module':<23} {'kind':<8} {'import ms':>9} {'min-max':>13} {'CPU ms':>7} {'wall ms':>8}"
        f" {'RSS MB':>7}  duckdb boto3"
    )
    for s in all_subjects:
        entry = runs[s.name]
        imports = entry["import_ms"]
        flags = entry.get("flags", {})
        print(
            f"{s.name:<23} {s.kind:<8} {median(imports):>9.1f} {min(imports):>6.0f}-{max(imports):<6.0f} "
            f"{median(entry['cpu_ms']):>7.0f} {median(entry['wall_ms']):>8.0f} "
            f"{median(entry['rss_mb']):>7.0f}  "
            f"{'yes' if flags.get('duckdb') else 'no':<6} {'yes' if flags.get('boto3') else 'no'}"
            f"{'  (reads the lake)' if s.reads_lake else ''}"
        )


def _details(s: Subject, entry: dict[str, Any], bare: float | None) -> dict[str, Any]:
    took = median(entry["import_ms"])
    flags = entry.get("flags", {})
    return {
        "function": s.name,
        "kind": s.kind,
        "import ms": took,
        "beyond bare app ms": took - bare if bare is not None else None,
        "min-max ms": f"{min(entry['import_ms']):.0f}-{max(entry['import_ms']):.0f}",
        "import CPU ms": median(entry["cpu_ms"]),
        "process wall ms": median(entry["wall_ms"]),
        "peak RSS MB": median(entry["rss_mb"]),
        "duckdb": flags.get("duckdb"),
        "boto3": flags.get("boto3"),
        "reads lake": s.reads_lake,
    }


def test_cold_imports_local(scratch: Path) -> None:
    all_subjects = subjects()
    runs = measure(all_subjects, local_env(scratch), scratch, ROUNDS)
    record(LOCAL, all_subjects, runs, ROUNDS)
    record_order_functions(all_subjects, runs)
    for s in all_subjects[2:]:
        flags = runs[s.name]["flags"]
        assert not flags["pandas"] and not flags["pyarrow"], (s.name, flags)
        assert s.reads_lake or not flags["duckdb"], f"{s.name} imports duckdb but does not read the lake"


def record_order_functions(all_subjects: list[Subject], runs: dict[str, Any]) -> None:
    """The Trading context's HTTP functions that do not read the lake (orders, accounts,
    positions, the kill switch): the order path's cold start, summed up in one figure."""
    bare = median(runs["bare FastAPI+Mangum app"]["import_ms"])
    orders = [
        s
        for s in all_subjects
        if s.module.startswith("functions.trading.") and s.kind == "http" and not s.reads_lake
    ]
    beyond = {s.name: median(runs[s.name]["import_ms"]) - bare for s in orders}
    slowest = max(beyond, key=lambda name: beyond[name])
    with_duckdb = [s.name for s in orders if runs[s.name]["flags"]["duckdb"]]
    report.figure(
        LOCAL,
        f"trading order functions ({len(orders)}, no lake): slowest, beyond bare app",
        beyond[slowest],
        "ms",
        HTTP_TARGET,
        bare,
        ratio=(beyond[slowest] + bare) / bare,
        note=f"{slowest}; median of the {len(orders)}: {statistics.median(beyond.values()):.0f} ms beyond "
        f"the bare app; duckdb imported by: {', '.join(with_duckdb) or 'none'}",
    )


def test_cold_imports_aws(scratch: Path) -> None:
    all_subjects = subjects()
    boto3_only = Subject(
        "boto3 + 3 clients", "baseline", _PROBE.format(body=BOTO3, prefix=report.RESULT_PREFIX)
    )
    env = aws_env(scratch)
    runs = measure([*all_subjects, boto3_only], env, scratch, AWS_ROUNDS)
    record(AWS, all_subjects, runs, AWS_ROUNDS)
    report.figure(
        AWS,
        "reference: import boto3 + Session + s3/dynamodb/events clients",
        median(runs[boto3_only.name]["import_ms"]),
        "ms",
        note="what boto3 alone costs a cold start, measured in the same rounds",
        details=_details(boto3_only, runs[boto3_only.name], None),
    )
    check_network(all_subjects, env, scratch)


def test_cold_imports_without_bytecode(scratch: Path) -> None:
    """As a Lambda cold start runs them: the dependency layer is built with `pip --no-compile`
    and its __pycache__ stripped, the shared layer and function code ship without byte code,
    and /opt and /var/task are read-only, so every .py of fastapi, pydantic, boto3, ... and of
    this project is compiled again on each cold start (Lambda's runtime ships its standard
    library compiled). Simulated with PYTHONPYCACHEPREFIX pointing at a folder that holds only
    the standard library's byte code, and PYTHONDONTWRITEBYTECODE=1."""
    prefix = scratch / "pycache"
    env = aws_env(scratch)
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    chosen = [s for s in subjects() if s.kind == "baseline" or s.name in NO_BYTECODE_FUNCTIONS]
    imports = "\n".join(f"__import__({s.module!r})" for s in chosen if s.module)
    filled = report.run_child([sys.executable, "-c", f"import fastapi, mangum\n{imports}"], env, scratch)
    assert filled.returncode == 0, filled.stderr[-5000:]
    paths = sysconfig.get_paths()
    for tree in {paths["purelib"], paths["platlib"], str(report.REPO)}:
        shutil.rmtree(prefix / Path(tree).resolve().relative_to("/"), ignore_errors=True)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    runs = measure(chosen, env, scratch, min(ROUNDS, NO_BYTECODE_ROUNDS))
    record(NO_BYTECODE, chosen, runs, NO_BYTECODE_ROUNDS, check_duckdb=False)


_AUDIT = """
import sys
seen = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "http.client.connect"):
        seen.append(f"{{event}} {{args!r}}"[:200])
sys.addaudithook(hook)
{imports}
import json
print({prefix!r} + json.dumps({{"python_network": seen}}), flush=True)
"""


def check_network(all_subjects: list[Subject], env: dict[str, str], cwd: Path) -> None:
    """Import every module in one child with an audit hook on Python's sockets, under strace
    (connect(2) on AF_INET/AF_INET6, which also catches DuckDB's own HTTP client)."""
    imports = "\n".join(f"__import__({s.module!r})" for s in all_subjects if s.module)
    code = _AUDIT.format(imports=imports, prefix=report.RESULT_PREFIX)
    trace = cwd / "strace.txt"
    strace = shutil.which("strace")
    args = [sys.executable, "-c", code]
    if strace:
        args = [strace, "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(trace), *args]
    child = report.run_child(args, env, cwd)
    result = child.result()
    connects: list[str] = []
    if strace and trace.exists():
        connects = [line for line in trace.read_text().splitlines() if "AF_INET" in line]
    elif strace:
        pytest.fail(f"strace wrote nothing: {child.stderr[-2000:]}")
    attempts = len(connects) + len(result["python_network"])
    report.section(NETWORK)
    report.figure(
        NETWORK,
        "network attempts while importing every module (aws)",
        attempts,
        "count",
        Target("<", 1, source="the brief: no network at import"),
        note=(
            ("strace connect(2) on AF_INET/AF_INET6 " if strace else "strace unavailable; ")
            + "and a Python audit hook on socket events; "
            + (json.dumps((connects + result["python_network"])[:5]) if attempts else "none seen")
        ),
    )
