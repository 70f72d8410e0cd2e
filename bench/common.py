"""What every bench shares: result tables, percentiles, RSS and CPU readings, child processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T0 = 1_795_000_000.0  # a fixed "now" for the simulated estates (2026-11-18)


@dataclass
class Table:
    """One bench's result: rows of cells, rendered as a Markdown table."""

    title: str
    columns: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (need not be sorted)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def _status_kb(name: str, pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return float(line.split()[1])
    return float("nan")


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now, MiB."""
    return _status_kb("VmRSS", pid) / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """Highest resident set size so far, MiB."""
    return _status_kb("VmHWM", pid) / 1024


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a bench child: `exporter` and `bench` import from this tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def run_child(module: str, args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
    """Run `python -m module args…` and return the JSON object on its last line of output."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(env),
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class SimProcess:
    """The simulator in a process of its own (bench/simproc.py), so it never holds the GIL of the
    process being measured. Its CPU time is read from /proc, so each bench can report its cost."""

    def __init__(self, spec: dict[str, Any], *, clock: float | None = T0, latency: float = 0.0,
                 cache_lists: bool = False) -> None:
        args = ["--spec", json.dumps(spec), "--latency", str(latency)]
        if clock is not None:
            args += ["--clock", repr(clock)]
        if cache_lists:
            args.append("--cache-lists")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.simproc", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=ROOT,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(10)
            raise RuntimeError("the simulator process did not start")
        started = json.loads(line)
        self.url: str = started["url"]
        self.identity_header: str = started["identity_header"]
        self.vault_refs: list[list[str]] = started["vault_refs"]
        self.pid = self._process.pid

    def identity_env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": f"{self.url}/msi/token", "IDENTITY_HEADER": self.identity_header}

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def set_latency(self, seconds: float) -> None:
        self.control("POST", "/_sim/latency", {"latency": seconds})

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # the child stops when its stdin closes
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
