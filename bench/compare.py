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
from functools import partial
from pathlib import Path

from bench.loadgen import ensure_wrk, run_wrk, with_cpu
from bench.payloads import MODELS, payload
from bench.servers import REPO, running, service_spec


def _worktree(ref: str, stack: ExitStack) -> Path:
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
    rates: dict[str, dict[str, list[float]]] = {m: {"this": [], "ref": []} for m in MODELS}
    cpu_us: dict[str, dict[str, list[float]]] = {m: {"this": [], "ref": []} for m in MODELS}
    p99_ms: dict[str, dict[str, list[float]]] = {m: {"this": [], "ref": []} for m in MODELS}
    with ExitStack() as stack:
        roots = {"this": REPO, "ref": _worktree(args.ref, stack)}
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
                        server = servers[side]
                        result = with_cpu(
                            server.process.pid,
                            partial(run_wrk, wrk, server.url, body, args.connections, args.seconds),
                        )
                        assert not result.errors, f"{side}: {result.error_detail}"
                        rates[model][side].append(result.throughput)
                        cpu_us[model][side].append(result.cpu_us_per_request or 0.0)
                        p99_ms[model][side].append(result.p99_ms)
    for model in MODELS:
        this, ref = (statistics.median(rates[model][n]) for n in ("this", "ref"))
        this_cpu, ref_cpu = (statistics.median(cpu_us[model][n]) for n in ("this", "ref"))
        this_p99, ref_p99 = (statistics.median(p99_ms[model][n]) for n in ("this", "ref"))
        print(
            f"{model}@{args.connections}: this {this:,.0f} req/s, {args.ref} {ref:,.0f} req/s, "
            f"ratio {this / ref:.3f} (rounds: this {rates[model]['this']}, "
            f"ref {rates[model]['ref']})\n"
            f"  CPU per request: this {this_cpu:.0f} us, {args.ref} {ref_cpu:.0f} us, "
            f"ratio {this_cpu / ref_cpu:.3f} (rounds: this {cpu_us[model]['this']}, "
            f"ref {cpu_us[model]['ref']})\n"
            f"  p99 latency: this {this_p99:.1f} ms, {args.ref} {ref_p99:.1f} ms "
            f"(rounds: this {p99_ms[model]['this']}, ref {p99_ms[model]['ref']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
