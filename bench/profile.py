"""`python -m bench.profile`: where a worker's CPU goes per request, by stage.

Starts the service on the bundled models, loads it with wrk (closed loop), and records one
worker with py-spy (a sampling profiler: the worker runs unmodified) while the server
processes' CPU time per request is read from /proc. Each sample is given to the innermost
stage its stack passes through (`STAGES`); samples of threads that are only waiting (the
event loop in epoll, the idle onnxruntime executor thread, the supervisor's ping thread, the
gRPC poller) are left out. A stage's share of the remaining samples times the measured CPU
per request gives its microseconds per request. Writes `results/bench/profile.{json,md}`.

Needs py-spy (in the dev extra) and permission to attach to a child process (root, or
`kernel.yama.ptrace_scope` 0).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import ensure_wrk, run_wrk, with_cpu
from bench.machine import describe
from bench.payloads import MODELS, payload
from bench.servers import REPO, running, service_spec

# (stage, substrings of a frame "function (file:line)"), innermost match wins, in this order
# among frames of the same depth. Frames are matched on py-spy's "name (path:line)" text.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inference (onnxruntime)", ("Session.run", "SequenceRunner", "pad_rows")),
    (
        "batching and thread hand-off",
        ("DynamicBatcher", "ThreadPoolExecutor", "_chain_future", "Future.", "futures.py"),
    ),
    ("encoding", ("Codec.encode", "orjson.dumps", "from_graph", "_answer_array")),
    (
        "parsing and validation",
        ("parse_json", "read_body", "content_type", ".decode (", "Codec.prepare", "checks.py"),
    ),
    ("access log and metrics", ("logs.py", "metrics.py", "RequestRecorder")),
    ("routing and request context", ("edge.py", "dataplane.py", "app.py", "context.py")),
    ("HTTP server (uvicorn, httptools, limits)", ("httptools_impl.py", "protocol.py", "uvicorn")),
)
IDLE_LEAVES = ("Runner.run", "_worker (concurrent", "Connection._recv")
IDLE_THREADS = ("_poll_wrapper",)  # grpc.aio's completion-queue poller, blocked in C
OTHER = "event loop and other"


@dataclass(frozen=True)
class Profile:
    model: str
    connections: int
    requests_per_s: float
    cpu_us_per_request: float
    samples: int
    idle_samples: int
    stages: dict[str, float]  # stage -> share of the busy samples

    def us_per_request(self) -> dict[str, float]:
        return {name: share * self.cpu_us_per_request for name, share in self.stages.items()}


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, markers in STAGES:
            if any(marker in frame for marker in markers):
                return stage
    return OTHER


def is_idle(thread: str, frames: list[str]) -> bool:
    if not frames or any(marker in thread for marker in IDLE_THREADS):
        return True
    return any(marker in frames[-1] for marker in IDLE_LEAVES)


def split_samples(raw_lines: list[str]) -> tuple[collections.Counter[str], int]:
    """py-spy's raw (collapsed) output -> busy samples per stage, and the idle sample count."""
    stages: collections.Counter[str] = collections.Counter()
    idle = 0
    for line in raw_lines:
        line = line.rstrip()
        if not line:
            continue
        stack, count_text = line.rsplit(" ", 1)
        thread, *frames = stack.split(";")
        count = int(count_text)
        if is_idle(thread, frames):
            idle += count
        else:
            stages[stage_of(frames)] += count
    return stages, idle


def _worker_pid(supervisor_pid: int) -> int:
    children = subprocess.run(
        ["pgrep", "-P", str(supervisor_pid), "-f", "spawn_main"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    workers = [
        int(pid)
        for pid in children
        if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]
    if not workers:
        raise RuntimeError("no worker process found under the service")
    return workers[0]


def find_py_spy() -> str | None:
    """py-spy beside this interpreter (a virtualenv's, not activated), else on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("py-spy", path=search)


def profile_model(
    model: str, connections: int, seconds: float, workers: int, rate: int, out_dir: Path
) -> Profile:
    py_spy = find_py_spy()
    if py_spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy (it is in the dev extra)")
    wrk = ensure_wrk()
    body = payload(model)
    spec = service_spec(REPO / "models", workers, {"RNN_SERVE_ACCESS_LOG": "true"})
    with running(spec, body, out_dir / "logs") as server:
        run_wrk(wrk, server.url, body, connections, 3.0)  # warm-up
        worker = _worker_pid(server.process.pid)
        raw = out_dir / f"{model}.raw"
        result: dict[str, Any] = {}

        def load() -> None:
            result["run"] = with_cpu(
                server.process.pid,
                lambda: run_wrk(wrk, server.url, body, connections, seconds + 2),
            )

        loader = threading.Thread(target=load)
        loader.start()
        record = [py_spy, "record", "-p", str(worker), "-d", str(round(seconds))]
        subprocess.run(
            [*record, "-r", str(rate), "-f", "raw", "-o", str(raw), "--threads", "--nonblocking"],
            capture_output=True,
            check=True,
        )
        loader.join()
    run = result["run"]
    stages, idle = split_samples(raw.read_text().splitlines())
    busy = sum(stages.values())
    return Profile(
        model=model,
        connections=connections,
        requests_per_s=run.throughput,
        cpu_us_per_request=run.cpu_us_per_request or 0.0,
        samples=busy + idle,
        idle_samples=idle,
        stages={name: count / busy for name, count in stages.most_common()},
    )


def markdown(profiles: list[Profile], machine: dict[str, Any]) -> str:
    lines = [
        "# Per-request CPU by stage",
        "",
        f"`python -m bench.profile` on {machine['cpu_model']} ({machine['nproc']} cores), "
        f"{machine['date_utc']}, load average at start {machine['load_average_at_start']}. "
        "One worker sampled by py-spy under wrk load; CPU per request measured from /proc for "
        "all server processes; a stage's microseconds = its share of the busy samples x the "
        "CPU per request.",
        "",
    ]
    for item in profiles:
        lines += [
            f"## {item.model}, {item.connections} clients: {item.requests_per_s:,.0f} req/s, "
            f"{item.cpu_us_per_request:.0f} us CPU per request",
            "",
            "| stage | share | us per request |",
            "|---|---:|---:|",
        ]
        for name, micros in item.us_per_request().items():
            lines.append(f"| {name} | {item.stages[name]:.1%} | {micros:.0f} |")
        lines += ["", f"{item.samples} samples, {item.idle_samples} of them idle.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench")
    args = parser.parse_args(argv)
    machine = describe(shutil.which("wrk"))
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    profiles = [
        profile_model(model, args.connections, args.seconds, args.workers, args.rate, work)
        for model in args.models.split(",")
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine, "profiles": [p.__dict__ for p in profiles]}
    (args.out / "profile.json").write_text(json.dumps(record, indent=2) + "\n")
    text = markdown(profiles, machine)
    (args.out / "profile.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
