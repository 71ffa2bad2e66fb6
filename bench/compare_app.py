"""`python -m bench.compare_app --ref COMMIT`: this checkout's app against another commit's,
in process, without HTTP.

`bench.compare` measures the whole server; this measures the app alone (edge, data plane,
batcher, onnxruntime; see `bench/asgi_driver.py`), so a difference between two commits can be
placed on one side of uvicorn's protocol or the other. Each round starts `--processes`
drivers of one side at once (one per uvicorn worker it stands for, each with its share of the
clients), then the same for the other side, alternating which goes first. Prints the median
CPU time per request and req/s per model, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.compare import worktree
from bench.payloads import MODELS, payload
from bench.servers import REPO

DRIVER = Path(__file__).with_name("asgi_driver.py")


def run_side(
    repo: Path, path: str, body: Path, processes: int, clients: int, seconds: float
) -> dict[str, float]:
    """`processes` drivers of one checkout at once; CPU per request averaged, req/s summed."""
    command = [sys.executable, str(DRIVER), "--repo", str(repo), "--path", path]
    command += ["--body", str(body), "--clients", str(clients), "--seconds", str(seconds)]
    with ExitStack() as stack:
        directories = [
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-prom-"))
            for _ in range(processes)
        ]
        started = [
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                # As under `python -m service` with several workers: multiprocess metrics.
                env={**_environment(), "PROMETHEUS_MULTIPROC_DIR": directory},
            )
            for directory in directories
        ]
        results = [_result(repo, process) for process in started]
    failed = [r["statuses"] for r in results if set(r["statuses"]) != {"200"}]
    if failed:
        raise RuntimeError(f"{repo}: answers other than 200: {failed}")
    return {
        "cpu_us_per_request": statistics.fmean(r["cpu_us_per_request"] for r in results),
        "requests_per_s": sum(r["requests_per_s"] for r in results),
    }


def _result(repo: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    output = process.communicate()[0].strip()
    if process.returncode != 0 or not output:
        raise RuntimeError(f"{repo}: the driver stopped with status {process.returncode}")
    result: dict[str, Any] = json.loads(output.splitlines()[-1])
    return result


def _environment() -> dict[str, str]:
    """This environment without service settings: each side runs on its defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RNN_SERVE_")}


def _summary(name: str, this: list[dict[str, float]], ref: list[dict[str, float]]) -> str:
    lines = [f"{name}:"]
    for key, label in (("cpu_us_per_request", "CPU per request (us)"), ("requests_per_s", "req/s")):
        a = statistics.median(r[key] for r in this)
        b = statistics.median(r[key] for r in ref)
        rounds_a = ", ".join(f"{r[key]:.0f}" for r in this)
        rounds_b = ", ".join(f"{r[key]:.0f}" for r in ref)
        lines.append(
            f"  {label}: this {a:,.1f}, ref {b:,.1f}, ratio {a / b:.3f} "
            f"(rounds: this [{rounds_a}], ref [{rounds_b}])"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_app", description=__doc__)
    parser.add_argument("--ref", default="HEAD~1", help="commit to compare with (default HEAD~1)")
    parser.add_argument("--connections", type=int, default=32, help="clients, all processes")
    parser.add_argument("--processes", type=int, default=2, help="drivers per side at once")
    parser.add_argument("--seconds", type=float, default=6.0, help="per round and side")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--models", default=",".join(MODELS), help="subset of forecast,sentiment")
    args = parser.parse_args(argv)
    clients = max(1, args.connections // args.processes)
    with ExitStack() as stack:
        reference = worktree(args.ref, stack)
        bodies = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-body-")))
        for model in args.models.split(","):
            body = payload(model)
            body_file = bodies / f"{model}.json"
            body_file.write_bytes(body.body)
            measured: dict[str, list[dict[str, Any]]] = {"this": [], "ref": []}
            for round_number in range(args.rounds):
                order = [("this", REPO), ("ref", reference)]
                for side, repo in order if round_number % 2 == 0 else order[::-1]:
                    measured[side].append(
                        run_side(repo, body.path, body_file, args.processes, clients, args.seconds)
                    )
            print(
                _summary(
                    f"{model}@{args.connections} in process", measured["this"], measured["ref"]
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
