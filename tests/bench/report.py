"""Benchmark figures: one aligned line each on stdout, and a JSON record of the run.

Every figure of a `make bench` run is appended to `.cache/bench/run-<date>-<time>.json` (and
copied to `.cache/bench/latest.json`) together with the facts of the machine, so that
docs/BENCHMARKS.md can be regenerated from a run without re-reading the console:

    .venv/bin/python -m tests.bench.report                  # markdown tables of the latest run
    .venv/bin/python -m tests.bench.report .cache/bench/run-20260101-120000.json

Figures are printed and recorded, never asserted: a miss is information, not a test failure.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "bench"
RUN_FILE_ENV = "BENCH_RUN_FILE"
_PACKAGES = ("duckdb", "numpy", "fastapi", "mangum", "pydantic", "boto3", "aws-lambda-powertools")


@dataclass(frozen=True)
class Target:
    """A budget: `Target("<", 100)` reads "less than 100"."""

    op: str
    value: float
    source: str = "DESIGN.md §11"

    def met(self, value: float) -> bool:
        return value < self.value if self.op == "<" else value > self.value

    def __str__(self) -> str:
        return f"{self.op} {number(self.value)}"


def number(value: float | None) -> str:
    """Readable numbers: thousands separators for big ones, three significant digits for small."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "git_head": commit,
    }


def start_run(command: str) -> Path:
    """Open a new run file and make it the one every later `figure` call (in this process and
    its children) appends to."""
    CACHE.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = CACHE / f"run-{now:%Y%m%d-%H%M%S}.json"
    run: dict[str, Any] = {
        "date": now.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_facts(),
    }
    run["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    run["cpu_start"] = _cpu_seconds()
    run["figures"] = []
    _write(path, run)
    os.environ[RUN_FILE_ENV] = str(path)
    return path


def finish_run(path: Path, seconds: float) -> dict[str, Any]:
    """Note how long the run took and the load average at its end (other work on the machine
    shows up there, and in the figures)."""
    run: dict[str, Any] = json.loads(path.read_text())
    run["duration_s"] = round(seconds, 1)
    run["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    run["cpu_core_seconds"] = cpu_used_since(run.pop("cpu_start", None), seconds)
    _write(path, run)
    return run


def cpu_snapshot() -> dict[str, float] | None:
    return _cpu_seconds()


def cpu_used_since(start: dict[str, float] | None, seconds: float) -> dict[str, float] | None:
    """Core-seconds used since `start` by the machine, by this process and its children, and
    so by every other process (which competes with the benchmarks for the 2 cores)."""
    end = _cpu_seconds()
    if not start or not end:
        return None
    busy = end["machine_busy"] - start["machine_busy"]
    ours = end["this_run"] - start["this_run"]
    return {
        "machine": round(busy, 1),
        "this_run": round(ours, 1),
        "other_processes": round(max(busy - ours, 0.0), 1),
        "steal": round(end["steal"] - start["steal"], 1),
        "available": round(seconds * len(os.sched_getaffinity(0)), 1),
    }


def note_contention(test: str, used: dict[str, float] | None) -> None:
    """Record, per test, how much CPU other processes took while it ran."""
    if used is None:
        return
    path = run_file()
    run = json.loads(path.read_text())
    run.setdefault("contention", {})[test] = used
    _write(path, run)
    print(f"\n[{test}] CPU core-seconds: {used}")


def _cpu_seconds() -> dict[str, float] | None:
    """Busy CPU time of the whole machine (/proc/stat) and of this process and its waited-for
    children (getrusage), in core-seconds: their difference over a run is what other processes
    took while the benchmarks ran."""
    import resource

    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "machine_busy": (user + nice + system + irq + softirq) / tick,
        "steal": steal / tick,
        "this_run": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
    }


def run_file() -> Path:
    given = os.environ.get(RUN_FILE_ENV)
    if given:
        return Path(given)
    return start_run(" ".join(sys.argv))


def figure(
    section: str,
    name: str,
    value: float,
    unit: str,
    target: Target | None = None,
    baseline: float | None = None,
    *,
    ratio: float | None = None,
    note: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """Print one aligned line and append the figure to the run file.

    `ratio` defaults to value / baseline. The status is pass / MISS against the target, or
    `info` for a figure without one.
    """
    if ratio is None and baseline:
        ratio = value / baseline
    status = "info" if target is None else ("pass" if target.met(value) else "MISS")
    record = {
        "section": section,
        "name": name,
        "value": value,
        "unit": unit,
        "target": str(target) if target else None,
        "target_source": target.source if target else None,
        "baseline": baseline,
        "ratio": ratio,
        "status": status,
        "note": note,
        **extra,
    }
    print(line(record), flush=True)
    path = run_file()
    run = json.loads(path.read_text())
    run["figures"].append(record)
    _write(path, run)
    return record


HEADER = f"{'figure':<58} {'value':>11} {'unit':<7} {'target':>12} {'baseline':>11} {'ratio':>7}  status"


def line(record: dict[str, Any]) -> str:
    ratio = record["ratio"]
    return (
        f"{record['name']:<58} {number(record['value']):>11} {record['unit']:<7} "
        f"{record['target'] or '-':>12} {number(record['baseline']):>11} "
        f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>7}  {record['status']}"
    )


def section(title: str) -> None:
    print(f"\n== {title}\n{HEADER}", flush=True)


# -- measuring in subprocesses -----------------------------------------------------------------

RESULT_PREFIX = "BENCH-RESULT "


@dataclass(frozen=True)
class Child:
    """A finished subprocess: wall time from spawn to exit, and its output."""

    returncode: int
    wall_ms: float
    stdout: str
    stderr: str

    def result(self) -> dict[str, Any]:
        """The JSON the child printed on its `BENCH-RESULT ` line; fails loudly if it crashed."""
        for text in reversed(self.stdout.splitlines()):
            if text.startswith(RESULT_PREFIX):
                parsed: dict[str, Any] = json.loads(text.removeprefix(RESULT_PREFIX))
                return parsed
        raise AssertionError(
            f"the benchmark subprocess failed (exit {self.returncode}):\n{self.stdout[-3000:]}\n"
            f"{self.stderr[-5000:]}"
        )


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured subprocess: this one's, without any TRADING_/AWS_/
    POWERTOOLS_ setting or Lambda marker, with the code found as Lambda finds it (a plain
    sys.path entry for `shared/` and one for the repository, not the editable-install finder)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRADING_", "AWS_", "POWERTOOLS_", "PYTHON", "_X_AMZN", "BENCH_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "shared"), str(REPO)])
    env.update(extra)
    return env


def data_env(data_dir: Path) -> dict[str, str]:
    """`child_env` for a process of the local runtime on `data_dir` (no settings file, and no
    proxy: it talks to 127.0.0.1 only)."""
    env = child_env(TRADING_SETTINGS_FILE=str(data_dir / "absent.toml"), TRADING_DATA_DIR=str(data_dir))
    return {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


def run_scenario(module: str, scenario: str, folder: Path, env: dict[str, str]) -> Child:
    """`python -m <module> <scenario> <folder>` in a child; a failed child raises with its output."""
    folder.mkdir(parents=True, exist_ok=True)
    child = run_child([sys.executable, "-m", module, scenario, str(folder)], env, REPO)
    if child.returncode != 0:
        child.result()  # raises with the child's output
    return child


def run_child(args: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 600) -> Child:
    """Run a subprocess to completion, timing it from spawn to exit.

    Peak memory is not taken from here: Linux carries the RSS high-water mark of the forked
    copy of this process across execve into the child's ru_maxrss (wait4 and RUSAGE_SELF alike),
    so a child of a 100 MB pytest never reports less than 100 MB. Children read their own VmHWM
    instead (`peak_rss_mb`), which belongs to the new address space only."""
    import tempfile
    import threading
    import time

    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=err)
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status = os.waitpid(proc.pid, 0)
        finally:
            timer.cancel()
        wall_ms = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return Child(proc.returncode, wall_ms, out.decode(errors="replace"), stderr)


def emit(result: dict[str, Any]) -> None:
    """Called in a child: hand the measurements back to the parent."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: /proc/self/clear_refs), so that
    `peak_rss_mb` then covers only what runs after. False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM), since exec or the last `reset_peak_rss`."""
    return _status_mb("VmHWM:")


def rss_mb() -> float:
    return _status_mb("VmRSS:")


def _status_mb(field: str) -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith(field):
            return int(text.split()[1]) / 1024
    return float("nan")


def _write(path: Path, run: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=1, default=str))
    tmp.replace(path)
    latest = path.parent / "latest.json"
    latest_tmp = latest.with_suffix(".tmp")
    latest_tmp.write_text(path.read_text())
    latest_tmp.replace(latest)


def markdown(run: dict[str, Any]) -> str:
    """The run as markdown: machine facts, then one table per section."""
    m = run["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    out = [
        f"- date (UTC): {run['date']}",
        f"- command: `{run['command']}`",
        f"- nproc: {m['nproc']}; CPU: {m['cpu_model']}; memory: {m['memory']}; kernel {m['kernel']}",
        f"- Python {m['python']}; {packages}",
        f"- git HEAD: {m['git_head']} (plus the working tree's uncommitted changes)",
        f"- load average (1, 5, 15 min) at start: {run.get('load_average_start')}, "
        f"at end: {run.get('load_average_end')}; duration {run.get('duration_s')} s",
        f"- CPU core-seconds during the run: {run.get('cpu_core_seconds')} "
        "(`other_processes` is what the rest of the machine took while the benchmarks ran)",
    ]
    for test, used in run.get("contention", {}).items():
        out.append(
            f"  - {test}: {used['other_processes']} of {used['available']} core-seconds taken by "
            f"other processes ({used['this_run']} by the benchmark)"
        )
    sections: dict[str, list[dict[str, Any]]] = {}
    for record in run["figures"]:
        sections.setdefault(record["section"], []).append(record)
    for title, records in sections.items():
        out += [
            "",
            f"### {title}",
            "",
            "| figure | value | unit | target | baseline | ratio | status |",
            "|---|---:|---|---:|---:|---:|---|",
        ]
        for r in records:
            ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
            status = "**MISS**" if r["status"] == "MISS" else r["status"]
            out.append(
                f"| {r['name']} | {number(r['value'])} | {r['unit']} | {r['target'] or '-'} | "
                f"{number(r['baseline'])} | {ratio} | {status} |"
            )
        notes = [r for r in records if r["note"]]
        if notes:
            out.append("")
            out += [f"- {r['name']}: {r['note']}" for r in notes]
        detailed = [r for r in records if r.get("details")]
        if detailed:
            columns = list(detailed[0]["details"])
            out += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            for r in detailed:
                cells = [_cell(r["details"].get(c)) for c in columns]
                out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    return "-" if value is None else str(value)


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else CACHE / "latest.json"
    if not path.exists():
        print(f"no benchmark run at {path}: run `make bench` first", file=sys.stderr)
        return 1
    print(markdown(json.loads(path.read_text())), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
