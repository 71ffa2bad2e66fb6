"""Start and stop `python -m service` of this checkout as a real process, on free ports.

Its output goes to files (a pipe nobody reads would fill and stall it under load): stdout
(the access lines) and stderr (everything else) in `logs`, or in a fresh temporary folder.
The gRPC face is off unless asked for, so that no test takes the fixed default port.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_debian_command(command: str, package: str) -> str:
    """Path of `command`; installs Debian's `package` when it is missing (as root, with
    apt-get), else fails clearly: a suite that needs it must not pass by skipping."""
    found = shutil.which(command)
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        if subprocess.run(install, capture_output=True, env=env, timeout=600).returncode != 0:
            # A stale package list: refresh it once and try again.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
            subprocess.run(install, capture_output=True, env=env, timeout=600)
        found = shutil.which(command)
        if found:
            return found
    raise RuntimeError(
        f"{command} is not installed and could not be installed: apt-get install -y {package}"
    )


def env_without_settings() -> dict[str, str]:
    """This environment without RNN_SERVE_* settings, this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_SERVE_")}
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    grpc_port: int  # 0: the gRPC face is off
    stdout: Path
    stderr: Path
    ready_s: float = 0.0  # from spawning the process to its first 200 on /readyz

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def access_lines(self) -> int:
        return self.stdout.read_text(errors="replace").count('"logger":"service.access"')


def start_service(
    models_dir: Path,
    *flags: str,
    logs: Path | None = None,
    grpc: bool = False,
    nofile: int | None = None,
    ready_within_s: float = 60.0,
) -> Service:
    """Start the service and wait for /readyz; `nofile` sets its descriptor limit. The
    caller stops it (`stop_service`), also when it fails first: prefer `running_service`."""
    logs = logs or Path(tempfile.mkdtemp(prefix="rnn-service-"))
    logs.mkdir(parents=True, exist_ok=True)
    port, grpc_port = free_port(), free_port() if grpc else 0

    def limit_descriptors() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    command = [sys.executable, "-m", "service", "--port", str(port)]
    command += ["--grpc-port", str(grpc_port), "--models-dir", str(models_dir), *flags]
    stdout, stderr = logs / "stdout", logs / "stderr"
    started = time.monotonic()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env_without_settings(),
            stdout=out,
            stderr=err,
            preexec_fn=limit_descriptors if nofile is not None else None,
        )
    service = Service(process, port, grpc_port, stdout, stderr)
    try:
        wait_ready(service, ready_within_s)
    except BaseException:
        stop_service(process)
        raise
    service.ready_s = time.monotonic() - started
    return service


def wait_ready(service: Service, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(
                f"service exited with {service.process.returncode}:\n{service.output()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.02)
    raise AssertionError(f"service not ready within {within_s:g} s:\n{service.output()}")


def stop_service(process: subprocess.Popen[bytes], within_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `within_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_service(
    models_dir: Path,
    *flags: str,
    logs: Path | None = None,
    grpc: bool = False,
    nofile: int | None = None,
    ready_within_s: float = 60.0,
) -> Iterator[Service]:
    """`start_service` for the length of a block."""
    service = start_service(
        models_dir, *flags, logs=logs, grpc=grpc, nofile=nofile, ready_within_s=ready_within_s
    )
    try:
        yield service
    finally:
        stop_service(service.process)
