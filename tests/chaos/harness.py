"""A service process for chaos tests, steady load against it, and what the load saw.

The service's output goes to a file (a pipe nobody reads would fill and stall it under load).
Load is a few threads, each with its own keep-alive connection, posting forecasts in a loop;
every request is recorded with its status (or the transport error), latency and the worker
that answered (its pid is the hex prefix of the X-Request-ID the service makes).
"""

from __future__ import annotations

import collections
import contextlib
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.service.processes import REPO, env_without_settings, free_port

FORECAST = {"series": [[50.0, 51.0, 52.0, 53.0, 54.0]]}
# The latency every client should see under an attack, at the load these tests offer on a
# 2-core machine shared with the load threads (the soak's p99 at 70% of capacity is ~270 ms).
CLIENT_P99_BUDGET_S = 0.5


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def access_lines(self) -> int:
        return self.output().count('"logger":"service.access"')


@contextlib.contextmanager
def running_service(
    models_dir: Path,
    log: Path,
    *extra: str,
    nofile: int | None = None,
    ready_within_s: float = 60.0,
) -> Iterator[Service]:
    port = free_port()

    def limit_descriptors() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = env_without_settings()
    env["RNN_SERVE_GRPC_PORT"] = "0"  # HTTP only: the limits here are those of the HTTP face
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "--port",
                str(port),
                "--models-dir",
                str(models_dir),
                *extra,
            ],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_descriptors,
        )
    service = Service(process, f"http://127.0.0.1:{port}", port, log)
    try:
        wait_ready(service, ready_within_s)
        yield service
    finally:
        stop(process)


def wait_ready(service: Service, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(
                f"service exited {service.process.returncode}:\n{service.output()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"not ready within {within_s} s:\n{service.output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_pid(request_id: str) -> int:
    """service.edge's ids are `<pid hex><6 random hex>-<counter hex>`."""
    return int(request_id.split("-", 1)[0][:-6], 16)


@dataclass(frozen=True)
class Outcome:
    started: float  # monotonic
    seconds: float
    status: int | str  # HTTP status, or the transport error's class name
    pid: int | None
    version: str | None


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def between(self, start: float, end: float) -> LoadResult:
        return LoadResult([o for o in self.outcomes if start <= o.started < end])

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def by_status(self) -> dict[str, int]:
        return dict(collections.Counter(str(o.status) for o in self.outcomes))

    @property
    def answered(self) -> int:
        return sum(1 for o in self.outcomes if isinstance(o.status, int))

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status != 200)

    def percentile(self, fraction: float) -> float:
        times = sorted(o.seconds for o in self.outcomes if o.status == 200)
        if not times:
            return float("inf")
        return times[min(len(times) - 1, int(fraction * len(times)))]

    def summary(self, name: str) -> str:
        return (
            f"{name}: sent {self.sent}, answered {self.answered}, failed {self.failed} "
            f"({100 * self.failed / max(1, self.sent):.2f}%), by status {self.by_status}, "
            f"p50 {1000 * self.percentile(0.5):.1f} ms, p99 {1000 * self.percentile(0.99):.1f} ms"
        )


class Load:
    """`threads` clients sending `request` back to back until stopped."""

    def __init__(
        self,
        url: str,
        threads: int = 4,
        request: Callable[[httpx.Client], httpx.Response] | None = None,
    ) -> None:
        self.url = url
        self.request = request or (lambda client: client.post("/forecast", json=FORECAST))
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        client = httpx.Client(base_url=self.url, timeout=10)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = self.request(client)
            except httpx.TransportError as exc:
                outcome = Outcome(
                    started, time.monotonic() - started, type(exc).__name__, None, None
                )
                client.close()
                client = httpx.Client(base_url=self.url, timeout=10)
            else:
                request_id = response.headers.get("x-request-id", "")
                version = None
                if response.status_code == 200 and response.headers.get(
                    "content-type", ""
                ).startswith("application/json"):
                    version = response.json().get("version")
                outcome = Outcome(
                    started,
                    time.monotonic() - started,
                    response.status_code,
                    worker_pid(request_id) if request_id else None,
                    version,
                )
            with self._lock:
                self.result.outcomes.append(outcome)
        client.close()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (exposition text)."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        sample, value = line.rsplit(" ", 1)
        if all(label in sample for label in wanted):
            total += float(value)
    return total
