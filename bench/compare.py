"""`python -m bench.compare --ref COMMIT`: the service of this checkout against another commit.

Both services run side by side from their own code and bundled models (the reference is
checked out into a temporary git worktree), and wrk loads them in alternating rounds
at the same number of clients, so a change of the machine's load hits both alike. Prints the
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
from pathlib import Path

from bench.cpu import group_cpu_seconds
from bench.loadgen import ensure_wrk, run_wrk
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
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and service")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-compare-logs-"))
    with ExitStack() as stack:
        reference = _worktree(args.ref, stack)
        env = {"RNN_SERVE_ACCESS_LOG": "true"}
        ready = payload("forecast")
        # Each side serves its own checkout's models (the card format may differ between them).
        this_spec = service_spec(REPO / "models", args.workers, env)
        ref_spec = service_spec(reference / "models", args.workers, env)
        servers = {
            "this": stack.enter_context(running(this_spec, ready, log_dir / "this")),
            "ref": stack.enter_context(running(ref_spec, ready, log_dir / "ref", root=reference)),
        }
        for model in MODELS:
            body = payload(model)
            rates: dict[str, list[float]] = {name: [] for name in servers}
            cpu_us: dict[str, list[float]] = {name: [] for name in servers}
            for server in servers.values():  # warm-up
                run_wrk(wrk, server.url, body, args.connections, 2.0)
            for _ in range(args.rounds):
                for name, server in servers.items():
                    cpu_before = group_cpu_seconds(server.process.pid)
                    result = run_wrk(wrk, server.url, body, args.connections, args.seconds)
                    cpu_spent = group_cpu_seconds(server.process.pid) - cpu_before
                    assert not result.errors, f"{name}: {result.error_detail}"
                    rates[name].append(result.throughput)
                    cpu_us[name].append(round(1e6 * cpu_spent / max(1, result.requests), 1))
            this, ref = (statistics.median(rates[n]) for n in ("this", "ref"))
            this_cpu, ref_cpu = (statistics.median(cpu_us[n]) for n in ("this", "ref"))
            print(
                f"{model}@{args.connections}: this {this:,.0f} req/s, {args.ref} {ref:,.0f} req/s, "
                f"ratio {this / ref:.3f} (rounds: this {rates['this']}, ref {rates['ref']})\n"
                f"  CPU per request: this {this_cpu:.0f} us, {args.ref} {ref_cpu:.0f} us, "
                f"ratio {this_cpu / ref_cpu:.3f} (rounds: this {cpu_us['this']}, "
                f"ref {cpu_us['ref']})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
