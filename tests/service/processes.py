"""Start and stop `python -m service` as a real process, on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_without_settings() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_SERVE_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def start_service(models_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start `python -m service`; return (process, base url, seconds from spawn to ready)."""
    port = free_port()
    started = time.perf_counter()
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
        env=env_without_settings(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = started + 30
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"service exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    process.kill()
    raise AssertionError("service not ready within 30 s")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
