"""Start an HTTP server under test in its own process group, wait until it answers, stop it.

Every server is uvicorn with the same settings: the service through `python -m service`, the
baselines through `python -m uvicorn bench.apps.<app>:app` with the service's defaults
(httptools + uvloop from `uvicorn[standard]`, no access log, N workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.payloads import Payload

REPO = Path(__file__).resolve().parents[1]


class ServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerSpec:
    name: str  # "service", "ceiling", "textbook", "keras"
    command: list[str]  # without host/port
    env: Mapping[str, str]
    startup_timeout_s: float = 120.0


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


@contextlib.contextmanager
def running(
    spec: ServerSpec, ready: Payload, log_dir: Path, root: Path = REPO
) -> Iterator[RunningServer]:
    """The server, started from the code under `root` on a free 127.0.0.1 port, answering
    `ready` with 200."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{spec.name}-{port}.log"
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
        stop(process)


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


def _wait_ready(server: RunningServer, ready: Payload) -> None:
    deadline = time.monotonic() + server.spec.startup_timeout_s
    last = "no answer"
    with httpx.Client(timeout=30.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            try:
                answer = client.post(
                    server.url + ready.path,
                    content=ready.body,
                    headers={"content-type": "application/json"},
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}: {answer.text[:300]}"
            time.sleep(0.3)
    tail = server.log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise ServerError(f"{server.spec.name} did not become ready ({last}); log tail:\n{tail}")


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
