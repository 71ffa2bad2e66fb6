"""`python -m bench.compare --ref COMMIT`: the service of this checkout against another commit.

Both services run side by side from their own code and bundled models (the reference is
checked out into a temporary git worktree), and wrk loads them in alternating rounds
at the same number of clients, so a change of the machine's load hits both alike. Every
round starts both services afresh, in alternating order. `--ref HEAD` compares the
checkout with itself: the spread it shows is the method's own. Prints the
median req/s per model and the ratio this checkout / reference, and the service processes'
CPU time per answered request (user + system, from /proc), which other load on the machine
changes far less than throughput.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import batching
from bench.loadgen import LoadResult, ensure_wrk, run_wrk, with_cpu
from bench.payloads import MODELS, Payload, payload
from bench.servers import REPO, RunningServer, running, service_spec


@dataclass(frozen=True)
class Measured:
    load: LoadResult
    batch_rows: float  # rows per onnxruntime run over the round, both workers


def _measure(
    server: RunningServer, body: Payload, wrk: str, connections: int, seconds: float, workers: int
) -> Measured:
    """One round of one side: wrk's result, the CPU time and the batcher's average batch."""
    load = partial(run_wrk, wrk, server.url, body, connections, seconds)
    result, batches = batching.around(
        server.url, body.model, workers, partial(with_cpu, server.process.pid, load)
    )
    return Measured(result, batches.average_batch_rows)


def worktree(ref: str, stack: ExitStack) -> Path:
    target = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ref-"))) / "ref"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(target), ref], check=True
    )
    stack.callback(
        subprocess.run,
        ["git", "-C", str(REPO), "worktree", "remove", "--force", str(target)],
        check=False,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--ref", default="HEAD~1", help="commit to compare with (default HEAD~1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0, help="per round and service")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--this-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of this checkout's service only, e.g. RNN_SERVE_GRPC_PORT=0 "
        "(with --ref HEAD: the cost of one setting)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of both services, e.g. RNN_SERVE_MAX_REQUESTS_PER_CONNECTION=0",
    )
    args = parser.parse_args(argv)
    this_env = dict(item.split("=", 1) for item in args.this_env)
    both_env = dict(item.split("=", 1) for item in args.env)
    wrk = ensure_wrk()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-compare-logs-"))
    runs: dict[str, dict[str, list[Measured]]] = {m: {"this": [], "ref": []} for m in MODELS}
    with ExitStack() as stack:
        roots = {"this": REPO, "ref": worktree(args.ref, stack)}
        env = {"RNN_SERVE_ACCESS_LOG": "true", **both_env}
        for round_index in range(args.rounds):
            # Fresh services every round, started and measured in alternating order: measured
            # with one pair started once, the same code came out up to 14% apart depending
            # on which service started (and was measured) first.
            order = ("this", "ref") if round_index % 2 == 0 else ("ref", "this")
            with ExitStack() as round_stack:
                servers = {}
                for side in order:
                    # Each side serves its own checkout's models (their card format may differ).
                    side_env = {**env, **this_env} if side == "this" else env
                    spec = service_spec(roots[side] / "models", args.workers, side_env)
                    servers[side] = round_stack.enter_context(
                        running(spec, payload("forecast"), log_dir / side, root=roots[side])
                    )
                for model in MODELS:
                    body = payload(model)
                    for side in order:
                        run_wrk(wrk, servers[side].url, body, args.connections, 2.0)  # warm-up
                    for side in order:
                        measured = _measure(
                            servers[side], body, wrk, args.connections, args.seconds, args.workers
                        )
                        assert not measured.load.errors, f"{side}: {measured.load.error_detail}"
                        runs[model][side].append(measured)
    for model in MODELS:
        print(f"{model}@{args.connections}:")
        for label, unit, figure in (
            ("throughput", "req/s", lambda m: m.load.throughput),
            ("CPU per request", "us", lambda m: m.load.cpu_us_per_request or 0.0),
            ("p99 latency", "ms", lambda m: m.load.p99_ms),
            ("rows per batch", "rows", lambda m: m.batch_rows),
        ):
            rounds = {
                side: [round(figure(r), 1) for r in runs[model][side]] for side in runs[model]
            }
            this, ref = (statistics.median(rounds[side]) for side in ("this", "ref"))
            print(
                f"  {label}: this {this:,.1f} {unit}, {args.ref} {ref:,.1f} {unit}, "
                f"ratio {this / ref:.3f} (rounds: this {rounds['this']}, ref {rounds['ref']})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
