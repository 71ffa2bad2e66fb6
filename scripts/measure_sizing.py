"""Measure what the Kubernetes requests and limits are sized from (run with the project's venv).

    python scripts/measure_sizing.py --models-dir models [--requests 400] [--out sizing.json]

Starts the real service (`python -m service`, 1 worker, loopback only) several times and
measures:

- memory: the resident set (RSS, whole process tree) once ready, with every bundled model, and
  with each model left out (its cost = the difference); then one more version of the largest
  model is added while serving and picked up by hot reload (the cost of one more loaded
  version: versions accumulate until a restart);
- CPU per request: the service's CPU time (user + system) over a fixed number of `/forecast`
  and `/sentiment` requests, one at a time and 16 at a time (batching), divided by the count.

Prints a Markdown table and writes the figures as JSON. Sends traffic to 127.0.0.1 only; every
loop is bounded by a request count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from loadtest.process import stop_service  # noqa: E402

REVIEW = (
    "I went in expecting very little and came out surprised. The first half drags, the "
    "dialogue is stiff and the lead seems lost, but the second half finds its rhythm: the "
    "score is lovely, the photography of the coast is beautiful and the final twenty minutes "
    "are moving without being sentimental. Not a masterpiece, and a good twenty minutes too "
    "long, yet I would happily watch it again with friends. The supporting cast deserves "
    "most of the credit, especially the sister, who steals every scene she is in. "
) * 2  # about 190 words: near the median IMDB review (173 words)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def tree_rss_mb(pid: int) -> float:
    return sum(p.memory_info().rss for p in tree(pid)) / 2**20


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        times = p.cpu_times()
        total += times.user + times.system
    return total


@contextmanager
def service(
    models_dir: Path, reload_s: float = 0.0, workers: int = 1
) -> Iterator[tuple[str, int, float]]:
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        RNN_SERVE_WORKERS=str(workers),
        RNN_SERVE_ACCESS_LOG="false",
        RNN_SERVE_RELOAD_INTERVAL_S=str(reload_s),
    )
    cmd = [sys.executable, "-m", "service", "--models-dir", str(models_dir), "--port", str(port)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"service exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("service not ready in 120 s")
        ready_s = time.monotonic() - started
        time.sleep(2)  # let start-up allocations settle
        yield url, process.pid, ready_s
    finally:
        stop_service(process)


def copy_models(src: Path, dst: Path, leave_out: str | None = None) -> Path:
    for model in sorted(p for p in src.iterdir() if p.is_dir() and p.name != leave_out):
        shutil.copytree(model, dst / model.name)
    return dst


def add_version(models_dir: Path, name: str, version: str) -> None:
    """Copy the newest version of a model as a new version (card edited to match)."""
    versions = sorted((models_dir / name).iterdir())
    staging = models_dir / name / f".{version}.staging"
    shutil.copytree(versions[-1], staging)
    card_path = staging / "card.json"
    card = json.loads(card_path.read_text())
    card["version"] = version
    card_path.write_text(json.dumps(card))
    staging.rename(models_dir / name / version)  # atomic: the reloader never sees half of it


def payloads(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    bodies: dict[str, dict[str, Any]] = {}
    for model in listing["models"]:
        if model["task"] == "forecast" and model["name"] == "forecast":
            series = [round(0.5 + 0.4 * ((t * 37) % 17) / 17, 4) for t in range(100)]
            bodies["/forecast"] = {"series": [series]}
        elif model["task"] == "sentiment":
            bodies["/sentiment"] = {"texts": [REVIEW]}
    return bodies


async def cpu_per_request(
    url: str, pid: int, path: str, body: dict[str, Any], count: int, concurrency: int
) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(20):  # warm-up
            (await client.post(path, json=body)).raise_for_status()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                (await client.post(path, json=body)).raise_for_status()

        cpu0, t0 = tree_cpu_s(pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu1, t1 = tree_cpu_s(pid), time.perf_counter()
    return {
        "cpu_ms_per_request": round(1000 * (cpu1 - cpu0) / count, 3),
        "requests_per_s": round(count / (t1 - t0), 1),
        "service_cpu_cores_busy": round((cpu1 - cpu0) / (t1 - t0), 2),
    }


def machine() -> dict[str, Any]:
    model_name = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model_name,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def measure(models_dir: Path, count: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python " + " ".join(sys.argv),
        "machine": machine(),
        "memory_mib": {},
        "cpu": {},
    }
    names = sorted(p.name for p in models_dir.iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as tmp:
        everything = copy_models(models_dir, Path(tmp) / "all")
        with service(everything, reload_s=1.0) as (url, pid, ready_s):
            result["seconds_to_ready"] = round(ready_s, 2)
            result["memory_mib"]["all_models_ready"] = round(tree_rss_mb(pid), 1)
            listing = httpx.get(f"{url}/models").json()
            for path, body in payloads(listing).items():
                for concurrency in (1, 16):
                    figures = asyncio.run(cpu_per_request(url, pid, path, body, count, concurrency))
                    result["cpu"][f"{path} c={concurrency}"] = figures
            result["memory_mib"]["all_models_after_load"] = round(tree_rss_mb(pid), 1)
            largest = max(
                names,
                key=lambda n: sum(
                    f.stat().st_size for f in (models_dir / n).rglob("*") if f.is_file()
                ),
            )
            before = tree_rss_mb(pid)
            add_version(everything, largest, "999")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                listing = httpx.get(f"{url}/models").json()
                served = {
                    v["version"]
                    for m in listing["models"]
                    if m["name"] == largest
                    for v in m["versions"]
                }
                if "999" in served:
                    break
                time.sleep(0.5)
            else:
                raise RuntimeError("the added version was not hot-reloaded in 60 s")
            time.sleep(2)
            result["memory_mib"][f"one_more_{largest}_version_hot_reloaded"] = round(
                tree_rss_mb(pid) - before, 1
            )
        for name in names:
            subset = copy_models(models_dir, Path(tmp) / f"without-{name}", leave_out=name)
            with service(subset) as (_url, pid, _ready_s):
                rss = tree_rss_mb(pid)
            result["memory_mib"][f"cost_of_{name}"] = round(
                result["memory_mib"]["all_models_ready"] - rss, 1
            )
        fresh = copy_models(models_dir, Path(tmp) / "all-again")
        with service(fresh, workers=2) as (_url, pid, ready_s):
            result["memory_mib"]["all_models_ready_2_workers"] = round(tree_rss_mb(pid), 1)
            result["seconds_to_ready_2_workers"] = round(ready_s, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = measure(args.models_dir.resolve(), args.requests)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
