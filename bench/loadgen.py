"""Closed-loop HTTP load with `wrk` (Debian's package): a Lua script POSTs one fixed body and
prints throughput, errors and latency percentiles as one JSON line from `done()`.

wrk is C with one epoll loop per thread and a pre-built request, so it costs the server far
less CPU than a Python load generator would on the same 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.cpu import group_cpu_seconds
from bench.payloads import Payload
from loadtest.process import ensure_debian_command

MARKER = "BENCH_RESULT "

_LUA = """
wrk.method = "POST"
HEADERS
wrk.body = io.open(os.getenv("BENCH_BODY_FILE"), "rb"):read("*a")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d,"max":%d}}\\n',
    "MARKER", summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
""".replace("MARKER", MARKER)


class LoadGeneratorError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    connections: int
    seconds: float
    requests: int
    throughput: float  # completed requests per second (including non-2xx, see errors)
    errors: int  # connect + read + write + timeout + non-2xx status
    error_detail: dict[str, int]
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    # CPU time of the server's processes per request (from /proc), where the runner read it
    cpu_us_per_request: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def with_cpu(process_group: int, run: Callable[[], LoadResult]) -> LoadResult:
    """`run`'s result with the CPU time `process_group` spent per request meanwhile."""
    before = group_cpu_seconds(process_group)
    result = run()
    spent = group_cpu_seconds(process_group) - before
    cpu_us = round(1e6 * spent / result.requests, 1) if result.requests else None
    return replace(result, cpu_us_per_request=cpu_us)


def ensure_wrk() -> str:
    """Path of `wrk`; installs Debian's package when missing (as root), else fails clearly."""
    try:
        return ensure_debian_command("wrk", "wrk")
    except RuntimeError as exc:
        raise LoadGeneratorError(f"{exc} (or put a wrk 4.x binary on PATH)") from exc


def run_wrk(
    wrk: str,
    url: str,
    payload: Payload,
    connections: int,
    seconds: float,
    threads: int = 1,
    timeout_s: float = 30.0,
) -> LoadResult:
    """One closed-loop run: `connections` clients each send the next request on an answer."""
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_LUA.replace("HEADERS", _lua_headers(payload)), encoding="utf-8")
        body = Path(tmp) / "body.json"
        body.write_bytes(payload.body)
        command = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            "-s",
            str(script),
            url.rstrip("/") + payload.path,
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={"BENCH_BODY_FILE": str(body), "PATH": "/usr/bin:/bin"},
            timeout=seconds + timeout_s + 30,
            check=False,
        )
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return _parse(json.loads(line[len(MARKER) :]), connections)
    raise LoadGeneratorError(
        f"wrk gave no result (exit {done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}"
    )


def _lua_headers(payload: Payload) -> str:
    headers = [("Content-Type", payload.content_type), *payload.headers]
    return "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers)


def _parse(raw: dict[str, Any], connections: int) -> LoadResult:
    errors = {str(k): int(v) for k, v in raw["errors"].items()}
    latency = {str(k): float(v) for k, v in raw["latency_us"].items()}
    seconds = int(raw["duration_us"]) / 1e6
    requests = int(raw["requests"])
    return LoadResult(
        connections=connections,
        seconds=round(seconds, 3),
        requests=requests,
        throughput=round(requests / seconds, 1) if seconds else 0.0,
        errors=sum(errors.values()),
        error_detail=errors,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p95_ms=latency["p95"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        mean_ms=round(latency["mean"] / 1000, 3),
    )
