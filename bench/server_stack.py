"""`python -m bench.server_stack`: what the service's own server layer costs, on its own.

The HTTP ceiling of `python -m bench` is the bare ASGI app (`bench.apps.ceiling`) under plain
`uvicorn --workers N`. The service runs under its own layer instead (`service.server`: the
supervisor, workers that balance their accepts on a shared board, the httptools protocol with
connection limits and head-and-body writes). Here the same bare app runs under both, in
alternating rounds under wrk, so a difference is that layer's and not the app's. The app
answers the service's own answers that `python -m bench` captured
(`results/bench/ceiling-answers.json`), as in the ceiling. Prints and writes the median req/s
and server CPU per request of each, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.apps.ceiling import ANSWERS_ENV
from bench.loadgen import LoadResult, ensure_wrk, run_wrk, with_cpu
from bench.machine import describe
from bench.payloads import MODELS, payload
from bench.servers import REPO, ServerSpec, app_spec, running

CEILING_APP = "bench.apps.ceiling"
SIDES = ("uvicorn", "service layer")
ANSWERS = REPO / "results" / "bench" / "ceiling-answers.json"


def service_layer_spec(workers: int, env: dict[str, str]) -> ServerSpec:
    command = [sys.executable, "-m", "bench.server_stack", "--serve", "--workers", str(workers)]
    return ServerSpec("service-layer", command, env)


def serve(host: str, port: int, workers: int) -> int:
    """The bare app under `python -m service`'s uvicorn configuration and supervisor."""
    from service.config import Settings
    from service.server import Supervisor, uvicorn_config

    settings = Settings(host=host, port=port, workers=workers, models_dir=REPO / "models")
    config = uvicorn_config(settings)
    config.app, config.factory = f"{CEILING_APP}:app", False
    supervisor = Supervisor(
        config, sockets=[config.bind_socket()], balance_accepts=settings.balance_accepts
    )
    supervisor.run()
    return 0


def measure(
    model: str, rounds: int, seconds: float, connections: int, workers: int, log_dir: Path
) -> dict[str, list[LoadResult]]:
    wrk = ensure_wrk()
    body = payload(model)
    env = {ANSWERS_ENV: str(ANSWERS)} if ANSWERS.exists() else {}
    specs = {
        "uvicorn": app_spec("ceiling", CEILING_APP, workers, env),
        "service layer": service_layer_spec(workers, env),
    }
    results: dict[str, list[LoadResult]] = {side: [] for side in SIDES}
    for round_index in range(rounds):
        order = SIDES if round_index % 2 == 0 else SIDES[::-1]
        for side in order:
            with running(specs[side], body, log_dir) as server:
                url = server.url
                run_wrk(wrk, url, body, connections, 2.0)  # warm-up, not counted

                def load(url: str = url) -> LoadResult:
                    return run_wrk(wrk, url, body, connections, seconds)

                result = with_cpu(server.process.pid, load)
            if result.errors:
                raise RuntimeError(f"{side}: {result.errors} errors {result.error_detail}")
            results[side].append(result)
    return results


def summary(results: dict[str, list[LoadResult]]) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    for side, runs in results.items():
        cpu = [r.cpu_us_per_request for r in runs if r.cpu_us_per_request is not None]
        sides[side] = {
            "requests_per_s": round(statistics.median(r.throughput for r in runs), 1),
            "cpu_us_per_request": round(statistics.median(cpu), 1) if cpu else None,
            "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
            "rounds": [r.to_dict() for r in runs],
        }
    base, layer = sides["uvicorn"], sides["service layer"]
    ratios = {"requests_per_s": round(layer["requests_per_s"] / base["requests_per_s"], 3)}
    if base["cpu_us_per_request"] and layer["cpu_us_per_request"]:
        ratios["cpu_us_per_request"] = round(
            layer["cpu_us_per_request"] / base["cpu_us_per_request"], 3
        )
    return {"sides": sides, "service_layer_over_uvicorn": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server_stack", description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS), help="whose request bodies")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ANSWERS.with_name("server_stack.json"))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.host, args.port, args.workers)
    report: dict[str, Any] = {"machine": describe(ensure_wrk()), "connections": args.connections}
    log_dir = args.out.parent / "logs"
    for model in args.models.split(","):
        results = measure(model, args.rounds, args.seconds, args.connections, args.workers, log_dir)
        report[model] = summary(results)
        sides = report[model]["sides"]
        print(
            f"{model}: uvicorn {sides['uvicorn']['requests_per_s']:,.0f} req/s "
            f"{sides['uvicorn']['cpu_us_per_request']} us/req; service layer "
            f"{sides['service layer']['requests_per_s']:,.0f} req/s "
            f"{sides['service layer']['cpu_us_per_request']} us/req; ratios "
            f"{report[model]['service_layer_over_uvicorn']}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
