"""The machine a run happened on, and the versions that matter for the numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "onnxruntime",
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "orjson",
    "numpy",
    "tensorflow-cpu",
    "keras",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _wrk_version(wrk: str | None) -> str | None:
    if wrk is None:
        return None
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else None


def cpu_ticks(stat: Path = Path("/proc/stat")) -> list[int]:
    """The machine's CPU time so far, in ticks: user, nice, system, idle, iowait, irq,
    softirq, steal (empty where /proc/stat is missing)."""
    try:
        first = stat.read_text(encoding="utf-8").splitlines()[0].split()
    except (OSError, IndexError):
        return []
    return [int(value) for value in first[1:9]]


def steal_percent(before: list[int], after: list[int]) -> float | None:
    """The share of the machine's time between two `cpu_ticks` that the hypervisor gave to
    other guests: CPU the run wanted and did not get, which no local measure shows."""
    if len(before) < 8 or len(after) < 8:
        return None
    spent = [later - earlier for earlier, later in zip(before, after, strict=True)]
    total = sum(spent)
    return round(100 * spent[7] / total, 1) if total else None


def describe(wrk: str | None) -> dict[str, Any]:
    return {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {name: v for name in PACKAGES if (v := _version(name)) is not None},
        "wrk": _wrk_version(wrk),
    }
