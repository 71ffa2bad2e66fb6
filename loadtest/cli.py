"""`python -m loadtest`: run a profile headless against a base URL and write the report.

    python -m loadtest --host http://127.0.0.1:8000 --profile stepped --out results/loadtest/stepped
    python -m loadtest --host http://127.0.0.1:8000 --profile soak \
        --from-summary results/loadtest/stepped/summary.json --out results/loadtest/soak
    python -m loadtest --host http://127.0.0.1:8000 --profile smoke --duration 5
    python -m loadtest --profile chaos [--scenario grpc-call-flood ...]

The exit status is 0 when the run met its profile's bar: smoke, every kind sent and no
unexpected answer; soak, all three soak criteria; stepped, a maximum throughput was found;
chaos, every expectation of every scenario that ran (it starts its own services from this
checkout, --host is not used; see loadtest/chaos/catalog.py for the scenarios).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import analysis, machine, report
from loadtest.config import DEFAULT_MIX, KINDS, PROFILES, ConstantPlan, Mix, SteppedPlan
from loadtest.resources import Sample, Sampler, find_server_pid, read_samples, write_samples

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SOAK_FRACTION = 0.7


def _parser() -> argparse.ArgumentParser:
    stepped = SteppedPlan()
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="http://127.0.0.1:8000", help="base URL, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--profile", choices=PROFILES, default="smoke")
    parser.add_argument(
        "--out", type=Path, help="results folder (default: results/loadtest/PROFILE)"
    )
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"kind weights (default {DEFAULT_MIX})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--real-share", type=float, default=0.5, help="real vs synthetic series")
    parser.add_argument(
        "--server-pid",
        type=int,
        help="service pid for memory/CPU samples "
        "(default: the local process listening on the URL's port)",
    )
    parser.add_argument("--per-user-rps", type=float, default=stepped.per_user_rps)
    parser.add_argument("--max-users", type=int, default=stepped.max_users)
    parser.add_argument(
        "--pool-size", type=int, help="pre-encoded bodies per kind (default 128, smoke 32)"
    )
    parser.add_argument("--window", type=float, default=5.0, help="chart window in seconds")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="no run: rebuild the summary and charts from the files in --out",
    )
    steps = parser.add_argument_group("stepped profile")
    steps.add_argument("--start-rps", type=float, default=stepped.start_rps)
    steps.add_argument("--factor", type=float, default=stepped.factor)
    steps.add_argument("--step-seconds", type=float, default=stepped.step_seconds)
    steps.add_argument("--warmup-seconds", type=float, default=stepped.warmup_seconds)
    steps.add_argument("--max-steps", type=int, default=stepped.max_steps)
    steps.add_argument(
        "--max-error-rate",
        type=float,
        default=stepped.max_error_rate,
        help="steps above it end the run and do not count for the maximum",
    )
    constant = parser.add_argument_group("soak and smoke profiles")
    constant.add_argument("--target-rps", type=float, help="offered load (smoke default 20)")
    constant.add_argument(
        "--from-summary", type=Path, help="stepped summary.json: target = --fraction x its maximum"
    )
    constant.add_argument("--fraction", type=float, default=SOAK_FRACTION)
    constant.add_argument(
        "--duration", type=float, help="measured seconds at the target load (soak 600, smoke 5)"
    )
    constant.add_argument(
        "--warmup",
        type=float,
        help="seconds at the target load before the measured ones, for the service's caches "
        "and allocators to settle; counted for errors only (soak 60, smoke 0)",
    )
    chaos = parser.add_argument_group("chaos profile")
    chaos.add_argument(
        "--scenario",
        action="append",
        default=[],
        help="run only this scenario (repeatable; default: all of loadtest/chaos/catalog.py)",
    )
    return parser


def wait_ready(host: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for path in ("/readyz", "/healthz"):
            try:
                with urllib.request.urlopen(f"{host.rstrip('/')}{path}", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = f"{path} {error.code}"
                if error.code != 404:
                    break
            except OSError as error:
                last = str(error)
                break
        time.sleep(0.25)
    raise SystemExit(f"{host} not ready after {timeout:g} s ({last})")


def soak_target(args: argparse.Namespace) -> tuple[float, str]:
    if args.target_rps is not None:
        return args.target_rps, "given with --target-rps"
    if args.profile == "smoke":
        return 20.0, "smoke default"
    if args.from_summary is None:
        raise SystemExit("soak needs --target-rps or --from-summary STEPPED/summary.json")
    stepped = json.loads(args.from_summary.read_text(encoding="utf-8"))
    best = stepped.get("max_throughput")
    if not best:
        raise SystemExit(f"{args.from_summary}: no maximum throughput recorded")
    target = args.fraction * best["rps"]
    rule = f"{args.fraction:.0%} of the {best['rps']:.1f} req/s maximum in {args.from_summary}"
    return target, rule


def locust_command(args: argparse.Namespace, out: Path, plan: ConstantPlan) -> list[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", args.host, "--csv", str(out / "locust"), "--html", str(out / "report.html"),
        "--only-summary", "--loglevel", "WARNING",
        "--lt-profile", args.profile, "--lt-mix", str(Mix.parse(args.mix)),
        "--lt-seed", str(args.seed), "--lt-real-share", str(args.real_share),
        "--lt-per-user-rps", str(args.per_user_rps), "--lt-max-users", str(args.max_users),
        "--lt-pool-size", str(args.pool_size or (32 if args.profile == "smoke" else 128)),
        "--lt-request-log", str(out / "requests.csv"), "--lt-steps-log", str(out / "steps.json"),
    ]  # fmt: skip
    if args.profile == "stepped":
        command += [
            "--lt-start-rps", str(args.start_rps), "--lt-factor", str(args.factor),
            "--lt-step-seconds", str(args.step_seconds),
            "--lt-warmup-seconds", str(args.warmup_seconds),
            "--lt-max-steps", str(args.max_steps), "--lt-max-error-rate", str(args.max_error_rate),
        ]  # fmt: skip
    else:
        command += [
            "--lt-target-rps", f"{plan.target_rps:.3f}", "--lt-duration", str(plan.duration_s),
            "--lt-warmup", str(plan.warmup_s),
        ]  # fmt: skip
    return command


def run_locust(command: list[str], out: Path, server_pid: int | None, limit: float) -> list[Any]:
    with (out / "locust.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        sampler = Sampler(server_pid, process.pid)
        sampler.start()
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            print(f"locust still running after {limit:.0f} s: stopping it", file=sys.stderr)
            process.terminate()
            process.wait(timeout=30)
        finally:
            samples = sampler.stop()
            if process.poll() is None:
                process.kill()
    write_samples(samples, out / "resources.csv")
    return samples


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out: Path = args.out or Path("results/loadtest") / args.profile
    if args.profile == "chaos":
        from loadtest.chaos.profile import run_profile  # grpc, onnx: only for this profile

        return run_profile(args.scenario, out)
    if args.report_only:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        return build_report(run, out, read_samples(out / "resources.csv"), args)
    out.mkdir(parents=True, exist_ok=True)
    wait_ready(args.host, args.ready_timeout)
    server_pid = args.server_pid or find_server_pid(args.host)
    target, target_rule = soak_target(args) if args.profile != "stepped" else (0.0, "")
    soak = args.profile == "soak"
    plan = ConstantPlan(
        target_rps=target,
        duration_s=args.duration or (600.0 if soak else 5.0),
        warmup_s=args.warmup if args.warmup is not None else (60.0 if soak else 0.0),
    )
    if args.profile == "stepped":
        limit = args.max_steps * (args.step_seconds + 2) + 60
    else:
        limit = plan.total_s + 60
    run = {
        "profile": args.profile,
        "host": args.host,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mix": str(Mix.parse(args.mix)),
        "seed": args.seed,
        "server_pid": server_pid,
        "target_rps": target,
        "target_rule": target_rule,
        "warmup_s": plan.warmup_s if args.profile != "stepped" else 0.0,
        "max_error_rate": args.max_error_rate,
        "command": "python -m loadtest " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(f"{args.profile} run against {args.host} -> {out} (server pid {server_pid})")
    samples = run_locust(locust_command(args, out, plan), out, server_pid, limit)
    return build_report(run, out, samples, args)


def build_report(
    run: dict[str, Any], out: Path, samples: list[Sample], args: argparse.Namespace
) -> int:
    """Analyse the run's files in `out` and write the summary and the charts."""
    requests_file, steps_file = out / "requests.csv", out / "steps.json"
    if not requests_file.exists():
        print(f"locust wrote no request log; see {out / 'locust.log'}", file=sys.stderr)
        return 2
    log = analysis.load_request_log(requests_file)
    steps_doc = json.loads(steps_file.read_text()) if steps_file.exists() else {"steps": []}
    steps = steps_doc["steps"]
    rows = analysis.timeline(log, args.window)
    report.write_timeline(rows, out / "timeline.csv")
    profile = run["profile"]
    summary: dict[str, Any] = {
        **{key: run[key] for key in ("profile", "host", "started_at", "mix", "seed")},
        "command": run.get("command", ""),
        "locust_version": importlib.metadata.version("locust"),
        "machine": machine.describe(),
        "server_pid": run["server_pid"],
        "stop_reason": steps_doc.get("stop_reason", ""),
        "totals": analysis.totals(log),
        "steps": analysis.step_results(log, steps),
        "resources": report.resource_summary(samples),
    }
    if profile == "stepped":
        budget = run["max_error_rate"]
        summary["max_throughput"] = analysis.max_throughput(summary["steps"], budget)
        summary["max_throughput_rule"] = (
            f"highest achieved req/s of a step with at most {budget:.0%} errors"
        )
    if profile == "soak":
        since = steps[0]["measured_from"] if steps else log.t0
        verdict = analysis.soak_verdict(log, samples, since=since)
        summary["soak"] = {
            "target_rps": run["target_rps"],
            "target_rule": run["target_rule"],
            "warmup_s": run.get("warmup_s", 0.0),
        }
        summary["soak"].update(verdict)
    if not args.no_charts:
        from loadtest import charts  # matplotlib: imported only when charts are drawn

        title = f"{profile} run, {run['started_at']}, mix {run['mix']}"
        written = charts.write_charts(out, title, rows, steps, samples, log.t0)
        summary["charts"] = [path.name for path in written]
    report.write_summary(summary, out)
    print(report.markdown(summary))
    return exit_status(summary)


def exit_status(summary: dict[str, Any]) -> int:
    totals = summary["totals"]
    if summary["profile"] == "smoke":
        missing = [kind for kind in KINDS if totals[kind]["requests"] == 0]
        if missing:
            print(f"no {', '.join(missing)} requests were sent", file=sys.stderr)
        return 0 if not missing and totals["all"]["failures"] == 0 else 1
    if summary["profile"] == "soak":
        return 0 if summary["soak"]["passed"] else 1
    return 0 if summary.get("max_throughput") else 1
