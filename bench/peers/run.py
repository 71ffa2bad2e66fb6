"""`python -m bench --peers`: this service and each peer system, one after another, each
server holding the benchmark lock (`/tmp/rnn-bench.lock`, flock) while it starts, is checked
and is loaded: `rounds` x `duration` s of wrk's closed loop per model, after a discarded
warm-up. Writes peers.json and peers.md, and the peers section of BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import resource
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import loadgen, machine
from bench.apps.common import MODELS_DIR_ENV
from bench.payloads import Payload
from bench.peers import check, venvs
from bench.peers.report import update_benchmarks_md, write_report
from bench.peers.systems import PEERS, BodyKind, Peer, answer, payload
from bench.run import log, write_json
from bench.servers import RunningServer, ServerSpec, log_tail, running, service_spec

TOKEN_ENV = "BENCH_PEER_TOKEN"  # every process of one peer server inherits it
SERVICE_BODIES: tuple[BodyKind, ...] = ("native-json", "v2-json")


@dataclass(frozen=True)
class PeerOptions:
    systems: tuple[str, ...]
    models: tuple[str, ...]
    models_dir: Path
    out_dir: Path
    benchmarks_md: Path | None
    clients: int = 32
    rounds: int = 3
    duration_s: int = 10
    warmup_s: int = 2
    lock: Path | None = Path("/tmp/rnn-bench.lock")
    cache: Path | None = None
    wrk_threads: int = 1


@contextlib.contextmanager
def bench_lock(path: Path | None) -> Iterator[float]:
    """flock(2) on `path` (what flock(1) takes), held for the block; yields seconds waited."""
    if path is None:
        yield 0.0
        return
    started = time.monotonic()
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def token_processes(token: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose environment carries this token."""
    needle = f"{TOKEN_ENV}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone, or not ours to read
            continue
        found.append((int(entry.name), cmdline.strip()[:200]))
    return found


def cpu_times() -> list[int]:
    """The machine's CPU time counters (user nice system idle iowait irq softirq steal)."""
    with open("/proc/stat", encoding="ascii") as stat:
        return [int(v) for v in stat.readline().split()[1:9]]


def cpu_shares(before: Sequence[int], after: Sequence[int]) -> dict[str, float]:
    """Shares of all CPU time between two readings: niced work (others' nice-19 jobs),
    idle, and steal (the hypervisor running other guests on these cores)."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    return {
        "nice": round(delta[1] / total, 3),
        "idle": round((delta[3] + delta[4]) / total, 3),
        "steal": round(delta[7] / total, 3),
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc/stat and /proc/<pid>/stat


def group_pids(pgid: int) -> list[int]:
    """The processes of one process group (the service: its uvicorn master and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[2]) == pgid:
                    found.append(int(entry.name))
    return found


def process_ticks(pids: Sequence[int]) -> dict[int, int]:
    """User + system CPU ticks of each process still alive."""
    ticks = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = int(stat[11]) + int(stat[12])
    return ticks


def children_ticks() -> float:
    """CPU ticks of this process's finished children (wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * CLOCK_TICKS


def own_shares(
    before: Sequence[int], after: Sequence[int], server_ticks: float, wrk_ticks: float
) -> dict[str, float]:
    """Shares of all CPU time used by the measured server, by wrk, and by everything else
    that was busy (other people's processes, niced or not)."""
    total = sum(b - a for a, b in zip(before, after, strict=True)) or 1
    shares = cpu_shares(before, after)
    others = 1.0 - shares["idle"] - shares["steal"] - (server_ticks + wrk_ticks) / total
    return {
        "server": round(server_ticks / total, 3),
        "wrk": round(wrk_ticks / total, 3),
        "others": round(max(others, 0.0), 3),
    }


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def token_pids(token: str) -> list[int]:
    return [pid for pid, _ in token_processes(token)]


def _in_group(token: str, pgid: int) -> bool:
    """Whether a process carrying the token is still in the process group `pgid`."""
    for pid, _ in token_processes(token):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pgid:
                return True
    return False


def stop_peer(process: subprocess.Popen[bytes], token: str, grace_s: float) -> list[str]:
    """SIGTERM the leader and give it `grace_s` to stop its own children (Ray: serve.shutdown),
    then SIGTERM/SIGKILL its process group, then every process still carrying the token (they
    are reported: a clean stop leaves none)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    for signum, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        deadline = time.monotonic() + wait_s
        while _in_group(token, process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    left = token_processes(token)
    if left:
        _signal_all([pid for pid, _ in left], signal.SIGKILL)
    return [f"{pid} {cmd}" for pid, cmd in left]


def peer_spec(
    peer: Peer, python: Path, model: str, env: Mapping[str, str], token: str
) -> ServerSpec:
    """The peer serving `model`, its processes carrying `token`, stopped by `stop_peer`."""
    return ServerSpec(
        f"{peer.name} ({model})",
        peer.command(python, model),
        {**env, TOKEN_ENV: token},
        startup_timeout_s=peer.startup_timeout_s,
        log_name=f"peer-{peer.name}-{model}.log",
        stop=partial(stop_peer, token=token, grace_s=peer.stop_grace_s),
    )


@contextlib.contextmanager
def peer_server(
    peer: Peer, python: Path, model: str, env: Mapping[str, str], log_dir: Path
) -> Iterator[RunningServer]:
    """The peer, running; a failure while it runs is raised with the tail of its log."""
    spec = peer_spec(peer, python, model, env, uuid.uuid4().hex)
    with running(spec, payload(peer.body, model, peer.v2_text_shape), log_dir) as server:
        try:
            yield server
        except Exception as exc:
            tail = log_tail(server.log, 1500)
            raise RuntimeError(f"{spec.name}: {exc}; log tail:\n{tail}") from exc


def server_token(server: RunningServer) -> str:
    return server.spec.env[TOKEN_ENV]


def versions_in_log(peer: Peer, log_file: Path) -> dict[str, str]:
    text = log_file.read_text(encoding="utf-8", errors="replace")
    found = {name: re.search(pattern, text) for name, pattern in peer.log_versions.items()}
    return {name: match.group(1) for name, match in found.items() if match}


class PeerRun:
    def __init__(self, options: PeerOptions, command: str) -> None:
        self.options = options
        self.wrk = loadgen.ensure_wrk()
        self.logs = options.out_dir / "logs"
        self.results: dict[str, Any] = {
            "command": command,
            "machine": machine.describe(self.wrk),
            "config": {
                "clients": options.clients,
                "rounds": options.rounds,
                "duration_s": options.duration_s,
                "warmup_s": options.warmup_s,
                "max_batch": 32,
                "models": list(options.models),
                "lock": str(options.lock) if options.lock else None,
            },
            "service": {},
            "peers": {},
            "failures": [],
        }

    def _rounds(
        self, url: str, body: Payload, warmup_s: float, pids: Callable[[], list[int]]
    ) -> list[dict[str, Any]]:
        o = self.options
        warm = loadgen.run_wrk(self.wrk, url, body, o.clients, warmup_s, o.wrk_threads)
        time.sleep(min(warm.max_ms / 1000 + 0.2 if warm.requests else 5.0, 30.0))
        points = []
        for round_ in range(o.rounds):
            server = process_ticks(pids())
            wrk = children_ticks()
            before = cpu_times()
            result = loadgen.run_wrk(self.wrk, url, body, o.clients, o.duration_s, o.wrk_threads)
            after = cpu_times()
            wrk = children_ticks() - wrk
            server_after = process_ticks(list(server))
            used = sum(server_after[p] - server[p] for p in server_after)
            shares = {**cpu_shares(before, after), **own_shares(before, after, used, wrk)}
            log(
                f"  {body.model:9s} {body.description:11s} round {round_ + 1}: "
                f"{result.throughput:9,.1f} req/s  p99 {result.p99_ms:7.2f} ms  "
                f"errors {result.errors}  CPU: server {shares['server']:.0%}, wrk "
                f"{shares['wrk']:.0%}, others {shares['others']:.0%}, steal {shares['steal']:.0%}"
            )
            points.append({"round": round_, **result.to_dict(), "cpu": shares})
        return points

    def _service_spec(self) -> ServerSpec:
        o = self.options
        env = {
            MODELS_DIR_ENV: str(o.models_dir),
            "RNN_SERVE_ORT_INTRA_OP_THREADS": "1",
            "RNN_SERVE_GRPC_PORT": "0",
        }
        return service_spec(o.models_dir, 2, env)

    def service(self) -> None:
        o = self.options
        entry: dict[str, Any] = {
            "label": "this service",
            "config": "2 uvicorn workers, its own batcher (max batch 32, no queue delay), "
            "1 onnxruntime intra-op thread per worker, JSON access log on (its default)",
            "versions": machine.describe(None)["packages"],
            "points": [],
            "answer_check": {},
        }
        self.results["service"] = entry
        spec = self._service_spec()
        first = payload("native-json", o.models[0])
        with bench_lock(o.lock) as waited:
            log(f"--- service (waited {waited:.0f} s for the lock)")
            with running(spec, first, self.logs) as server:
                for model in o.models:
                    for kind in SERVICE_BODIES:
                        entry["answer_check"][f"{model} {kind}"] = check.check_answers(
                            server.url, kind, model, partial(answer, kind, model), o.models_dir
                        )
                    # rounds alternate the two bodies, so a change of load hits both alike
                    bodies = {kind: payload(kind, model) for kind in SERVICE_BODIES}
                    for kind, body in bodies.items():
                        pids = partial(group_pids, server.process.pid)
                        points = self._rounds(server.url, body, o.warmup_s, pids)
                        entry["points"] += [{"model": model, "body": kind, **p} for p in points]

    def peer(self, peer: Peer) -> None:
        o = self.options
        entry: dict[str, Any] = {
            "label": peer.label,
            "body": peer.body,
            "config": peer.config,
            "layout": peer.layout,
            "requirements": list(peer.requirements),
            "points": [],
            "service_points": [],  # the service, same body, in the same locked stretch
            "answer_check": {},
            "left_behind": [],
            "status": "started",
        }
        self.results["peers"][peer.name] = entry
        started = time.monotonic()
        python = venvs.ensure(peer, o.cache)
        entry["venv"] = str(python.parent.parent)
        entry["venv_ready_s"] = round(time.monotonic() - started, 1)
        described = venvs.describe(python, peer)
        entry["versions"] = {"python": described["python"], **described["versions"]}
        env = {MODELS_DIR_ENV: str(o.models_dir)}
        if peer.needs_libpython:  # the venv's libpython before any other on the stub's path
            env["LD_LIBRARY_PATH"] = ":".join(
                p for p in (described["libdir"], os.environ.get("LD_LIBRARY_PATH", "")) if p
            )
        for model in o.models:
            with bench_lock(o.lock) as waited:
                log(f"--- {peer.name} {model} (waited {waited:.0f} s for the lock)")
                # The service first, with the peer's kind of body, then the peer: both
                # measured within the same couple of minutes, under the same lock.
                with running(self._service_spec(), payload(peer.body, model), self.logs) as svc:
                    points = self._rounds(
                        svc.url,
                        payload(peer.body, model),
                        o.warmup_s,
                        partial(group_pids, svc.process.pid),
                    )
                    entry["service_points"] += [
                        {"model": model, "body": peer.body, **p} for p in points
                    ]
                t0 = time.monotonic()
                with peer_server(peer, python, model, env, self.logs) as server:
                    entry.setdefault("startup_s", {})[model] = round(time.monotonic() - t0, 1)
                    entry["versions"].update(versions_in_log(peer, server.log))
                    entry["answer_check"][model] = check.check_answers(
                        server.url,
                        peer.body,
                        model,
                        partial(answer, peer.body, model),
                        o.models_dir,
                        peer.v2_text_shape,
                    )
                    body = payload(peer.body, model, peer.v2_text_shape)
                    tokened = partial(token_pids, server_token(server))
                    warmup_s = max(o.warmup_s, peer.warmup_s)
                    points = self._rounds(server.url, body, warmup_s, tokened)
                    entry["points"] += [{"model": model, "body": peer.body, **p} for p in points]
                entry["left_behind"] += server.left_behind
                if server.left_behind:
                    log(f"  killed processes {peer.name} left behind: {server.left_behind}")
        entry["status"] = "measured"

    def all(self) -> dict[str, Any]:
        started = time.monotonic()
        steps = [("service", self.service)]
        steps += [(name, partial(self.peer, PEERS[name])) for name in self.options.systems]
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # recorded, loudly; the other systems still run
                log(f"{name} FAILED: {type(exc).__name__}: {exc}")
                if name in self.results["peers"]:
                    self.results["peers"][name]["status"] = "failed"
                    self.results["peers"][name]["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
                self.results["failures"].append(
                    {"system": name, "error": f"{type(exc).__name__}: {exc}"[-3000:]}
                )
            write_json(self.results, self.options.out_dir / "peers.json")
        self.results["duration_s"] = round(time.monotonic() - started, 1)
        self.results["left_running_at_end"] = leftover_peer_processes(self.options.cache)
        self.results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return self.results


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the context managers: the servers are stopped


def main(options: PeerOptions, command: str) -> int:
    options.out_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with `&`
    results = PeerRun(options, command).all()
    write_json(results, options.out_dir / "peers.json")
    text = write_report(results, options.out_dir / "peers.md")
    if options.benchmarks_md is not None:
        update_benchmarks_md(options.benchmarks_md, text)
    print(text)
    log(f"wrote {options.out_dir}/peers.json and peers.md")
    return 1 if results["failures"] else 0


def report_only(out_dir: Path, benchmarks_md: Path | None) -> int:
    """peers.md and the BENCHMARKS.md section again, from the run's peers.json."""
    results = json.loads((out_dir / "peers.json").read_text(encoding="utf-8"))
    text = write_report(results, out_dir / "peers.md")
    if benchmarks_md is not None:
        update_benchmarks_md(benchmarks_md, text)
    print(text)
    return 0


def leftover_peer_processes(cache: Path | None = None) -> list[str]:
    """Processes running from a peer venv (a check after a run: there should be none)."""
    root = str(cache or venvs.cache_dir())
    done = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True)
    return [line.strip() for line in done.stdout.splitlines() if root in line]
