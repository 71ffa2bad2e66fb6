"""Start an HTTP server under test in its own process group, wait until it answers, stop it.

The service and the baselines are uvicorn with the same settings: the service through
`python -m service`, the baselines through `python -m uvicorn bench.apps.<app>:app` with the
service's defaults (httptools + uvloop from `uvicorn[standard]`, no access log, N workers).
The peer systems (`bench.peers`) are started here too, with a stop of their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.payloads import Payload

REPO = Path(__file__).resolve().parents[1]


class ServerError(RuntimeError):
    pass


# Stops a server's process; returns the processes it had to kill outside the process group.
Stop = Callable[[subprocess.Popen[bytes]], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    name: str  # "service", "ceiling", "textbook", "keras", or a peer's
    command: list[str]  # without host/port
    env: Mapping[str, str]
    startup_timeout_s: float = 120.0
    log_name: str = ""  # the log file's name; empty: "<name>-<port>.log"
    stop: Stop | None = None  # None: `stop_group`


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_spec(models_dir: Path, workers: int, env: Mapping[str, str]) -> ServerSpec:
    command = [sys.executable, "-m", "service", "--models-dir", str(models_dir)]
    command += ["--workers", str(workers)]
    return ServerSpec("service", command, dict(env))


def app_spec(name: str, module: str, workers: int, env: Mapping[str, str]) -> ServerSpec:
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--workers", str(workers)]
    # The service's own uvicorn settings (service/__main__.py): uvloop, httptools, no access log.
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    timeout = 300.0 if name == "keras" else 120.0
    return ServerSpec(name, command, dict(env), startup_timeout_s=timeout)


@dataclass
class RunningServer:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    left_behind: list[str] = field(default_factory=list)  # what its stop had to kill


@contextlib.contextmanager
def running(
    spec: ServerSpec, ready: Payload, log_dir: Path, root: Path = REPO
) -> Iterator[RunningServer]:
    """The server, started from the code under `root` on a free 127.0.0.1 port, answering
    `ready` with 200; stopped by `spec.stop` at the end of the block."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / (spec.log_name or f"{spec.name}-{port}.log")
    env = {**os.environ, **spec.env, "PYTHONPATH": str(root)}
    command = [*spec.command, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(spec, process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server, ready)
        yield server
    finally:
        server.left_behind = (spec.stop or stop_group)(process)


def stop(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM the server's process group (it was started as its leader), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    with contextlib.suppress(ProcessLookupError):  # workers left behind by the parent
        os.killpg(process.pid, signal.SIGKILL)


def stop_group(process: subprocess.Popen[bytes]) -> list[str]:
    """`stop`, for servers that keep all their processes in their group: none to report."""
    stop(process)
    return []


def log_tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:]


def _wait_ready(server: RunningServer, ready: Payload) -> None:
    failure = _poll_ready(server, ready)
    if failure is not None:
        raise ServerError(
            f"{server.spec.name} did not become ready ({failure}); log tail:\n"
            + log_tail(server.log)
        )


def _poll_ready(server: RunningServer, ready: Payload) -> str | None:
    """None once the server answers `ready` with 200; else why it did not in time."""
    timeout_s = server.spec.startup_timeout_s
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(timeout=30.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return f"exited with {server.process.returncode} before answering"
            last = _ask(client, server.url, ready)
            if not last:
                return None
            time.sleep(0.3)
    return f"in {timeout_s:.0f} s; last: {last}"


def _ask(client: httpx.Client, url: str, ready: Payload) -> str:
    """One readiness request: "" if it was answered with 200, else what came instead."""
    headers = {"content-type": ready.content_type, **dict(ready.headers)}
    try:
        answer = client.post(url + ready.path, content=ready.body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.status_code == 200:
        return ""
    return f"HTTP {answer.status_code}: {answer.text[:300]}"


def fetch(
    url: str,
    path: str,
    body: bytes | None = None,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request (GET, or POST of a body: JSON unless `headers` say otherwise)."""
    with httpx.Client(timeout=timeout_s) as client:
        if body is None:
            return client.get(url + path)
        sent = {"content-type": "application/json", **(headers or {})}
        return client.post(url + path, content=body, headers=sent)
