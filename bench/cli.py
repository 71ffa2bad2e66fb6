"""`python -m bench`: argument parsing and the files one run writes."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import charts, report, targets
from bench.config import APPS, MODELS, BenchConfig, quick
from bench.loadgen import LoadGeneratorError
from bench.peers import run as peers_run
from bench.peers.run import PeerOptions
from bench.peers.systems import PEERS
from bench.run import Run, log, write_json


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def _optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def _parser() -> argparse.ArgumentParser:
    d = BenchConfig()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service against the in-process and HTTP ceilings and two "
        "baselines. Run it alone on the machine: flock /tmp/rnn-bench.lock python -m bench",
    )
    p.add_argument("--models-dir", type=Path, default=d.models_dir)
    p.add_argument("--out", type=Path, default=d.out_dir, help="results directory")
    p.add_argument(
        "--benchmarks-md",
        type=_optional_path,
        default=d.benchmarks_md,
        help="file whose generated section is rewritten ('' for none)",
    )
    p.add_argument("--duration", type=int, default=d.duration_s, help="seconds per load point")
    p.add_argument("--warmup", type=int, default=d.warmup_s, help="warm-up seconds per point")
    p.add_argument("--inprocess-seconds", type=float, default=d.inprocess_s)
    p.add_argument("--connections", type=_ints, default=d.connections, help="e.g. 1,8,32,128,512")
    p.add_argument("--batch-sizes", type=_ints, default=d.batch_sizes, help="e.g. 1,8,32,128")
    p.add_argument("--workers", type=int, default=d.workers, help="uvicorn workers (all apps)")
    p.add_argument(
        "--ort-threads",
        type=int,
        default=d.ort_threads,
        help="onnxruntime intra-op threads of the service and in-process runs",
    )
    p.add_argument("--wrk-threads", type=int, default=d.wrk_threads)
    p.add_argument("--apps", default=",".join(APPS), help=f"subset of {','.join(APPS)}")
    p.add_argument("--models", default=",".join(MODELS), help=f"subset of {','.join(MODELS)}")
    p.add_argument("--selection-workers", type=_ints, default=d.selection_workers)
    p.add_argument(
        "--selection-threads",
        type=_ints,
        default=d.selection_threads,
        help="'' skips the workers x threads measurement",
    )
    p.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra RNN_SERVE_* setting of the service, e.g. RNN_SERVE_MAX_QUEUE_DELAY_MS=1",
    )
    p.add_argument(
        "--v2",
        action=argparse.BooleanOptionalAction,
        default=d.v2,
        help="also measure the service over KServe V2: HTTP JSON, HTTP binary, gRPC (h2load)",
    )
    p.add_argument(
        "--v2-rounds",
        type=int,
        default=d.v2_rounds,
        help="alternate native and V2 points N times at 32 clients (the target takes the median)",
    )
    p.add_argument(
        "--peers",
        action="store_true",
        help="instead: the service against other serving systems (PyTriton, MLServer, "
        "LitServe, BentoML, Ray Serve), each from its own virtualenv (built on first use); "
        "writes peers.json, peers.md and the peers section of BENCHMARKS.md",
    )
    p.add_argument(
        "--peer-systems",
        default=",".join(PEERS),
        help=f"with --peers: subset of {','.join(PEERS)}",
    )
    p.add_argument(
        "--peers-report",
        action="store_true",
        help="rewrite peers.md and the BENCHMARKS.md section from the peers.json in --out "
        "(no measurement)",
    )
    p.add_argument("--peer-rounds", type=int, default=3, help="with --peers: rounds per model")
    p.add_argument("--peer-clients", type=int, default=32, help="with --peers: wrk clients")
    p.add_argument(
        "--peer-lock",
        type=_optional_path,
        default=Path("/tmp/rnn-bench.lock"),
        help="with --peers: flock held by each server's start, check and load ('' for none, "
        "e.g. under an outer flock of the same file)",
    )
    p.add_argument(
        "--peer-cache",
        type=_optional_path,
        default=None,
        help="with --peers: directory of the peers' virtualenvs "
        "(default $BENCH_PEERS_CACHE or ~/.cache/rnn-serving/peers)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 s points, 1 and 8 clients, 1 worker, no BENCHMARKS.md",
    )
    return p


def config_from(args: argparse.Namespace) -> BenchConfig:
    config = BenchConfig(
        models_dir=args.models_dir,
        out_dir=args.out,
        benchmarks_md=args.benchmarks_md,
        duration_s=args.duration,
        warmup_s=args.warmup,
        inprocess_s=args.inprocess_seconds,
        connections=args.connections,
        batch_sizes=args.batch_sizes,
        workers=args.workers,
        ort_threads=args.ort_threads,
        wrk_threads=args.wrk_threads,
        apps=tuple(a for a in args.apps.split(",") if a),
        models=tuple(m for m in args.models.split(",") if m),
        selection_workers=args.selection_workers,
        selection_threads=args.selection_threads,
        service_env=dict(item.split("=", 1) for item in args.service_env),
        v2=args.v2,
        v2_rounds=args.v2_rounds,
    )
    unknown = set(config.apps) - set(APPS) | set(config.models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown app or model: {', '.join(sorted(unknown))}")
    if args.quick:
        config = quick(config)
        if args.out == BenchConfig().out_dir:
            config = replace(config, out_dir=Path("results/bench-quick"))
    return config


def write_outputs(results: dict[str, Any], config: BenchConfig) -> list[targets.Target]:
    found = targets.evaluate(results)
    results["targets"] = [t.to_dict() for t in found]
    out = config.out_dir
    write_json(results, out / "results.json")
    pngs = charts.draw(results, out)
    names = [p.name for p in pngs]
    text = report.markdown(results, found, names)
    (out / "results.md").write_text("# Benchmark results\n\n" + text + "\n", encoding="utf-8")
    if config.benchmarks_md is not None:
        base = config.benchmarks_md.resolve().parent
        relative = [os.path.relpath(p.resolve(), base) for p in pngs]
        report.update_benchmarks_md(config.benchmarks_md, report.markdown(results, found, relative))
    return found


def peer_options(args: argparse.Namespace) -> PeerOptions:
    systems = tuple(s for s in args.peer_systems.split(",") if s)
    models = tuple(m for m in args.models.split(",") if m)
    unknown = set(systems) - set(PEERS) | set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown peer system or model: {', '.join(sorted(unknown))}")
    benchmarks_md = args.benchmarks_md
    out = args.out
    return PeerOptions(
        systems=systems,
        models=models,
        models_dir=args.models_dir.resolve(),
        out_dir=out,
        benchmarks_md=benchmarks_md,
        clients=args.peer_clients,
        rounds=args.peer_rounds,
        duration_s=args.duration,
        warmup_s=args.warmup,
        lock=args.peer_lock,
        cache=args.peer_cache,
        wrk_threads=args.wrk_threads,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.peers_report:
        return peers_run.report_only(args.out, args.benchmarks_md)
    if args.peers:
        command = shlex.join(["python", "-m", "bench", *argv])
        try:
            return peers_run.main(peer_options(args), command)
        except LoadGeneratorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    config = config_from(args)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        run = Run(config, shlex.join(["python", "-m", "bench", *argv]))
    except LoadGeneratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = run.all(on_part=lambda: write_json(run.results, config.out_dir / "results.json"))
    found = write_outputs(results, config)
    for target in found:
        verdict = {True: "pass", False: "FAIL", None: "not measured"}[target.passed]
        log(f"{target.name}: {target.value} ({verdict}, {target.margin})")
    log(f"wrote {config.out_dir}/results.json, results.md and charts")
    return 1 if run.results["failures"] else 0
